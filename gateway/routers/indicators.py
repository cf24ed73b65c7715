"""REST API of the 数据资源开放共享 indicators (evaluator role: indicators:read).

Rules live in exchange.indicators; this module maps HTTP onto them. A report of a closed period is stored on its
first computation (a write), so the access is audited in the request's own transaction (exchange.auditing).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from exchange.auditing import record_step
from exchange.indicators import service
from exchange.indicators.definitions import available
from exchange.indicators.render import render
from gateway.auth import requires
from gateway.deps import SessionDep
from gateway.problems import PROBLEM_JSON
from security.permissions import Permission
from security.principals import Principal

router = APIRouter(prefix="/api/v1/indicators", tags=["indicators"])

Evaluator = Annotated[Principal, Depends(requires(Permission.indicators_read))]
PeriodQ = Annotated[str, Query(max_length=10, description="2026, 2026H2, 2026Q3, 2026-09 or 2026-09-15")]
SetQ = Annotated[str, Query(alias="set", max_length=64, description="Indicator set")]
DepartmentQ = Annotated[str | None, Query(max_length=50, description="Only this department's share")]
CutoffQ = Annotated[str | None, Query(max_length=40, description="Data cut-off: a date or an ISO 8601 time")]
_ERRORS: dict[int | str, dict[str, Any]] = {c: {"content": {PROBLEM_JSON: {}}} for c in (401, 403, 404, 409, 422)}
RESOURCE = "indicators"


def _audit(s: Session, request: Request, principal: Principal, action: str, filters: dict[str, Any]) -> None:
    record_step(s, principal, request.app.state.settings, action=action, resource=RESOURCE, api="rest",
                filters={k: v for k, v in filters.items() if v is not None},
                request_id=request.scope.get("state", {}).get("request_id"),
                ip=request.client.host if request.client else None)


@router.get("/sets", responses=_ERRORS, summary="The indicator definition sets, with their tree and sources")
async def sets(principal: Evaluator) -> Any:
    return [{"set": name, "version": loaded.definitions.version, "official": loaded.definitions.official,
             "digest": loaded.digest, "definitions": loaded.definitions.model_dump(mode="json")}
            for name, loaded in sorted(available().items())]


@router.get("/report", responses=_ERRORS,
            summary="Indicator values of a period (json, csv or a self-contained html page with charts)")
async def report(request: Request, principal: Evaluator, session: SessionDep, period: PeriodQ,
                 set_name: SetQ = service.DEFAULT_SET, department: DepartmentQ = None, cutoff: CutoffQ = None,
                 format: Annotated[Literal["json", "csv", "html"], Query(description="Output")] = "json",
                 ) -> Response:
    settings = request.app.state.settings

    def run(s: Session) -> tuple[dict[str, Any], str | None]:
        result = service.report(s, settings, period=period, set_name=set_name, department=department,
                                cutoff=cutoff, actor=principal.username or principal.subject)
        _audit(s, request, principal, "indicators.report",
               {"period": period, "set": set_name, "department": department, "cutoff": cutoff, "format": format})
        return result, (render(s, settings, result, format) if format != "json" else None)

    result, text = await session.run_sync(run)
    if format == "csv":
        return Response(text, media_type="text/csv; charset=utf-8")
    if format == "html":
        return HTMLResponse(text)
    return JSONResponse(result)


@router.get("/{code}/explain", responses=_ERRORS,
            summary="Numerator and denominator of one indicator: the query and the records behind them (paged)")
async def explain(request: Request, principal: Evaluator, session: SessionDep,
                  code: Annotated[str, Path(max_length=32, description="Indicator or measure code")],
                  period: PeriodQ, set_name: SetQ = service.DEFAULT_SET, department: DepartmentQ = None,
                  cutoff: CutoffQ = None,
                  part: Annotated[Literal["numerator", "denominator"] | None, Query()] = None,
                  after: Annotated[str | None, Query(max_length=40, description="Cursor of the next page")] = None,
                  limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 100) -> Any:
    settings = request.app.state.settings

    def run(s: Session) -> dict[str, Any]:
        out = service.explain(s, settings, period=period, indicator=code, set_name=set_name, department=department,
                              cutoff=cutoff, after=after, limit=limit, part=part)
        _audit(s, request, principal, "indicators.explain", {"period": period, "set": set_name, "code": code,
                                                             "department": department, "part": part})
        return out

    return JSONResponse(await session.run_sync(run))
