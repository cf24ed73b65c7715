"""GraphQL for the resource catalogue: search, entries, versions, departments; registration and lifecycle.

Metadata comes in as one JSON document validated by the same pydantic schema as REST, so both APIs refuse
the same bad metadata and name the same fields (in the error's `extensions.errors`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any, NewType, TypeVar

import strawberry
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.scalars import JSON

from catalogue import departments as registry
from catalogue import service
from catalogue.auditing import record_change
from catalogue.records import entry_out, validation_problem
from catalogue.schemas import EntryCreate, EntryOut, EntryPatch
from catalogue.search.base import SearchQuery
from catalogue.search.service import search_catalogue
from catalogue.visibility import Viewer
from cpip.db import async_transaction
from cpip.errors import ProblemError
from gateway.graphql.context import Context
from gateway.graphql.loaders.department_names import KEY as DEPARTMENT_NAMES
from gateway.graphql.loaders.department_names import department_names_loader
from gateway.graphql.permissions import needs
from gateway.graphql.problems import graphql_error
from security.permissions import Permission

T = TypeVar("T")
BigInt = strawberry.scalar(NewType("BigInt", int), serialize=int, parse_value=int,
                           description="An integer that may exceed 32 bits (byte and record counts)")

READ = [needs(Permission.catalogue_read)]
WRITE = [needs(Permission.catalogue_write)]
REVIEW = [needs(Permission.admin)]


@asynccontextmanager
async def _transaction(info: strawberry.Info[Context, None]) -> AsyncIterator[AsyncSession]:
    """One transaction per resolver; catalogue problems become GraphQL errors carrying the problem type."""
    try:
        async with async_transaction(info.context.sessionmaker) as session:
            yield session
    except ProblemError as problem:
        raise graphql_error(problem) from problem


async def _run(info: strawberry.Info[Context, None], fn: Callable[..., T], *args: Any) -> T:
    async with _transaction(info) as session:
        return await session.run_sync(fn, *args)


@strawberry.type
class InfoItemType:
    name: str
    key: str | None
    data_type: str
    length: int | None
    sensitivity: int


@strawberry.type
class FormatType:
    category: str
    detail: str | None


@strawberry.type
class CensusType:
    storage_bytes: BigInt  # type: ignore[valid-type]
    record_count: BigInt  # type: ignore[valid-type]
    shared_bytes: BigInt  # type: ignore[valid-type]
    shared_records: BigInt  # type: ignore[valid-type]
    open_bytes: BigInt  # type: ignore[valid-type]
    open_records: BigInt  # type: ignore[valid-type]


@strawberry.type(description="A catalogue entry (政务信息资源) with its core metadata")
class CatalogueEntryType:
    code: str
    name: str
    abstract: str
    classification: str
    department: str
    status: str
    version: int
    share_type: str
    share_conditions: str | None
    no_share_basis: str | None
    open_type: str
    open_conditions: str | None
    update_cycle: str
    published_on: date | None
    updated_at: datetime
    formats: list[FormatType]
    items: list[InfoItemType]
    related_codes: list[str]
    keywords: list[str]
    census: CensusType
    quality_score: float | None = strawberry.field(description=(
        "质量评分, 0–100, from the resource's latest whole-table quality run; null until scored"))
    quality_scored_at: datetime | None = strawberry.field(description="When that run computed the score")
    metadata: JSON = strawberry.field(description="The full metadata document, as REST returns it")

    @strawberry.field(description="信息资源提供方")
    async def department_name(self, info: strawberry.Info[Context, None]) -> str | None:
        loader = info.context.loaders.get(DEPARTMENT_NAMES)
        if loader is None:
            loader = info.context.loaders[DEPARTMENT_NAMES] = department_names_loader(info.context.sessionmaker)
        name: str | None = await loader.load(self.department)
        return name


def _entry(out: EntryOut) -> CatalogueEntryType:
    c = out.census
    return CatalogueEntryType(
        code=out.code, name=out.name, abstract=out.abstract, classification=out.classification.code,
        department=out.department, status=out.status.value, version=out.version, share_type=out.share_type.value,
        share_conditions=out.share_conditions, no_share_basis=out.no_share_basis, open_type=out.open_type.value,
        open_conditions=out.open_conditions, update_cycle=out.update_cycle.value, published_on=out.published_on,
        updated_at=out.updated_at,
        formats=[FormatType(category=f.category.value, detail=f.detail) for f in out.formats],
        items=[InfoItemType(name=i.name, key=i.key, data_type=i.data_type.value, length=i.length,
                            sensitivity=i.sensitivity) for i in out.items],
        related_codes=list(out.related_codes), keywords=list(out.keywords),
        census=CensusType(storage_bytes=c.storage_bytes, record_count=c.record_count,
                          shared_bytes=c.shared_bytes, shared_records=c.shared_records,
                          open_bytes=c.open_bytes, open_records=c.open_records),
        quality_score=out.quality_score, quality_scored_at=out.quality_scored_at,
        metadata=JSON(out.model_dump(mode="json")),
    )


@strawberry.type
class VersionType:
    version: int
    action: str
    actor: str
    actor_department: str | None
    at: datetime
    changes: JSON
    note: str | None


@strawberry.type
class DepartmentType:
    code: str
    name: str
    parent: str | None
    region: str


@strawberry.type
class FacetValueType:
    value: str
    count: int
    label: str | None


@strawberry.type
class FacetType:
    name: str
    values: list[FacetValueType]


@strawberry.type
class SearchHitType:
    code: str
    name: str
    abstract: str
    department: str
    department_name: str | None
    status: str
    share_type: str
    open_type: str
    update_cycle: str
    score: float | None
    highlights: JSON


@strawberry.type
class CatalogueSearchResult:
    total: int
    page: int
    size: int
    backend: str
    hits: list[SearchHitType]
    facets: list[FacetType]


@strawberry.input
class CatalogueSearchFilter:
    department: list[str] | None = None
    share_type: list[str] | None = None
    open_type: list[str] | None = None
    format: list[str] | None = None
    update_cycle: list[str] | None = None
    class_: list[str] | None = strawberry.field(default=None, name="class")


@strawberry.type
class CatalogueQuery:
    @strawberry.field(permission_classes=READ, description="Search the entries you may see")
    async def catalogue_search(self, info: strawberry.Info[Context, None], q: str | None = None,
                               filter: CatalogueSearchFilter | None = None,
                               page: int = 1, size: int = 20) -> CatalogueSearchResult:
        chosen = {} if filter is None else {
            "department": filter.department, "share_type": filter.share_type, "open_type": filter.open_type,
            "format": filter.format, "update_cycle": filter.update_cycle, "class": filter.class_}
        try:
            query = SearchQuery(text=q, page=page, size=size,
                                filters={k: tuple(v) for k, v in chosen.items() if v})
        except ValueError as exc:
            raise StrawberryGraphQLError(str(exc), extensions={"code": "validation-failed", "status": 422}) from exc
        async with _transaction(info) as session:
            result = await search_catalogue(session, Viewer.of(info.context.principal), query)
        return CatalogueSearchResult(
            total=result.total, page=result.page, size=result.size, backend=result.backend,
            hits=[SearchHitType(code=h.code, name=h.name, abstract=h.abstract, department=h.department,
                                department_name=h.department_name, status=h.status, share_type=h.share_type,
                                open_type=h.open_type, update_cycle=h.update_cycle, score=h.score,
                                highlights=JSON(h.highlights)) for h in result.hits],
            facets=[FacetType(name=name, values=[FacetValueType(value=v.value, count=v.count, label=v.label)
                                                 for v in values]) for name, values in result.facets.items()],
        )

    @strawberry.field(permission_classes=READ, description="One entry by resource code, if you may see it")
    async def catalogue_entry(self, info: strawberry.Info[Context, None], code: str) -> CatalogueEntryType | None:
        viewer = Viewer.of(info.context.principal)

        def find(session: Session) -> EntryOut | None:
            try:
                entry = service.get_visible_entry(session, viewer, code)
            except service.EntryNotFound:
                return None
            return entry_out(entry, None)

        found = await _run(info, find)
        return _entry(found) if found is not None else None

    @strawberry.field(permission_classes=READ, description="Every version of an entry, newest first")
    async def catalogue_entry_versions(self, info: strawberry.Info[Context, None], code: str) -> list[VersionType]:
        rows = await _run(info, service.list_versions, Viewer.of(info.context.principal), code)
        return [VersionType(version=v.version, action=v.action, actor=v.actor, actor_department=v.actor_department,
                            at=v.at, changes=JSON(v.changes), note=v.note) for v in rows]

    @strawberry.field(permission_classes=READ, description="The department register")
    async def departments(self, info: strawberry.Info[Context, None]) -> list[DepartmentType]:
        rows = await _run(info, registry.list_departments)
        return [DepartmentType(code=d.code, name=d.name, parent=d.parent_code, region=d.region_code) for d in rows]


def _audited(info: strawberry.Info[Context, None], action: str, change: Callable[[Session], Any]
             ) -> Callable[[Session], Any]:
    """`change` plus its audit event, in one transaction (see catalogue.auditing)."""
    request = info.context.request
    principal, settings = info.context.principal, info.context.settings
    request_id = request.scope.get("state", {}).get("request_id") if request is not None else None
    ip = request.client.host if request is not None and request.client else None

    def run(s: Session) -> Any:
        entry = change(s)
        record_change(s, principal, settings, action=action, resource=f"catalogue:{entry.code}",
                      request_id=request_id, ip=ip)
        return entry

    return run


def _validated(model: type[EntryCreate] | type[EntryPatch], value: Any, argument: str) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise graphql_error(validation_problem(exc, prefix=argument)) from exc


@strawberry.type
class CatalogueMutation:
    @strawberry.mutation(permission_classes=WRITE,
                         description="Register a resource of your department (a draft); metadata as in REST")
    async def register_catalogue_entry(self, info: strawberry.Info[Context, None],
                                       metadata: JSON) -> CatalogueEntryType:
        data = _validated(EntryCreate, metadata, "metadata")
        actor = service.Actor.of(info.context.principal)
        async with _transaction(info) as session:
            entry = await session.run_sync(_audited(info, "catalogue.entry.create",
                                                    lambda s: service.create_entry(s, actor, data)))
            out = entry_out(entry)
        return _entry(out)

    @strawberry.mutation(permission_classes=WRITE, description="Change your department's entry (partial)")
    async def update_catalogue_entry(self, info: strawberry.Info[Context, None], code: str, changes: JSON,
                                     expected_version: int | None = None) -> CatalogueEntryType:
        patch = _validated(EntryPatch, changes, "changes")
        principal = info.context.principal
        async with _transaction(info) as session:
            entry = await session.run_sync(_audited(info, "catalogue.entry.update", lambda s: service.update_entry(
                s, service.Actor.of(principal), code, patch, expected_version=expected_version,
                viewer=Viewer.of(principal))))
            out = entry_out(entry)
        return _entry(out)

    @strawberry.mutation(permission_classes=WRITE, description="submit, withdraw or reopen your entry")
    async def change_catalogue_entry_lifecycle(self, info: strawberry.Info[Context, None], code: str,
                                               action: str, note: str | None = None) -> CatalogueEntryType:
        if action not in ("submit", "withdraw", "reopen"):
            raise StrawberryGraphQLError("action must be submit, withdraw or reopen",
                                         extensions={"code": "validation-failed", "status": 422})
        return await _transition(info, code, action, note)

    @strawberry.mutation(permission_classes=REVIEW, description="approve, reject or withdraw an entry (reviewer)")
    async def review_catalogue_entry(self, info: strawberry.Info[Context, None], code: str, action: str,
                                     note: str | None = None) -> CatalogueEntryType:
        if action not in ("approve", "reject", "withdraw"):
            raise StrawberryGraphQLError("action must be approve, reject or withdraw",
                                         extensions={"code": "validation-failed", "status": 422})
        return await _transition(info, code, action, note)


async def _transition(info: strawberry.Info[Context, None], code: str, action: str,
                      note: str | None) -> CatalogueEntryType:
    principal = info.context.principal
    async with _transaction(info) as session:
        entry = await session.run_sync(_audited(info, f"catalogue.entry.{action}", lambda s: service.transition(
            s, service.Actor.of(principal), code, action, note, viewer=Viewer.of(principal))))
        out = entry_out(entry)
    return _entry(out)
