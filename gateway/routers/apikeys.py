"""Open-data API keys: an open-data developer creates, lists and revokes their own keys; the platform
administrator lists anyone's and revokes a leaked or orphaned one, with a reason, in the audit log."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from cpip.settings import Settings
from gateway.audit import get_audit
from gateway.auth import requires
from gateway.deps import SessionDep, SettingsDep
from gateway.problems import PROBLEM_JSON
from security import apikeys
from security.audit.events import Api
from security.permissions import Permission
from security.principals import Principal
from security.schemas import ApiKeyAdminView, ApiKeyCreate, ApiKeyIssued, ApiKeyRevocation, ApiKeyView

log = logging.getLogger("cpip.gateway.apikeys")
router = APIRouter(prefix="/api/v1/open-data/keys", tags=["open data"])
admin_router = APIRouter(prefix="/api/v1/admin/api-keys", tags=["administration"])
KeyManager = Annotated[Principal, Depends(requires(Permission.api_keys_manage))]
Admin = Annotated[Principal, Depends(requires(Permission.admin))]
_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"content": {PROBLEM_JSON: {}}} for code in (401, 403, 404, 409, 422)
}


def _view(key: apikeys.ApiKey) -> ApiKeyView:
    return ApiKeyView.model_validate(key)


async def _audit(request: Request, principal: Principal, action: str, key: apikeys.ApiKey,
                 reason: str | None = None) -> None:
    """Key creation and revocation are administrative actions, recorded in the access audit log.

    Recorded after the checks and before the change is written; if the log cannot take the event,
    AuditUnavailable (503) ends the request and the key is neither created nor revoked.
    """
    if getattr(request.app.state, "audit_writer", None) is None:
        # Only an app built without gateway.audit.install_audit (a bare test app) gets here.
        log.warning("administrative action not audited: no audit writer installed",
                    extra={"action": action, "key_id": key.id, "actor": principal.subject})
        return
    detail = f"key {key.id} ({key.name})" + (f" of {key.owner_username or key.owner_subject}: {reason}"
                                             if reason is not None else "")
    await get_audit(request).record(principal, action=action, resource="open-data-api-keys", api=Api.admin,
                                    record_count=1, detail=detail)


@asynccontextmanager
async def _check_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A short read-only session for the checks that precede the audit record.

    The audit writer commits on its own connection. On SQLite a request transaction that had read before
    that commit could not write afterwards (its snapshot is stale), so the checks read elsewhere and the
    request's own transaction starts with the write.
    """
    async with request.app.state.sessionmaker() as session:
        yield session


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ApiKeyIssued, responses=_ERRORS,
             summary="Create an open-data API key (the full key is shown only in this response)")
async def create_key(body: ApiKeyCreate, principal: KeyManager, session: SessionDep,
                     settings: SettingsDep, request: Request, response: Response) -> ApiKeyIssued:
    issued = apikeys.build_key(principal, body.name, body.expires_in_days, secret_key=_secret(settings),
                               max_days=settings.api_key_max_days)
    async with _check_session(request) as check:
        await apikeys.ensure_quota(check, principal)
    await _audit(request, principal, "api-key.create", issued.key)
    await apikeys.save_key(session, issued)
    response.headers["Cache-Control"] = "no-store"  # the secret must not sit in any cache
    return ApiKeyIssued(**_view(issued.key).model_dump(), key=issued.plaintext)


@router.get("", response_model=list[ApiKeyView], responses=_ERRORS, summary="List your API keys")
async def list_keys(principal: KeyManager, session: SessionDep) -> list[ApiKeyView]:
    return [_view(key) for key in await apikeys.list_keys(session, principal)]


@router.delete("/{key_id}", response_model=ApiKeyView, responses=_ERRORS,
               summary="Revoke an API key; it stops working at once")
async def revoke_key(key_id: str, principal: KeyManager, session: SessionDep, request: Request) -> ApiKeyView:
    async with _check_session(request) as check:
        key = await apikeys.find_own_key(check, key_id, principal)
        if key.revoked_at is not None:
            return _view(key)  # already revoked: nothing changes, nothing to audit
    await _audit(request, principal, "api-key.revoke", key)
    await apikeys.mark_revoked(session, key_id, principal)
    return _view(await apikeys.find_own_key(session, key_id, principal))


def _secret(settings: Settings) -> str:
    return settings.secret_key.get_secret_value()


@admin_router.get("", response_model=list[ApiKeyAdminView], responses=_ERRORS,
                  summary="Every owner's API keys, newest first (at most 500)")
async def list_all_keys(
        principal: Admin, session: SessionDep,
        owner: Annotated[str | None, Query(max_length=255, description="Only this owner (subject or username)")]
        = None,
        active: Annotated[bool, Query(description="Only keys neither revoked nor expired")] = False,
) -> list[ApiKeyAdminView]:
    keys = await apikeys.list_all_keys(session, owner=owner, active_only=active)
    return [ApiKeyAdminView.model_validate(key) for key in keys]


@admin_router.post("/{key_id}/revoke", response_model=ApiKeyAdminView, responses=_ERRORS,
                   summary="Revoke anyone's API key (leaked, or its owner gone); it stops working at once")
async def revoke_any_key(key_id: str, body: ApiKeyRevocation, principal: Admin, session: SessionDep,
                         request: Request) -> ApiKeyAdminView:
    async with _check_session(request) as check:
        key = await apikeys.find_any_key(check, key_id)
        if key.revoked_at is not None:
            return ApiKeyAdminView.model_validate(key)  # already revoked: nothing changes, nothing to audit
    await _audit(request, principal, "api-key.revoke-by-admin", key, reason=body.reason)
    await apikeys.mark_revoked_by_admin(session, key_id, principal)
    return ApiKeyAdminView.model_validate(await apikeys.find_any_key(session, key_id))
