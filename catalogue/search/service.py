"""Searching the catalogue: the configured back end, plus display labels both back ends share."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalogue.domains import BASIC_ITEMS, CATEGORY_LABELS, Category
from catalogue.models import Department
from catalogue.search.base import SearchBackend, SearchPage, SearchQuery
from catalogue.search.indexer import backend_for
from catalogue.visibility import Viewer


def class_label(class_facet: str) -> str:
    """"101" → "基础信息资源/人口"; 项 of other classes are the provider's own and shown as numbers."""
    category, item = class_facet[:1], class_facet[1:]
    label = CATEGORY_LABELS.get(category, category)
    if category == Category.basic and item in BASIC_ITEMS:
        return f"{label}/{BASIC_ITEMS[item]}"
    return f"{label}/{item}"


async def search_catalogue(session: AsyncSession, viewer: Viewer, query: SearchQuery,
                           backend: SearchBackend | None = None) -> SearchPage:
    page = await (backend or backend_for()).search(session, query, viewer)
    codes = {f.value for f in page.facets.get("department", [])} | {h.department for h in page.hits}
    names: dict[str, str] = {}
    if codes:
        rows = await session.execute(select(Department.code, Department.name).where(Department.code.in_(codes)))
        names = {code: name for code, name in rows.all()}
    for facet in page.facets.get("department", []):
        facet.label = names.get(facet.value)
    for facet in page.facets.get("class", []):
        facet.label = class_label(facet.value)
    for hit in page.hits:
        hit.department_name = names.get(hit.department)
    return page
