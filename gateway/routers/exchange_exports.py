"""REST API of bulk exports: request one through your grant, watch it, download it (HTTP Range resumable) until
its signed link expires."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from cpip.errors import ProblemError
from cpip.settings import Settings
from exchange.auditing import record_step
from exchange.delivery import exports
from exchange.delivery.models import Export
from exchange.delivery.service import granted_view
from exchange.delivery.view import View
from exchange.errors import QuotaExceeded
from gateway.audit import AuditDep
from gateway.auth import requires
from gateway.deps import SessionDep
from gateway.problems import PROBLEM_JSON
from gateway.routers.exchange import ClassCode, QuotasDep, Sequence6, denied, where
from security.permissions import Permission
from security.principals import Principal

router = APIRouter(prefix="/api/v1/exchange", tags=["exchange exports"])
DataReader = Annotated[Principal, Depends(requires(Permission.basebase_read))]
_ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"content": {PROBLEM_JSON: {}}} for c in (400, 401, 403, 404, 409, 410, 416, 422, 429, 503)}


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["ndjson", "csv"] = "ndjson"
    bom: bool = Field(default=False, description="Start the file with a UTF-8 BOM (for spreadsheet programs)")
    fields: list[str] | None = Field(default=None, description="A subset of the granted fields")
    grant: str | None = Field(default=None, max_length=40, description="Use this grant")


class ExportOut(BaseModel):
    id: str
    resource: str
    grant_id: str
    format: str
    bom: bool
    fields: list[str]
    status: str = Field(description="queued · ready · failed · expired")
    row_count: int | None
    size_bytes: int | None
    sha256: str | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime | None
    download_url: str | None = Field(description="Signed link, valid until expires_at (HTTP Range supported)")


def export_out(settings: Settings, export: Export) -> ExportOut:
    return ExportOut(id=export.id, resource=export.resource_code, grant_id=export.grant_id, format=export.format,
                     bom=export.bom, fields=list(export.fields), status=export.status, row_count=export.row_count,
                     size_bytes=export.size_bytes, sha256=export.sha256, error=export.error,
                     created_at=export.created_at, finished_at=export.finished_at, expires_at=export.expires_at,
                     download_url=exports.download_link(settings, export))


@router.post("/resources/{class_code}/{sequence}/exports", status_code=status.HTTP_202_ACCEPTED,
             response_model=ExportOut, responses=_ERRORS,
             summary="Export everything your grant shows of a resource, as NDJSON or CSV (built in the background)")
async def request_export(class_code: ClassCode, sequence: Sequence6, body: ExportRequest, principal: DataReader,
                         session: SessionDep, audit: AuditDep, quota: QuotasDep, request: Request,
                         response: Response) -> ExportOut:
    code = f"{class_code}/{sequence}"
    settings: Settings = request.app.state.settings
    view: View | None = None
    try:
        view = await session.run_sync(lambda s: granted_view(s, principal, code, grant_id=body.grant,
                                                             fields=body.fields))
        assert view.grant is not None
        state = await quota.charge_request(view.grant)
        rows = await session.run_sync(exports.count_rows, view)
        if state.records_left is not None and rows > state.records_left:
            raise QuotaExceeded(f"the export would deliver {rows} records; the grant allows {state.records_left} "
                                f"more today", grant_id=view.grant.id, quota="records", rows=rows,
                                records_left=state.records_left)
        await quota.charge_records(view.grant, rows)
    except ProblemError as problem:
        await denied(audit, principal, problem, action="exchange.export.request", resource=code, api="export",
                     grant_id=view.grant_id if view else body.grant)
        raise

    def run(s: Session) -> ExportOut:
        assert view is not None
        export = exports.create_export(s, principal, view, body.format, body.bom)
        record_step(s, principal, settings, action="exchange.export.request", resource=code, fields=view.fields,
                    grant_id=export.grant_id, purpose=view.grant.purpose if view.grant else None,
                    filters={"export": export.id, "format": body.format, "expected_rows": rows}, **where(request))
        return export_out(settings, export)

    out = await session.run_sync(run)
    response.headers["Location"] = f"/api/v1/exchange/exports/{out.id}"
    return out


@router.get("/exports", response_model=list[ExportOut], responses=_ERRORS, summary="Your department's exports")
async def list_exports(principal: DataReader, session: SessionDep, request: Request) -> list[ExportOut]:
    found = await session.run_sync(exports.exports_of, principal)
    return [export_out(request.app.state.settings, e) for e in found]


@router.get("/exports/{export_id}", response_model=ExportOut, responses=_ERRORS,
            summary="An export's status; when ready, its row count, SHA-256 and download link")
async def get_export(export_id: str, principal: DataReader, session: SessionDep, request: Request) -> ExportOut:
    export = await session.run_sync(exports.get_export, principal, export_id)
    return export_out(request.app.state.settings, export)


@router.get("/exports/{export_id}/file", response_class=FileResponse, responses=_ERRORS,
            summary="Download an export (Range requests resume); the grant must still be in force")
async def download(
    export_id: str, principal: DataReader, session: SessionDep, audit: AuditDep, request: Request,
    expires: Annotated[int, Query(description="From the download link")],
    sig: Annotated[str, Query(max_length=128, description="From the download link")],
) -> FileResponse:
    settings: Settings = request.app.state.settings
    export: Export | None = None
    try:
        export = await session.run_sync(exports.get_export, principal, export_id)
        path = exports.check_link(settings, export, expires, sig)
        # Revocation or suspension stops downloads of files made before it, too.
        found = export
        await session.run_sync(lambda s: granted_view(s, principal, found.resource_code, grant_id=found.grant_id))
    except ProblemError as problem:
        await denied(audit, principal, problem, action="exchange.export.download",
                     resource=export.resource_code if export else export_id, api="export",
                     grant_id=export.grant_id if export else None)
        raise
    media = "application/x-ndjson" if export.format == "ndjson" else "text/csv"
    await audit.record(principal, action="exchange.export.download", resource=export.resource_code, api="export",
                       grant_id=export.grant_id, fields=export.fields, bytes=export.size_bytes,
                       filters={"export": export.id, "range": request.headers.get("range")},
                       detail=f"sha256={export.sha256}")
    return FileResponse(path, media_type=f"{media}; charset=utf-8", filename=f"{export.id}.{export.format}",
                        headers={"X-Content-SHA256": export.sha256 or "", "Cache-Control": "no-store"})
