"""Catalogue work in `cpip worker`: the Elasticsearch index job, and registering the base databases' resources
when a worker starts (idempotent, so every start may do it)."""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from catalogue.basebase_sync import sync_basebases
from catalogue.search import indexer  # noqa: F401  (registers the catalogue.es-index job handler)
from cpip.db import make_sync_sessionmaker, sync_transaction

log = logging.getLogger("cpip.catalogue")


def on_worker_start(engine: Engine) -> None:
    """Register (or update) the base databases' catalogue entries before the worker takes jobs."""
    try:
        with sync_transaction(make_sync_sessionmaker(engine)) as session:
            report = sync_basebases(session)
    except Exception:  # the worker's other jobs must still run; the failure is logged for the operator
        log.exception("registering the base databases' resources failed")
        return
    log.info("base-database resources registered", extra={
        "registered": report.created, "changed": report.updated, "unchanged": report.unchanged,
        "skipped": report.skipped})
