"""exchange: applications, grants, change feed, webhooks, exports, submissions

Revision ID: 0006
Revises: 0005a
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cpip.db import UTCDateTime

revision = "0006"
down_revision = "0005a"
branch_labels = None
depends_on = None

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _applications() -> None:
    op.create_table(
        "exchange_applications",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("resource_code", sa.String(32), nullable=False),
        sa.Column("resource_name", sa.String(200), nullable=False),
        sa.Column("provider_department", sa.String(50), nullable=False),
        sa.Column("consumer_department", sa.String(50), nullable=False),
        sa.Column("applicant", sa.String(200), nullable=False),
        sa.Column("share_type", sa.String(10), nullable=False),
        sa.Column("data_published", sa.Boolean(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("region_prefix", sa.String(6), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
        sa.Column("reply_days", sa.Integer(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("overdue_flagged_at", UTCDateTime(), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_on_time", sa.Boolean(), nullable=True),
        sa.Column("refusal_reasons", sa.Text(), nullable=True),
        sa.Column("grant_id", sa.String(40), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_applications")),
    )
    op.create_index("ix_exchange_applications_resource_code", "exchange_applications", ["resource_code"])
    op.create_index("ix_exchange_applications_provider_status", "exchange_applications",
                    ["provider_department", "status"])
    op.create_index("ix_exchange_applications_consumer_status", "exchange_applications",
                    ["consumer_department", "status"])
    op.create_index("ix_exchange_applications_status_due", "exchange_applications", ["status", "due_at"])
    op.create_table(
        "exchange_application_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("application_id", sa.String(40), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("actor_department", sa.String(50), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["exchange_applications.id"], ondelete="CASCADE",
                                name=op.f("fk_exchange_application_events_application_id_exchange_applications")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_application_events")),
    )
    op.create_index("ix_exchange_application_events_application", "exchange_application_events",
                    ["application_id", "id"])


def _grants() -> None:
    op.create_table(
        "exchange_grants",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("application_id", sa.String(40), nullable=True),
        sa.Column("resource_code", sa.String(32), nullable=False),
        sa.Column("provider_department", sa.String(50), nullable=False),
        sa.Column("consumer_department", sa.String(50), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("masking", sa.JSON(), nullable=False),
        sa.Column("region_prefix", sa.String(6), nullable=True),
        sa.Column("requests_per_day", sa.Integer(), nullable=True),
        sa.Column("records_per_day", sa.Integer(), nullable=True),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_until", UTCDateTime(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_grants")),
    )
    op.create_index("ix_exchange_grants_application_id", "exchange_grants", ["application_id"])
    op.create_index("ix_exchange_grants_consumer_resource", "exchange_grants",
                    ["consumer_department", "resource_code", "status"])
    op.create_index("ix_exchange_grants_provider", "exchange_grants", ["provider_department", "status"])
    op.create_table(
        "exchange_grant_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("grant_id", sa.String(40), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["grant_id"], ["exchange_grants.id"], ondelete="CASCADE",
                                name=op.f("fk_exchange_grant_events_grant_id_exchange_grants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_grant_events")),
    )
    op.create_index("ix_exchange_grant_events_grant", "exchange_grant_events", ["grant_id", "id"])


def _feed() -> None:
    op.create_table(
        "exchange_feed_counters",
        sa.Column("stream", sa.String(60), nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.Column("pruned_through", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("stream", name=op.f("pk_exchange_feed_counters")),
    )
    op.create_table(
        "exchange_feed_changes",
        sa.Column("stream", sa.String(60), nullable=False),
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("op", sa.String(10), nullable=False),
        sa.Column("record_key", sa.String(200), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(100), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("stream", "position", name=op.f("pk_exchange_feed_changes")),
    )
    op.create_index("ix_exchange_feed_changes_changed_at", "exchange_feed_changes", ["changed_at"])


def _webhooks() -> None:
    op.create_table(
        "exchange_subscriptions",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("department", sa.String(50), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("secret_ciphertext", sa.Text(), nullable=False),
        sa.Column("secret_key_id", sa.String(32), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("resource_code", sa.String(32), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_subscriptions")),
    )
    op.create_index("ix_exchange_subscriptions_department", "exchange_subscriptions", ["department", "status"])
    op.create_index("ix_exchange_subscriptions_resource_code", "exchange_subscriptions", ["resource_code"])
    op.create_table(
        "exchange_webhook_deliveries",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("subscription_id", sa.String(40), nullable=False),
        sa.Column("event_type", sa.String(60), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["subscription_id"], ["exchange_subscriptions.id"], ondelete="CASCADE",
                                name=op.f("fk_exchange_webhook_deliveries_subscription_id_exchange_subscriptions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_webhook_deliveries")),
    )
    op.create_index("ix_exchange_webhook_deliveries_subscription", "exchange_webhook_deliveries",
                    ["subscription_id", "created_at"])


def _exports() -> None:
    op.create_table(
        "exchange_exports",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("grant_id", sa.String(40), nullable=False),
        sa.Column("resource_code", sa.String(32), nullable=False),
        sa.Column("department", sa.String(50), nullable=False),
        sa.Column("requested_by", sa.JSON(), nullable=False),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("bom", sa.Boolean(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("file_name", sa.String(200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_exports")),
    )
    op.create_index("ix_exchange_exports_grant_id", "exchange_exports", ["grant_id"])
    op.create_index("ix_exchange_exports_department", "exchange_exports", ["department", "created_at"])


def _submissions() -> None:
    op.create_table(
        "exchange_submissions",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("batch_id", sa.String(100), nullable=False),
        sa.Column("department", sa.String(50), nullable=False),
        sa.Column("resource_code", sa.String(32), nullable=False),
        sa.Column("base", sa.String(40), nullable=False),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("submitted_by", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("landed", sa.Integer(), nullable=True),
        sa.Column("inserted", sa.Integer(), nullable=True),
        sa.Column("updated", sa.Integer(), nullable=True),
        sa.Column("unchanged", sa.Integer(), nullable=True),
        sa.Column("quarantined", sa.Integer(), nullable=True),
        sa.Column("quality_run_id", sa.Integer(), nullable=True),
        sa.Column("feed_first", sa.BigInteger(), nullable=True),
        sa.Column("feed_last", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_submissions")),
        sa.UniqueConstraint("department", "batch_id", name=op.f("uq_exchange_submissions_department_batch_id")),
    )
    op.create_table(
        "exchange_submission_rows",
        sa.Column("submission_id", sa.String(40), nullable=False),
        sa.Column("row_number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["exchange_submissions.id"], ondelete="CASCADE",
                                name=op.f("fk_exchange_submission_rows_submission_id_exchange_submissions")),
        sa.PrimaryKeyConstraint("submission_id", "row_number", name=op.f("pk_exchange_submission_rows")),
    )


def upgrade() -> None:
    _applications()
    _grants()
    _feed()
    _webhooks()
    _exports()
    _submissions()


def downgrade() -> None:
    for table in ("exchange_submission_rows", "exchange_submissions", "exchange_exports", "exchange_webhook_deliveries", "exchange_subscriptions", "exchange_feed_changes", "exchange_feed_counters", "exchange_grant_events", "exchange_grants", "exchange_application_events",
                  "exchange_applications"):
        op.drop_table(table)
