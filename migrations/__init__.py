"""One Alembic history for every package; runs on SQLite (batch mode) and PostgreSQL."""
