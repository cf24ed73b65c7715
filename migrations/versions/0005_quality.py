"""quality: runs and results, scores, quarantine, quality issues

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cpip.db import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quality_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("resource", sa.String(40), nullable=False),
        sa.Column("suite", sa.String(80), nullable=False),
        sa.Column("suite_version", sa.String(20), nullable=False),
        sa.Column("trigger", sa.String(12), nullable=False),
        sa.Column("engine", sa.String(12), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("submission_ref", sa.String(100), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("expectations", sa.Integer(), nullable=False),
        sa.Column("failed_expectations", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_runs")),
    )
    op.create_index("ix_quality_runs_resource_started", "quality_runs", ["resource", "started_at"])
    op.create_table(
        "quality_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("expectation_type", sa.String(100), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=True),
        sa.Column("element_count", sa.Integer(), nullable=False),
        sa.Column("unexpected_count", sa.Integer(), nullable=False),
        sa.Column("unexpected_percent", sa.Float(), nullable=False),
        sa.Column("samples", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_results")),
        sa.ForeignKeyConstraint(["run_id"], ["quality_runs.id"], ondelete="CASCADE",
                                name=op.f("fk_quality_results_run_id_quality_runs")),
    )
    op.create_index("ix_quality_results_run_id", "quality_results", ["run_id"])
    op.create_table(
        "quality_scores",
        sa.Column("resource", sa.String(40), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("failed_expectations", sa.Integer(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("resource", name=op.f("pk_quality_scores")),
        sa.ForeignKeyConstraint(["run_id"], ["quality_runs.id"], ondelete="CASCADE",
                                name=op.f("fk_quality_scores_run_id_quality_runs")),
    )
    op.create_table(
        "quality_quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("resource", sa.String(40), nullable=False),
        sa.Column("submission_ref", sa.String(100), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("department", sa.String(50), nullable=True),
        sa.Column("submitted_by", sa.String(200), nullable=True),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("natural_key", sa.String(200), nullable=True),
        sa.Column("original", sa.JSON(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("discard_reason", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.String(200), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_quarantine")),
        sa.ForeignKeyConstraint(["run_id"], ["quality_runs.id"], ondelete="SET NULL",
                                name=op.f("fk_quality_quarantine_run_id_quality_runs")),
    )
    op.create_index("ix_quality_quarantine_submission_ref", "quality_quarantine", ["submission_ref"])
    op.create_index("ix_quality_quarantine_department_status", "quality_quarantine", ["department", "status"])
    op.create_index("ix_quality_quarantine_resource_status", "quality_quarantine", ["resource", "status"])
    op.create_table(
        "quality_issues",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("resource", sa.String(40), nullable=False),
        sa.Column("rule", sa.String(80), nullable=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("department", sa.String(50), nullable=True),
        sa.Column("assignee", sa.String(200), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.Column("unexpected_count", sa.Integer(), nullable=True),
        sa.Column("raised_by", sa.String(200), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("raised_at", UTCDateTime(), nullable=False),
        sa.Column("assigned_at", UTCDateTime(), nullable=True),
        sa.Column("fixed_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_issues")),
        sa.ForeignKeyConstraint(["run_id"], ["quality_runs.id"], ondelete="SET NULL",
                                name=op.f("fk_quality_issues_run_id_quality_runs")),
        sa.ForeignKeyConstraint(["last_run_id"], ["quality_runs.id"], ondelete="SET NULL",
                                name=op.f("fk_quality_issues_last_run_id_quality_runs")),
    )
    op.create_index("ix_quality_issues_resource_rule_status", "quality_issues", ["resource", "rule", "status"])
    op.create_index("ix_quality_issues_raised_at", "quality_issues", ["raised_at"])


def downgrade() -> None:
    op.drop_index("ix_quality_issues_raised_at", table_name="quality_issues")
    op.drop_index("ix_quality_issues_resource_rule_status", table_name="quality_issues")
    op.drop_table("quality_issues")
    op.drop_index("ix_quality_quarantine_resource_status", table_name="quality_quarantine")
    op.drop_index("ix_quality_quarantine_department_status", table_name="quality_quarantine")
    op.drop_index("ix_quality_quarantine_submission_ref", table_name="quality_quarantine")
    op.drop_table("quality_quarantine")
    op.drop_table("quality_scores")
    op.drop_index("ix_quality_results_run_id", table_name="quality_results")
    op.drop_table("quality_results")
    op.drop_index("ix_quality_runs_resource_started", table_name="quality_runs")
    op.drop_table("quality_runs")
