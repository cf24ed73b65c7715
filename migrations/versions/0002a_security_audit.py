"""security: tamper-evident access audit log (events, subject index, signed checkpoints, append-only triggers)

Revision ID: 0002a
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cpip.db import UTCDateTime

revision = "0002a"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Frozen here on purpose: the trigger must list the columns as they are in this revision.
CONTENT_COLUMNS = (
    "occurred_at", "request_id", "principal", "principal_kind", "client_id", "department", "roles", "action",
    "resource", "api", "filters", "fields", "record_count", "subject_keys", "grant_id", "purpose", "outcome",
    "status_code", "ip", "latency_ms", "bytes", "detail",
)
GUARDED = ("id", *CONTENT_COLUMNS)
MAINTENANCE = "EXISTS (SELECT 1 FROM audit_maintenance)"

# UPDATE OF: the sealer's UPDATE sets only seq and chain_hash, so the content trigger never fires for it and
# the sealed-row trigger is filtered by its WHEN clause without entering PL/pgSQL: sealing pays nothing.
PG_FUNCTIONS = f"""
CREATE FUNCTION cpip_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF {MAINTENANCE} THEN
    IF TG_LEVEL = 'STATEMENT' THEN RETURN NULL; END IF;
    RETURN COALESCE(NEW, OLD);
  END IF;
  IF TG_TABLE_NAME = 'audit_events' AND TG_OP = 'UPDATE' THEN
    RAISE EXCEPTION 'audit event % cannot change: content is immutable and seq/chain_hash are set once',
      OLD.id USING ERRCODE = 'insufficient_privilege';
  END IF;
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
"""

_ROW = "FOR EACH ROW EXECUTE FUNCTION cpip_audit_append_only()"
PG_TRIGGERS = [
    f"CREATE TRIGGER audit_events_content BEFORE UPDATE OF {', '.join(GUARDED)} ON audit_events {_ROW}",
    "CREATE TRIGGER audit_events_sealed BEFORE UPDATE OF seq, chain_hash ON audit_events FOR EACH ROW "
    "WHEN (OLD.seq IS NOT NULL OR OLD.chain_hash IS NOT NULL) EXECUTE FUNCTION cpip_audit_append_only()",
    f"CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events {_ROW}",
    f"CREATE TRIGGER audit_subjects_append_only BEFORE UPDATE OR DELETE ON audit_subjects {_ROW}",
    f"CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints {_ROW}",
] + [
    f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
    "FOR EACH STATEMENT EXECUTE FUNCTION cpip_audit_append_only()"
    for table in ("audit_events", "audit_subjects", "audit_checkpoints")
]


def _sqlite_triggers() -> list[str]:
    unless = f"NOT {MAINTENANCE}"
    refuse = "BEGIN SELECT RAISE(ABORT, '{}'); END"
    statements = [
        f"CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events WHEN {unless} "
        + refuse.format("audit events are append-only: DELETE refused"),
        "CREATE TRIGGER audit_events_sealed BEFORE UPDATE OF seq, chain_hash ON audit_events "
        f"WHEN (OLD.seq IS NOT NULL OR OLD.chain_hash IS NOT NULL) AND {unless} "
        + refuse.format("a sealed audit event cannot change"),
        f"CREATE TRIGGER audit_events_content BEFORE UPDATE OF {', '.join(GUARDED)} ON audit_events "
        f"WHEN {unless} " + refuse.format("the content of an audit event cannot change"),
    ]
    for table in ("audit_subjects", "audit_checkpoints"):
        for op_name in ("UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER {table}_no_{op_name.lower()} BEFORE {op_name} ON {table} WHEN {unless} "
                + refuse.format(f"{table} is append-only: {op_name} refused")
            )
    return statements


def upgrade() -> None:
    op.create_table(
        "audit_maintenance",
        sa.Column("token", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_audit_maintenance")),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("principal", sa.String(255), nullable=False),
        sa.Column("principal_kind", sa.String(32), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=True),
        sa.Column("department", sa.String(64), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("resource", sa.String(255), nullable=False),
        sa.Column("api", sa.String(16), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=True),
        sa.Column("subject_keys", sa.JSON(), nullable=False),
        sa.Column("grant_id", sa.String(64), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("chain_hash", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_events_seq")),
    )
    for name, columns in (
        ("ix_audit_events_occurred_at", ["occurred_at"]),
        ("ix_audit_events_principal", ["principal", "occurred_at"]),
        ("ix_audit_events_department", ["department", "occurred_at"]),
        ("ix_audit_events_resource", ["resource", "occurred_at"]),
        ("ix_audit_events_outcome", ["outcome", "occurred_at"]),
        ("ix_audit_events_request_id", ["request_id"]),
    ):
        op.create_index(name, "audit_events", columns)
    op.create_index("ix_audit_events_unsealed", "audit_events", ["id"],
                    postgresql_where=sa.text("seq IS NULL"), sqlite_where=sa.text("seq IS NULL"))
    op.create_table(
        "audit_subjects",
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("subject_hmac", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "subject_hmac", name=op.f("pk_audit_subjects")),
        sa.ForeignKeyConstraint(["event_id"], ["audit_events.id"],
                                name=op.f("fk_audit_subjects_event_id_audit_events")),
    )
    op.create_index("ix_audit_subjects_hmac", "audit_subjects", ["subject_hmac", "event_id"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("chain_hash", sa.String(64), nullable=False),
        sa.Column("signed_at", UTCDateTime(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTIONS)
        for statement in PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in _sqlite_triggers():
            op.execute(statement)


def downgrade() -> None:
    # Dropping the tables drops their triggers on both back ends.
    op.drop_table("audit_checkpoints")
    op.drop_index("ix_audit_subjects_hmac", table_name="audit_subjects")
    op.drop_table("audit_subjects")
    op.drop_table("audit_events")
    op.drop_table("audit_maintenance")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS cpip_audit_append_only()")
