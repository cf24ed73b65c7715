"""Finding the view a caller may read through, for every data path. Synchronous; the request path calls these
through `AsyncSession.run_sync`, the worker directly."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from exchange.delivery.view import View
from exchange.grants import service as grants
from exchange.resources import load_resource
from security.principals import Principal


def granted_view(session: Session, principal: Principal, code: str, *, grant_id: str | None = None,
                 fields: Sequence[str] | None = None) -> View:
    """The caller's department's effective grant for `code` as a view (403 problem when there is none)."""
    resource = load_resource(session, code)
    grant = grants.effective_grant(session, principal, code, grant_id)
    return View.for_grant(resource, grant).narrowed(fields)


def open_view(session: Session, code: str, *, fields: Sequence[str] | None = None) -> View:
    """A 无条件开放 resource's public fields (404 for anything that is not open data)."""
    return View.for_open_data(load_resource(session, code)).narrowed(fields)


def grant_still_effective(session: Session, principal: Principal, code: str, grant_id: str) -> View:
    """Re-check a grant at delivery time (export download, feed): suspension or revocation stops it now."""
    return granted_view(session, principal, code, grant_id=grant_id)
