"""The search interface every back end implements, and the values that cross it.

Semantics every back end must keep (tests/catalogue/test_search_contract.py checks them):
* text is analysed by `catalogue.search.analyzer` (query form); an entry matches when every query token
  occurs in its searchable text (AND); a non-empty text with no tokens (only stop words or punctuation)
  matches nothing; no text browses everything, ordered by code;
* filters: OR within a facet, AND across facets;
* only entries the viewer may see (`catalogue.visibility.Viewer`) are matched, counted in `total` and in
  facet counts;
* facets are counted over all matches, each value once per entry, ordered by count then value;
* highlights mark the matched parts of `name` and `abstract` with <em>…</em> in HTML-escaped text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from catalogue.visibility import Viewer

FACETS: tuple[str, ...] = ("department", "share_type", "open_type", "format", "update_cycle", "class")
HIGHLIGHT_FIELDS: tuple[str, ...] = ("name", "abstract")
ABSTRACT_FRAGMENT = 120
MAX_PAGE_SIZE = 100
MAX_RESULT_WINDOW = 10_000  # deepest hit a page may reach (Elasticsearch's default index.max_result_window)


@dataclass(frozen=True)
class SearchQuery:
    text: str | None = None
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    page: int = 1
    size: int = 20

    def __post_init__(self) -> None:
        unknown = set(self.filters) - set(FACETS)
        if unknown:
            raise ValueError(f"unknown facet filter(s): {', '.join(sorted(unknown))}")
        if self.page < 1 or not 1 <= self.size <= MAX_PAGE_SIZE:
            raise ValueError("page must be >= 1 and size between 1 and 100")
        if self.page * self.size > MAX_RESULT_WINDOW:
            raise ValueError(f"page × size may not exceed {MAX_RESULT_WINDOW}; narrow the search instead")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


@dataclass
class SearchHit:
    entry_id: int
    code: str
    name: str
    abstract: str
    department: str
    status: str
    share_type: str
    open_type: str
    update_cycle: str
    score: float | None
    highlights: dict[str, str] = field(default_factory=dict)
    department_name: str | None = None


@dataclass
class FacetValue:
    value: str
    count: int
    label: str | None = None


@dataclass
class SearchPage:
    total: int
    page: int
    size: int
    hits: list[SearchHit]
    facets: dict[str, list[FacetValue]]
    backend: str


def sorted_facets(counts: Mapping[str, Mapping[str, int]]) -> dict[str, list[FacetValue]]:
    return {
        facet: [FacetValue(v, c) for v, c in sorted(counts.get(facet, {}).items(), key=lambda vc: (-vc[1], vc[0]))
                if c > 0]
        for facet in FACETS
    }


class SearchBackend(Protocol):
    """A search back end. Writes use the batch (sync) session, reads the request's async session."""

    name: str

    async def search(self, session: AsyncSession, query: SearchQuery, viewer: Viewer) -> SearchPage:
        """One page of the entries `viewer` may see that match `query`, with facets and highlights."""
        ...

    def index_entries(self, session: Session, entry_ids: Sequence[int]) -> None:
        """Bring these entries' index documents up to date (removing those of entries that are gone)."""
        ...

    def reindex(self, session: Session) -> int:
        """Rebuild the whole index from the catalogue; returns the number of entries indexed."""
        ...
