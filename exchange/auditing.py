"""Audit events of the exchange's workflow steps (applications, decisions, grant changes, subscriptions,
submissions, exports), written in the step's own transaction by the shared helper,
security.audit.record_in_transaction: a step and its audit event commit together or not at all."""

from __future__ import annotations

from security.audit import record_in_transaction as record_step

__all__ = ["record_step"]
