"""Audit events of catalogue changes (registering, changing and reviewing entries, the department register),
written in the change's own transaction by the shared helper, security.audit.record_in_transaction (its module
says why changes cannot go through the gateway's AuditDep). Kept so call sites read as the catalogue's own."""

from __future__ import annotations

from security.audit import record_in_transaction as record_change

__all__ = ["record_change"]
