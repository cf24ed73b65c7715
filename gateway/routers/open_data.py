"""Open data (无条件开放) through the same record API: no application, no grant. Anonymous callers are limited per
IP and API-key holders per key (gateway.ratelimit). Open resources hold no personal data, and only their
level-1 (公开) fields are served; every read is audited for the open-data indicators, with no subject keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from cpip.errors import ProblemError
from cpip.settings import Settings
from exchange.delivery import exports
from exchange.delivery.service import open_view
from exchange.delivery.view import View
from gateway.audit import AuditDep
from gateway.deps import SessionDep
from gateway.problems import PROBLEM_JSON
from gateway.ratelimit import OpenDataReader
from gateway.routers.exchange import (
    ClassCode,
    RecordPage,
    Sequence6,
    carry_headers,
    denied,
    record_usage,
    split_fields,
)

router = APIRouter(prefix="/api/v1/open-data", tags=["open data"])
_ERRORS: dict[int | str, dict[str, Any]] = {c: {"content": {PROBLEM_JSON: {}}} for c in (400, 401, 403, 404, 429)}


@router.get("/resources/{class_code}/{sequence}/records", response_model=RecordPage, responses=_ERRORS,
            summary="Records of a 无条件开放 resource (anonymous within a per-IP limit, or with an API key)")
async def open_records(
    class_code: ClassCode, sequence: Sequence6, principal: OpenDataReader, session: SessionDep, audit: AuditDep,
    request: Request, response: Response,
    fields: Annotated[str | None, Query(description="Comma-separated subset of the fields")] = None,
    after: Annotated[str | None, Query(max_length=200, description="Cursor from the previous page")] = None,
    limit: Annotated[int, Query(ge=1)] = 100,
) -> Any:
    code = f"{class_code}/{sequence}"
    settings: Settings = request.app.state.settings
    size = min(limit, settings.exchange_page_max)
    try:
        wanted = split_fields(fields)
        view = await session.run_sync(lambda s: open_view(s, code, fields=wanted))
        page = await session.run_sync(lambda s: view.page(s, after=after, limit=size))
    except ProblemError as problem:
        await denied(audit, principal, problem, action="open-data.records.read", resource=code, api="rest",
                     grant_id=None)
        raise
    body = RecordPage(resource=code, grant_id=None, fields=list(view.fields), masked=[], records=page.records,
                      next=page.next_cursor).model_dump(mode="json")
    sent = await audit.json(body, principal, action="open-data.records.read", resource=code, api="rest",
                            fields=view.fields, record_count=len(page.records),
                            filters={"after": after, "limit": size, "open_data": True})
    await record_usage(request, code, open_records=len(page.records))
    return carry_headers(response, sent)


@router.get("/resources/{class_code}/{sequence}/download", responses={200: {"content": {
            "application/x-ndjson": {}, "text/csv": {}}}, **_ERRORS},
            summary="The whole open resource as NDJSON or CSV (UTF-8, optional BOM), streamed")
async def open_download(
    class_code: ClassCode, sequence: Sequence6, principal: OpenDataReader, session: SessionDep, audit: AuditDep,
    request: Request, response: Response,
    format: Annotated[Literal["ndjson", "csv"], Query()] = "ndjson",
    bom: Annotated[bool, Query(description="Start with a UTF-8 BOM (spreadsheet programs)")] = False,
) -> StreamingResponse:
    code = f"{class_code}/{sequence}"
    try:
        view = await session.run_sync(lambda s: open_view(s, code))
        rows = await session.run_sync(exports.count_rows, view)
    except ProblemError as problem:
        await denied(audit, principal, problem, action="open-data.download", resource=code, api="export",
                     grant_id=None)
        raise
    await audit.record(principal, action="open-data.download", resource=code, api="export", fields=view.fields,
                       record_count=rows, filters={"format": format, "open_data": True})
    await record_usage(request, code, open_records=rows)
    factory = request.app.state.sessionmaker

    async def chunks(view: View = view) -> AsyncIterator[bytes]:
        yield exports.file_head(view, format, bom)
        render = view.row_renderer()
        after: Any = None
        while True:
            # A short transaction per batch: a slow client never holds a snapshot open.
            async with factory() as batch_session:
                statement = view.statement(after, exports.BATCH)
                batch = (await batch_session.execute(statement)).all()
            if not batch:
                return
            yield exports.encode_batch(view, batch, format, render)
            if len(batch) < exports.BATCH:
                return
            after = batch[-1][0]

    media = "application/x-ndjson" if format == "ndjson" else "text/csv"
    streamed = StreamingResponse(chunks(), media_type=f"{media}; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{class_code}-{sequence}.{format}"'})
    carry_headers(response, streamed)
    return streamed


