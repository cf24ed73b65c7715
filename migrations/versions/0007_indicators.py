"""indicators: signed manual inputs, daily and monthly audit rollups, stored results of closed periods

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cpip.db import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "indicator_inputs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("value", sa.Numeric(20, 4), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("entered_by", sa.String(200), nullable=False),
        sa.Column("entered_at", UTCDateTime(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_indicator_inputs"),
    )
    op.create_index("ix_indicator_inputs_name", "indicator_inputs", ["name", "period", "department", "entered_at"])
    op.create_table(
        "indicator_call_rollups",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("principal_kind", sa.String(32), nullable=False),
        sa.Column("resource", sa.String(255), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("api", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("latency_bucket", sa.Integer(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_indicator_call_rollups"),
        sa.UniqueConstraint("day", "department", "client_id", "principal_kind", "resource", "action", "api",
                            "outcome", "latency_bucket", name="uq_indicator_call_rollups_day"),
    )
    op.create_table(
        "indicator_rollup_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("rolled_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_indicator_rollup_days"),
    )
    op.create_table(
        "indicator_call_rollup_months",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("principal_kind", sa.String(32), nullable=False),
        sa.Column("resource", sa.String(255), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("api", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("latency_bucket", sa.Integer(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_indicator_call_rollup_months"),
        sa.UniqueConstraint("month", "department", "client_id", "principal_kind", "resource", "action", "api",
                            "outcome", "latency_bucket", name="uq_indicator_call_rollup_months_month"),
    )
    op.create_table(
        "indicator_rollup_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("rolled_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("month", name="pk_indicator_rollup_months"),
    )
    op.create_table(
        "indicator_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("definition_set", sa.String(64), nullable=False),
        sa.Column("definition_version", sa.String(32), nullable=False),
        sa.Column("definitions_digest", sa.String(64), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("cutoff", UTCDateTime(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.Column("computed_by", sa.String(200), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_indicator_results"),
        sa.UniqueConstraint("definition_set", "definition_version", "period", "department", "cutoff",
                            name="uq_indicator_results_definition_set"),
    )


def downgrade() -> None:
    op.drop_table("indicator_results")
    op.drop_table("indicator_rollup_months")
    op.drop_table("indicator_call_rollup_months")
    op.drop_table("indicator_rollup_days")
    op.drop_table("indicator_call_rollups")
    op.drop_index("ix_indicator_inputs_name", table_name="indicator_inputs")
    op.drop_table("indicator_inputs")
