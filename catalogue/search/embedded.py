"""Embedded search back end: the catalogue's own database, no extra service.

Documents live in `catalogue_search_docs` (tokens from the shared analyzer, space-separated, plus facet values).
On SQLite an external-content FTS5 table (`catalogue_fts`, tokenizer unicode61 keeping the analyzer's in-token
punctuation) is kept in step by triggers; on PostgreSQL a stored generated column
`tsv = array_to_tsvector(string_to_array(tokens, ' '))` with a GIN index takes the tokens as lexemes unchanged.
Either way the database only matches whole tokens the Python analyzer produced, so both dialects (and
Elasticsearch, which analyses the same way) agree on what matches. Migration 0004 creates both structures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    FromClause,
    Integer,
    String,
    Table,
    bindparam,
    case,
    cast,
    column,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    table,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from catalogue.domains import FORMAT_BITS, formats_of_mask
from catalogue.models import CatalogueEntry, CatalogueSearchDoc
from catalogue.search.analyzer import highlight, index_tokens, query_terms
from catalogue.search.base import ABSTRACT_FRAGMENT, SearchHit, SearchPage, SearchQuery, sorted_facets
from catalogue.search.documents import SearchDocument, iter_documents
from catalogue.visibility import Scope, Viewer

DOCS: Table = CatalogueSearchDoc.__table__  # type: ignore[assignment]
ENTRIES: Table = CatalogueEntry.__table__  # type: ignore[assignment]
FTS = table("catalogue_fts", column("rowid"), column("rank"))
TSV: ColumnElement[Any] = literal_column("catalogue_search_docs.tsv")
NAME_TSV: ColumnElement[Any] = literal_column("catalogue_search_docs.name_tsv")

_FACET_COLUMNS = {
    "department": DOCS.c.department_code, "share_type": DOCS.c.share_type, "open_type": DOCS.c.open_type,
    "update_cycle": DOCS.c.update_cycle, "class": DOCS.c.class_facet,
}


def fts5_match(terms: Sequence[str]) -> str:
    """An FTS5 query requiring every term, each quoted so no user text is read as FTS5 syntax."""
    return " ".join('"' + t.replace('"', '""') + '"' for t in terms)


def tsquery_text(terms: Sequence[str]) -> str:
    """A tsquery literal requiring every term, quoted so PostgreSQL takes each as one lexeme."""
    return " & ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in terms)


def _row(doc: SearchDocument) -> dict[str, Any]:
    return {
        "entry_id": doc.entry_id, "code": doc.code, "tokens": index_tokens(doc.text),
        "name_tokens": index_tokens(doc.name),
        "department_code": doc.department_code, "share_type": doc.share_type, "open_type": doc.open_type,
        "update_cycle": doc.update_cycle, "class_facet": doc.class_facet, "formats_mask": doc.formats_mask,
        "status": doc.status,
    }


class EmbeddedBackend:
    name = "embedded"

    def index_entries(self, session: Session, entry_ids: Sequence[int]) -> None:
        ids = list(dict.fromkeys(entry_ids))
        if not ids:
            return
        session.execute(delete(DOCS).where(DOCS.c.entry_id.in_(ids)))
        rows = [_row(doc) for batch in iter_documents(session, ids) for doc in batch]
        if rows:
            session.execute(insert(DOCS), rows)

    def reindex(self, session: Session) -> int:
        session.execute(delete(DOCS))
        count = 0
        for batch in iter_documents(session):
            session.execute(insert(DOCS), [_row(doc) for doc in batch])
            count += len(batch)
        if session.get_bind().dialect.name == "sqlite":
            # Merge the many small b-tree segments a bulk load leaves, so the first searches are fast.
            session.execute(text("INSERT INTO catalogue_fts(catalogue_fts) VALUES ('optimize')"))
        else:
            # Fresh statistics now rather than when autovacuum gets round to it: the planner's choice between
            # the GIN index and a scan depends on them.
            session.execute(text("ANALYZE catalogue_search_docs"))
        return count

    async def search(self, session: AsyncSession, query: SearchQuery, viewer: Viewer) -> SearchPage:
        terms = query_terms(query.text) if query.text else []
        if (query.text and query.text.strip() and not terms) or viewer.scope is Scope.none:
            return SearchPage(0, query.page, query.size, [], sorted_facets({}), self.name)
        dialect = session.get_bind().dialect.name
        filters = {k: v for k, v in query.filters.items() if v}
        shape = Shape(dialect, bool(terms), viewer.scope, viewer.department is not None, tuple(sorted(filters)))
        params: dict[str, Any] = {"limit": query.size, "offset": query.offset}
        if terms and dialect == "sqlite":
            params["match"] = fts5_match(terms)
            params["name_match"] = f"name_tokens : ({fts5_match(terms)})"
        elif terms:
            params["match"] = tsquery_text(terms)
        if viewer.department is not None:
            params["own_department"] = viewer.department
        for facet, values in filters.items():
            if facet == "format":
                params["format_mask"] = sum(FORMAT_BITS.get(v, 0) for v in set(values))
            else:
                params[f"f_{facet}"] = list(values)
        counts: dict[str, dict[str, int]] = defaultdict(dict)
        page_ids: list[int] = []
        scores: dict[int, float | None] = {}
        for row in (await session.execute(_statement(shape), params)).all():
            kind, first, n, score = str(row[0]), str(row[1]), int(row[4]), row[5]
            if kind == "hit":
                page_ids.append(int(first))
                scores[int(first)] = None if score is None else -float(score)
            elif kind == "types":  # department, share type, open type
                for facet, value in (("department", first), ("share_type", row[2]), ("open_type", row[3])):
                    counts[facet][value] = counts[facet].get(value, 0) + n
            elif kind == "cycle_class":
                for facet, value in (("update_cycle", first), ("class", row[2])):
                    counts[facet][value] = counts[facet].get(value, 0) + n
            else:
                for fmt in formats_of_mask(int(first)):
                    counts["format"][fmt] = counts["format"].get(fmt, 0) + n
        hits = await self._hits(session, page_ids, scores, terms)
        total = sum(counts["department"].values())  # every entry has exactly one department
        return SearchPage(total, query.page, query.size, hits, sorted_facets(counts), self.name)

    async def _hits(self, session: AsyncSession, page_ids: list[int], scores: dict[int, float | None],
                    terms: list[str]) -> list[SearchHit]:
        if not page_ids:
            return []
        rows = {row.id: row for row in (await session.execute(_PAGE_ENTRIES, {"ids": page_ids})).all()}
        hits = []
        for entry_id in page_ids:
            row = rows[entry_id]
            hit = SearchHit(entry_id=row.id, code=row.code, name=row.name, abstract=row.abstract,
                            department=row.department_code, status=row.status, share_type=row.share_type,
                            open_type=row.open_type, update_cycle=row.update_cycle, score=scores[entry_id])
            if terms:
                for field, fragment in (("name", None), ("abstract", ABSTRACT_FRAGMENT)):
                    marked = highlight(getattr(row, field), terms, fragment_size=fragment)
                    if marked:
                        hit.highlights[field] = marked
            hits.append(hit)
        return hits


_PAGE_ENTRIES = select(ENTRIES.c.id, ENTRIES.c.code, ENTRIES.c.name, ENTRIES.c.abstract, ENTRIES.c.department_code,
                       ENTRIES.c.status, ENTRIES.c.share_type, ENTRIES.c.open_type, ENTRIES.c.update_cycle
                       ).where(ENTRIES.c.id.in_(bindparam("ids", expanding=True)))


@dataclass(frozen=True)
class Shape:
    """What decides a search statement's structure; values travel as bind parameters."""

    dialect: str
    text: bool
    scope: Scope
    own_department: bool
    filters: tuple[str, ...]


@lru_cache(maxsize=256)
def _statement(shape: Shape) -> Any:
    """One statement, one pass over the matches: facet counts and the requested page's entry ids.

    Rows are (kind, v1, v2, v3, count, score). Facets come in three groupings (department × share type ×
    open type, update cycle × class, formats mask), which costs half the sorting of one grouping per facet;
    the page's rows have kind "hit" and the entry id as v1. On SQLite the FTS5 match is materialised first,
    so the planner drives the join from the full-text index instead of probing FTS5 per candidate row.
    Built once per shape and cached: constructing it costs more than running it for a selective query.
    """
    source: FromClause = DOCS
    viewer = Viewer(shape.scope, "?" if shape.own_department else None)
    conditions: list[ColumnElement[bool]] = [viewer.clause(
        DOCS.c.status, DOCS.c.share_type, DOCS.c.open_type, DOCS.c.department_code,
        own_department=bindparam("own_department") if shape.own_department else None)]
    score: ColumnElement[Any] = cast(literal(None), Float)
    # Relevance on both dialects: entries whose name matches every term first (0), then the rest (1), each
    # by code. (ts_rank and bm25 would add little: stored tokens are distinct, without positions or counts.)
    if shape.text and shape.dialect == "sqlite":
        fts_match = literal_column("catalogue_fts").op("MATCH")
        matched = (select(FTS.c.rowid.label("id")).where(fts_match(bindparam("match", type_=String)))
                   .cte("h").prefix_with("MATERIALIZED"))
        source = matched.join(DOCS, DOCS.c.entry_id == matched.c.id)
        in_name = select(FTS.c.rowid).where(fts_match(bindparam("name_match", type_=String))).scalar_subquery()
        score = case((DOCS.c.entry_id.in_(in_name), 0.0), else_=1.0)
    elif shape.text:
        tsq = cast(bindparam("match", type_=String), TSQUERY)
        conditions.append(TSV.op("@@")(tsq))
        score = case((NAME_TSV.op("@@")(tsq), 0.0), else_=1.0)
    for facet in shape.filters:
        if facet == "format":
            conditions.append(DOCS.c.formats_mask.op("&")(bindparam("format_mask", type_=Integer)) != 0)
        else:
            conditions.append(_FACET_COLUMNS[facet].in_(bindparam(f"f_{facet}", expanding=True)))
    m = (select(DOCS.c.entry_id, DOCS.c.code, *_FACET_COLUMNS.values(), DOCS.c.formats_mask,
                score.label("score"))
         .select_from(source).where(*conditions).cte("m"))
    if shape.dialect == "sqlite" and not shape.text:
        # Browsing: each grouping reads the covering index directly (cheaper than copying every visible
        # row into a temporary table first), and the page walks the code index and stops after one page.
        m = m.prefix_with("NOT MATERIALIZED")
    none_text, none_score = cast(literal(None), String), cast(literal(None), Float)
    groupings = [
        select(literal("types"), m.c.department_code, m.c.share_type, m.c.open_type, func.count(), none_score)
        .group_by(m.c.department_code, m.c.share_type, m.c.open_type),
        select(literal("cycle_class"), m.c.update_cycle, m.c.class_facet, none_text, func.count(), none_score)
        .group_by(m.c.update_cycle, m.c.class_facet),
        select(literal("formats"), cast(m.c.formats_mask, String), none_text, none_text, func.count(), none_score)
        .group_by(m.c.formats_mask),
    ]
    page = (select(m.c.entry_id, m.c.score).order_by(m.c.score if shape.text else m.c.code, m.c.code)
            .limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer)).subquery("page"))
    hits = select(literal("hit"), cast(page.c.entry_id, String), none_text, none_text, literal(0), page.c.score)
    return union_all(*groupings, hits)
