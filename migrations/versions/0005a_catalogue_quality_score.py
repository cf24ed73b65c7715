"""catalogue: each entry's published quality score (issue 7)

Revision ID: 0005a
Revises: 0005

Two nullable columns on catalogue_entries, filled by the quality runs through catalogue.service.
set_quality_score. Scores quality computed before this revision are copied over once, so publishing does not
wait for the next run: a base resource's entry is the one whose source_key is the quality resource's name.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cpip.db import UTCDateTime

revision = "0005a"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("catalogue_entries") as batch:
        batch.add_column(sa.Column("quality_score", sa.Float(), nullable=True))
        batch.add_column(sa.Column("quality_scored_at", UTCDateTime(), nullable=True))
    # Correlated subqueries: the same statement on SQLite and PostgreSQL.
    op.execute(
        "UPDATE catalogue_entries SET "
        "quality_score = (SELECT s.score FROM quality_scores s WHERE s.resource = catalogue_entries.source_key), "
        "quality_scored_at = (SELECT s.computed_at FROM quality_scores s "
        "WHERE s.resource = catalogue_entries.source_key) "
        "WHERE source_key IN (SELECT resource FROM quality_scores)"
    )


def downgrade() -> None:
    # Not batch mode: on SQLite that copies the table and drops the original, and with foreign keys on the
    # drop would cascade to every entry's versions and search document. SQLite 3.35+ drops a column in place.
    op.drop_column("catalogue_entries", "quality_scored_at")
    op.drop_column("catalogue_entries", "quality_score")
