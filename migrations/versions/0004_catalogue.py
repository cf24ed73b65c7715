"""catalogue: department register, entries with core metadata and census counters, versions, embedded search

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cpip.db import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# FTS5 keeps these as token characters: the catalogue analyzer leaves them inside tokens (u.s.a, 3.14, don't).
FTS5_TOKENIZER = "unicode61 remove_diacritics 0 tokenchars '_.:,;·’'''"


def upgrade() -> None:
    op.create_table(
        "departments",
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("parent_code", sa.String(50), nullable=True),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("credit_code", sa.String(18), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_departments")),
        sa.ForeignKeyConstraint(["parent_code"], ["departments.code"],
                                name=op.f("fk_departments_parent_code_departments")),
    )
    op.create_table(
        "catalogue_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("metadata_id", sa.String(36), nullable=False),
        sa.Column("category", sa.String(1), nullable=False),
        sa.Column("item", sa.String(2), nullable=False),
        sa.Column("catalog", sa.String(3), nullable=False),
        sa.Column("detail", sa.String(6), nullable=True),
        sa.Column("class_code", sa.String(12), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("abstract", sa.Text(), nullable=False),
        sa.Column("department_code", sa.String(50), nullable=False),
        sa.Column("formats", sa.JSON(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("share_type", sa.String(10), nullable=False),
        sa.Column("share_conditions", sa.Text(), nullable=True),
        sa.Column("share_channel", sa.String(10), nullable=True),
        sa.Column("share_mode", sa.String(10), nullable=True),
        sa.Column("no_share_basis", sa.Text(), nullable=True),
        sa.Column("open_type", sa.String(10), nullable=False),
        sa.Column("open_conditions", sa.Text(), nullable=True),
        sa.Column("update_cycle", sa.String(10), nullable=False),
        sa.Column("related_codes", sa.JSON(), nullable=False),
        sa.Column("maintainer", sa.String(200), nullable=True),
        sa.Column("maintainer_contact", sa.String(200), nullable=True),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("temporal_start", sa.Date(), nullable=True),
        sa.Column("temporal_end", sa.Date(), nullable=True),
        sa.Column("spatial", sa.String(6), nullable=True),
        sa.Column("grade", sa.String(10), nullable=False),
        sa.Column("license", sa.String(500), nullable=True),
        sa.Column("access_url", sa.String(500), nullable=True),
        sa.Column("download_url", sa.String(500), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("source_key", sa.String(100), nullable=True),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in (
            "storage_bytes", "record_count", "shared_bytes", "shared_records", "open_bytes", "open_records")),
        sa.Column("census_updated_at", UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_entries")),
        sa.ForeignKeyConstraint(["department_code"], ["departments.code"],
                                name=op.f("fk_catalogue_entries_department_code_departments")),
        sa.UniqueConstraint("code", name=op.f("uq_catalogue_entries_code")),
        sa.UniqueConstraint("metadata_id", name=op.f("uq_catalogue_entries_metadata_id")),
        sa.UniqueConstraint("source_key", name=op.f("uq_catalogue_entries_source_key")),
        sa.UniqueConstraint("class_code", "sequence", name=op.f("uq_catalogue_entries_class_code_sequence")),
    )
    op.create_index("ix_catalogue_entries_status", "catalogue_entries", ["status"])
    op.create_index("ix_catalogue_entries_department_status", "catalogue_entries", ["department_code", "status"])
    op.create_table(
        "catalogue_entry_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("actor_department", sa.String(50), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_entry_versions")),
        sa.ForeignKeyConstraint(["entry_id"], ["catalogue_entries.id"], ondelete="CASCADE",
                                name=op.f("fk_catalogue_entry_versions_entry_id_catalogue_entries")),
        sa.UniqueConstraint("entry_id", "version", name=op.f("uq_catalogue_entry_versions_entry_id_version")),
    )
    op.create_table(
        "catalogue_search_docs",
        sa.Column("entry_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("tokens", sa.Text(), nullable=False),
        sa.Column("name_tokens", sa.Text(), nullable=False),
        sa.Column("department_code", sa.String(50), nullable=False),
        sa.Column("share_type", sa.String(10), nullable=False),
        sa.Column("open_type", sa.String(10), nullable=False),
        sa.Column("update_cycle", sa.String(10), nullable=False),
        sa.Column("class_facet", sa.String(3), nullable=False),
        sa.Column("formats_mask", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_catalogue_search_docs")),
        sa.ForeignKeyConstraint(["entry_id"], ["catalogue_entries.id"], ondelete="CASCADE",
                                name=op.f("fk_catalogue_search_docs_entry_id_catalogue_entries")),
    )
    op.create_index("ix_catalogue_search_docs_code", "catalogue_search_docs", ["code"])
    op.create_index("ix_catalogue_search_docs_facets", "catalogue_search_docs",
                    ["status", "share_type", "open_type", "department_code", "update_cycle", "class_facet",
                     "formats_mask", "code"])
    if op.get_bind().dialect.name == "postgresql":
        # Lexemes exactly as the Python analyzer produced them: no parser, no dictionary in between.
        op.execute("ALTER TABLE catalogue_search_docs ADD COLUMN tsv tsvector "
                   "GENERATED ALWAYS AS (array_to_tsvector(string_to_array(tokens, ' '))) STORED")
        op.execute("CREATE INDEX ix_catalogue_search_docs_tsv ON catalogue_search_docs USING gin (tsv)")
        op.execute("ALTER TABLE catalogue_search_docs ADD COLUMN name_tsv tsvector "
                   "GENERATED ALWAYS AS (array_to_tsvector(string_to_array(name_tokens, ' '))) STORED")
    else:
        op.execute(f"CREATE VIRTUAL TABLE catalogue_fts USING fts5(name_tokens, tokens, content='catalogue_search_docs', "
                   f"content_rowid='entry_id', tokenize=\"{FTS5_TOKENIZER}\")")
        # External-content FTS5 is kept in step by triggers (SQLite's documented pattern).
        op.execute("CREATE TRIGGER catalogue_search_docs_ai AFTER INSERT ON catalogue_search_docs BEGIN "
                   "INSERT INTO catalogue_fts(rowid, name_tokens, tokens) VALUES (new.entry_id, new.name_tokens, new.tokens); "
                   "END")
        op.execute("CREATE TRIGGER catalogue_search_docs_ad AFTER DELETE ON catalogue_search_docs BEGIN "
                   "INSERT INTO catalogue_fts(catalogue_fts, rowid, name_tokens, tokens) VALUES ('delete', "
                   "old.entry_id, old.name_tokens, old.tokens); END")
        op.execute("CREATE TRIGGER catalogue_search_docs_au AFTER UPDATE ON catalogue_search_docs BEGIN "
                   "INSERT INTO catalogue_fts(catalogue_fts, rowid, name_tokens, tokens) VALUES ('delete', "
                   "old.entry_id, old.name_tokens, old.tokens); INSERT INTO catalogue_fts(rowid, name_tokens, tokens) "
                   "VALUES (new.entry_id, new.name_tokens, new.tokens); END")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for trigger in ("catalogue_search_docs_ai", "catalogue_search_docs_ad", "catalogue_search_docs_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS catalogue_fts")
    op.drop_table("catalogue_search_docs")
    op.drop_table("catalogue_entry_versions")
    op.drop_index("ix_catalogue_entries_department_status", table_name="catalogue_entries")
    op.drop_index("ix_catalogue_entries_status", table_name="catalogue_entries")
    op.drop_table("catalogue_entries")
    op.drop_table("departments")
