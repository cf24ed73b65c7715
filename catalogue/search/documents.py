"""What gets indexed for an entry: the same searchable text and facet values for every back end."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.domains import formats_mask
from catalogue.models import CatalogueEntry, Department


@dataclass(frozen=True)
class SearchDocument:
    entry_id: int
    code: str
    name: str
    abstract: str
    text: str
    department_code: str
    department_name: str
    share_type: str
    open_type: str
    update_cycle: str
    class_facet: str
    formats: tuple[str, ...]
    status: str

    @property
    def formats_mask(self) -> int:
        return formats_mask(list(self.formats))

    def es_source(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id, "code": self.code, "name": self.name, "abstract": self.abstract,
            "text": self.text, "department_code": self.department_code, "department_name": self.department_name,
            "share_type": self.share_type, "open_type": self.open_type, "update_cycle": self.update_cycle,
            "class": self.class_facet, "formats": list(self.formats), "status": self.status,
        }


def searchable_text(entry: CatalogueEntry, department_name: str) -> str:
    # Newlines separate fields so no CJK bigram spans two of them (both analyzers break runs at a gap).
    parts = [entry.name, entry.abstract, " ".join(entry.keywords or []),
             " ".join(str(i.get("name", "")) for i in entry.items or []), department_name, entry.code]
    return "\n".join(p for p in parts if p)


def document_of(entry: CatalogueEntry, department_name: str) -> SearchDocument:
    categories = tuple(dict.fromkeys(str(f["category"]) for f in entry.formats or []))
    return SearchDocument(
        entry_id=entry.id, code=entry.code, name=entry.name, abstract=entry.abstract,
        text=searchable_text(entry, department_name), department_code=entry.department_code,
        department_name=department_name, share_type=entry.share_type, open_type=entry.open_type,
        update_cycle=entry.update_cycle, class_facet=entry.category + entry.item, formats=categories,
        status=entry.status,
    )


def iter_documents(session: Session, entry_ids: Sequence[int] | None = None,
                   batch_size: int = 1000) -> Iterator[list[SearchDocument]]:
    """Documents in batches, for all entries or the given ones."""
    if entry_ids is not None:
        ids = list(entry_ids)
        for i in range(0, len(ids), batch_size):
            rows = session.execute(
                select(CatalogueEntry, Department.name).join(Department)
                .where(CatalogueEntry.id.in_(ids[i : i + batch_size]))
            ).all()
            yield [document_of(e, name) for e, name in rows]
        return
    last = 0
    while True:
        rows = session.execute(
            select(CatalogueEntry, Department.name).join(Department)
            .where(CatalogueEntry.id > last).order_by(CatalogueEntry.id).limit(batch_size)
        ).all()
        if not rows:
            return
        yield [document_of(e, name) for e, name in rows]
        last = rows[-1][0].id
        session.expunge_all()  # a rebuild of 10,000s of entries must not keep them all in the identity map
