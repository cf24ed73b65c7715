"""The one escape from the audit log's append-only triggers, for the test harness and deliberate repair.

A row in `audit_maintenance` lifts the triggers for the transaction that inserted it; it is deleted again
before that transaction ends, so no other connection ever sees it. Whoever can do this can also drop the
triggers: they stop mistakes and an application that overreaches, while tampering by a database owner is
caught by the hash chain and the signed checkpoints (`cpip audit verify`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from sqlalchemy import Connection, delete, insert

from security.audit.models import AuditMaintenance


@contextmanager
def audit_maintenance(conn: Connection) -> Iterator[None]:
    """Within the caller's open transaction, allow UPDATE/DELETE of audit rows until the block ends."""
    token = uuid.uuid4().hex
    conn.execute(insert(AuditMaintenance).values(token=token))
    lift = delete(AuditMaintenance).where(AuditMaintenance.token == token)
    try:
        yield
    except BaseException:
        # The flag must not outlive the block even if the caller goes on to commit; a failed transaction
        # (which rolls the flag back anyway) may refuse the delete, and the original error matters more.
        with suppress(Exception):
            conn.execute(lift)
        raise
    conn.execute(lift)
