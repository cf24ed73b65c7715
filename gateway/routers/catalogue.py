"""REST API of the resource catalogue (政务信息资源目录): departments, entries, lifecycle, versions, census,
search, DCAT-AP and CSV export. Rules live in catalogue/; this module maps HTTP onto them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.orm import Session

from catalogue import departments as registry
from catalogue import service
from catalogue.auditing import record_change
from catalogue.dcat import MEDIA_TYPE as JSON_LD
from catalogue.dcat import catalog
from catalogue.domains import EntryStatus, FormatCategory, OpenType, ShareType, UpdateCycle
from catalogue.export import csv_chunks
from catalogue.models import Department
from catalogue.records import entry_out
from catalogue.schemas import (
    CensusUpdate,
    DepartmentIn,
    DepartmentOut,
    EntryCreate,
    EntryList,
    EntryOut,
    EntryPatch,
    SearchPageOut,
    Transition,
    VersionDetail,
    VersionOut,
)
from catalogue.search.base import SearchQuery
from catalogue.search.service import search_catalogue
from catalogue.visibility import Scope, Viewer
from cpip.errors import BadRequest, ProblemError, ValidationFailed
from gateway.auth import requires
from gateway.deps import SessionDep, SettingsDep
from gateway.problems import PROBLEM_JSON
from gateway.ratelimit import OpenDataReader, count_open_data_read
from security.permissions import Permission
from security.principals import Principal

router = APIRouter(prefix="/api/v1/catalogue", tags=["catalogue"])


async def _catalogue_reader(request: Request, principal: Annotated[
        Principal, Depends(requires(Permission.catalogue_read))]) -> Principal:
    # Open-data key holders hold catalogue:read too; their reads count against their open-data budget.
    await count_open_data_read(request, principal)
    return principal


Reader = Annotated[Principal, Depends(_catalogue_reader)]
Writer = Annotated[Principal, Depends(requires(Permission.catalogue_write))]
Reviewer = Annotated[Principal, Depends(requires(Permission.admin))]
OpenReader = OpenDataReader  # open-data:read, rate-limited per client IP (anonymous) or per key
ClassCode = Annotated[str, Path(pattern=r"^[1-3]\d{5}\d{0,6}$", description="分类码 (前段码), e.g. 101001")]
Sequence6 = Annotated[str, Path(pattern=r"^\d{6}$", description="顺序码 (后段码), e.g. 000001")]
_ERRORS: dict[int | str, dict[str, Any]] = {c: {"content": {PROBLEM_JSON: {}}} for c in (401, 403, 404, 409, 422)}


T = TypeVar("T")


async def _change(session: SessionDep, request: Request, principal: Principal, action: str,
                  resource: Callable[[T], str], change: Callable[[Session], T]) -> T:
    """Run a catalogue change and insert its audit event in the same transaction: both commit or neither."""
    settings = request.app.state.settings

    def run(s: Session) -> T:
        result = change(s)
        record_change(s, principal, settings, action=action, resource=resource(result),
                      request_id=request.scope.get("state", {}).get("request_id"),
                      ip=request.client.host if request.client else None)
        return result

    return await session.run_sync(run)


class NotAcceptable(ProblemError):
    slug, status, title = "not-acceptable", 406, "No acceptable representation"


def _code(class_code: str, sequence: str) -> str:
    return f"{class_code}/{sequence}"


def _if_match(value: str | None) -> int | None:
    """`If-Match: "v3"` (the ETag of GET) → 3: the change applies only to that version."""
    if value is None or value.strip() == "*":
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    if not tag.startswith("v") or not tag[1:].isdigit():
        raise BadRequest('If-Match must be an ETag of this API, e.g. "v3"')
    return int(tag[1:])


def _resource(entry: Any) -> str:
    return f"catalogue:{entry.code}"


def _etag(response: Response, entry: EntryOut) -> EntryOut:
    response.headers["ETag"] = f'"v{entry.version}"'
    return entry


# ------------------------------------------------------------------------------------------- departments


@router.get("/departments", response_model=list[DepartmentOut], responses=_ERRORS,
            summary="The department register")
async def list_departments(principal: Reader, session: SessionDep) -> list[DepartmentOut]:
    found = await session.run_sync(registry.list_departments)
    return [registry.department_out(d) for d in found]


@router.get("/departments/{code}", response_model=DepartmentOut, responses=_ERRORS, summary="One department")
async def get_department(code: str, principal: Reader, session: SessionDep) -> DepartmentOut:
    return registry.department_out(await session.run_sync(registry.get_department, code))


@router.put("/departments/{code}", response_model=DepartmentOut, responses=_ERRORS,
            summary="Register or change a department (platform administrator)")
async def put_department(code: str, body: DepartmentIn, principal: Reviewer, session: SessionDep,
                         request: Request, response: Response) -> DepartmentOut:
    if body.code != code:
        raise ValidationFailed("the body's code differs from the URL's", errors=[
            {"field": "body.code", "message": f"must be {code!r}", "rule": "mismatch"}])
    existed = await session.run_sync(lambda s: s.get(Department, code) is not None)
    department, created = await _change(session, request, principal,
                                        "catalogue.department." + ("update" if existed else "create"),
                                        lambda _r: f"department:{code}",
                                        lambda s: registry.upsert_department(s, body))
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return registry.department_out(department)


# ------------------------------------------------------------------------------------------------ entries


@router.post("/entries", status_code=status.HTTP_201_CREATED, response_model=EntryOut, responses=_ERRORS,
             summary="Register a resource of your department (starts as a draft)")
async def create_entry(body: EntryCreate, principal: Writer, session: SessionDep, request: Request,
                       response: Response) -> EntryOut:
    entry = await _change(session, request, principal, "catalogue.entry.create", _resource,
                          lambda s: service.create_entry(s, service.Actor.of(principal), body))
    response.headers["Location"] = f"/api/v1/catalogue/entries/{entry.code}"
    name = await session.run_sync(service.department_name, entry.department_code)
    return _etag(response, entry_out(entry, name))


@router.get("/entries", response_model=EntryList, responses=_ERRORS,
            summary="Entries you may see, by code (your department's drafts included)")
async def list_entries(
    principal: Reader, session: SessionDep,
    department: Annotated[str | None, Query(description="Only this department's entries")] = None,
    entry_status: Annotated[EntryStatus | None, Query(alias="status")] = None,
    page: Annotated[int, Query(ge=1)] = 1, size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> EntryList:
    viewer = Viewer.of(principal)
    total, rows = await session.run_sync(lambda s: service.list_entries(
        s, viewer, department=department, status=entry_status.value if entry_status else None, page=page,
        size=size))
    return EntryList(total=total, page=page, size=size, entries=[entry_out(e, n) for e, n in rows])


@router.get("/entries/{class_code}/{sequence}", response_model=EntryOut, responses=_ERRORS,
            summary="One entry with its full metadata and census counters")
async def get_entry(class_code: ClassCode, sequence: Sequence6, principal: Reader, session: SessionDep,
                    response: Response) -> EntryOut:
    entry = await session.run_sync(service.get_visible_entry, Viewer.of(principal), _code(class_code, sequence))
    name = await session.run_sync(service.department_name, entry.department_code)
    return _etag(response, entry_out(entry, name))


@router.patch("/entries/{class_code}/{sequence}", response_model=EntryOut, responses=_ERRORS,
              summary="Change your department's entry (send If-Match with its ETag to avoid lost updates)")
async def patch_entry(class_code: ClassCode, sequence: Sequence6, body: EntryPatch, principal: Writer,
                      session: SessionDep, request: Request, response: Response,
                      if_match: Annotated[str | None, Header()] = None) -> EntryOut:
    code = _code(class_code, sequence)
    expected = _if_match(if_match)
    entry = await _change(session, request, principal, "catalogue.entry.update", _resource,
                          lambda s: service.update_entry(s, service.Actor.of(principal), code, body,
                                                         expected_version=expected, viewer=Viewer.of(principal)))
    name = await session.run_sync(service.department_name, entry.department_code)
    return _etag(response, entry_out(entry, name))


@router.post("/entries/{class_code}/{sequence}/lifecycle", response_model=EntryOut, responses=_ERRORS,
             summary="submit (draft → under review), withdraw (published → withdrawn), reopen (→ draft)")
async def change_lifecycle(class_code: ClassCode, sequence: Sequence6, body: Transition, principal: Writer,
                           session: SessionDep, request: Request, response: Response) -> EntryOut:
    if body.action not in ("submit", "withdraw", "reopen"):
        raise ValidationFailed(f"{body.action} is the reviewer's; use /review/entries/…", errors=[
            {"field": "body.action", "message": "one of submit, withdraw, reopen", "rule": "enum"}])
    return await _transition(class_code, sequence, body, principal, session, request, response)


@router.get("/review/queue", response_model=list[EntryOut], responses=_ERRORS,
            summary="Entries waiting for review (platform administrator)")
async def review_queue(principal: Reviewer, session: SessionDep) -> list[EntryOut]:
    return [entry_out(e, n) for e, n in await session.run_sync(service.review_queue)]


@router.post("/review/entries/{class_code}/{sequence}", response_model=EntryOut, responses=_ERRORS,
             summary="approve (→ published), reject (→ draft, with a reason) or withdraw an entry")
async def review_entry(class_code: ClassCode, sequence: Sequence6, body: Transition, principal: Reviewer,
                       session: SessionDep, request: Request, response: Response) -> EntryOut:
    if body.action not in ("approve", "reject", "withdraw"):
        raise ValidationFailed(f"{body.action} is the provider's; use /entries/…/lifecycle", errors=[
            {"field": "body.action", "message": "one of approve, reject, withdraw", "rule": "enum"}])
    return await _transition(class_code, sequence, body, principal, session, request, response)


async def _transition(class_code: str, sequence: str, body: Transition, principal: Principal,
                      session: SessionDep, request: Request, response: Response) -> EntryOut:
    code = _code(class_code, sequence)
    entry = await _change(session, request, principal, f"catalogue.entry.{body.action}", _resource,
                          lambda s: service.transition(s, service.Actor.of(principal), code, body.action,
                                                       body.note, viewer=Viewer.of(principal)))
    name = await session.run_sync(service.department_name, entry.department_code)
    return _etag(response, entry_out(entry, name))


@router.put("/entries/{class_code}/{sequence}/census", response_model=EntryOut, responses=_ERRORS,
            summary="Set your resource's census counters (大普查); omitted counters keep their value")
async def put_census(class_code: ClassCode, sequence: Sequence6, body: CensusUpdate, principal: Writer,
                     session: SessionDep, request: Request, response: Response) -> EntryOut:
    code = _code(class_code, sequence)
    entry = await _change(session, request, principal, "catalogue.entry.census", _resource,
                          lambda s: service.set_census(s, service.Actor.of(principal), code, body,
                                                       viewer=Viewer.of(principal)))
    name = await session.run_sync(service.department_name, entry.department_code)
    return _etag(response, entry_out(entry, name))


@router.get("/entries/{class_code}/{sequence}/versions", response_model=list[VersionOut], responses=_ERRORS,
            summary="Every version of an entry, newest first: who, when, what changed")
async def list_versions(class_code: ClassCode, sequence: Sequence6, principal: Reader,
                        session: SessionDep) -> list[VersionOut]:
    rows = await session.run_sync(service.list_versions, Viewer.of(principal), _code(class_code, sequence))
    return [VersionOut.model_validate(v, from_attributes=True) for v in rows]


@router.get("/entries/{class_code}/{sequence}/versions/{version}", response_model=VersionDetail,
            responses=_ERRORS, summary="One version with the entry's full metadata as it was then")
async def get_version(class_code: ClassCode, sequence: Sequence6, version: int, principal: Reader,
                      session: SessionDep) -> VersionDetail:
    row = await session.run_sync(service.get_version, Viewer.of(principal), _code(class_code, sequence), version)
    return VersionDetail.model_validate(row, from_attributes=True)


# ----------------------------------------------------------------------------------------- search, export


def _search_query(
    q: Annotated[str | None, Query(max_length=200, description="Words; Chinese of any length (人, 人口, 法人)")]
    = None,
    department: Annotated[list[str] | None, Query()] = None,
    share_type: Annotated[list[ShareType] | None, Query()] = None,
    open_type: Annotated[list[OpenType] | None, Query()] = None,
    format: Annotated[list[FormatCategory] | None, Query(description="格式大类")] = None,
    update_cycle: Annotated[list[UpdateCycle] | None, Query()] = None,
    class_: Annotated[list[Annotated[str, Query(pattern=r"^[1-3]\d{2}$")]] | None,
                      Query(alias="class", description="类+项, e.g. 101")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SearchQuery:
    filters = {"department": department, "share_type": share_type, "open_type": open_type, "format": format,
               "update_cycle": update_cycle, "class": class_}
    try:
        return SearchQuery(text=q, page=page, size=size,
                           filters={k: tuple(str(v) for v in vals) for k, vals in filters.items() if vals})
    except ValueError as exc:
        raise ValidationFailed(str(exc), errors=[{"field": "query.page", "message": str(exc), "rule": "window"}]
                               ) from exc


QueryDep = Annotated[SearchQuery, Depends(_search_query)]


@router.get("/search", response_model=SearchPageOut, responses=_ERRORS,
            summary="Search the entries you may see, with facets and highlights")
async def search(query: QueryDep, principal: Reader, session: SessionDep) -> SearchPageOut:
    page = await search_catalogue(session, Viewer.of(principal), query)
    return SearchPageOut.model_validate(page, from_attributes=True)


@router.get("/open/search", response_model=SearchPageOut, responses=_ERRORS,
            summary="Search the open (无条件开放) entries; no account needed")
async def search_open(query: QueryDep, principal: OpenReader, session: SessionDep) -> SearchPageOut:
    page = await search_catalogue(session, Viewer(Scope.open), query)
    return SearchPageOut.model_validate(page, from_attributes=True)


@router.get("/open/entries/{class_code}/{sequence}", response_model=EntryOut, responses=_ERRORS,
            summary="One open (无条件开放) entry; the DCAT dataset's landing page")
async def get_open_entry(class_code: ClassCode, sequence: Sequence6, principal: OpenReader,
                         session: SessionDep, response: Response) -> EntryOut:
    entry = await session.run_sync(service.get_visible_entry, Viewer(Scope.open), _code(class_code, sequence))
    name = await session.run_sync(service.department_name, entry.department_code)
    return _etag(response, entry_out(entry, name))


def _accepts_json_ld(accept: str | None) -> bool:
    """RFC 9110 negotiation over the one representation offered (JSON-LD; plain JSON clients get it too)."""
    if accept is None or not accept.strip():
        return True
    offered = {JSON_LD, "application/json", "application/*", "*/*"}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media.lower() in offered and quality > 0:
            return True
    return False


@router.get("/dcat", responses={**_ERRORS, 406: {"content": {PROBLEM_JSON: {}}},
                                200: {"content": {JSON_LD: {}}}},
            summary="The open catalogue as DCAT-AP 3 JSON-LD (Accept: application/ld+json)",
            response_class=JSONResponse)
async def dcat(request: Request, principal: OpenReader, session: SessionDep, settings: SettingsDep) -> Response:
    if not _accepts_json_ld(request.headers.get("accept")):
        raise NotAcceptable(f"this resource is available as {JSON_LD} only", available=[JSON_LD])
    rows = await session.run_sync(service.visible_entries, Viewer(Scope.open))
    document = catalog(rows, base_url=str(request.base_url), default_license=settings.open_data_license)
    return JSONResponse(document, media_type=JSON_LD, headers={"Vary": "Accept"})


@router.get("/export.csv", responses={**_ERRORS, 200: {"content": {"text/csv": {}}}},
            summary="The whole catalogue you may see as CSV (UTF-8; bom=true for Excel)",
            response_class=StreamingResponse)
async def export_csv(principal: Reader, session: SessionDep,
                     bom: Annotated[bool, Query(description="Start with a UTF-8 BOM (Excel)")] = False,
                     ) -> StreamingResponse:
    rows = await session.run_sync(service.visible_entries, Viewer.of(principal))
    return StreamingResponse(csv_chunks(rows, bom=bom), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="catalogue.csv"'})
