"""Keeping the search indexes in step with the catalogue.

The embedded index is written in the same transaction as the change, so it is never ahead of or behind the
entries. Elasticsearch cannot join that transaction: a durable job is enqueued in it instead, so the index is
updated after (and only if) the change commits, and retried if Elasticsearch is briefly away.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from catalogue.search.base import SearchBackend
from catalogue.search.embedded import EmbeddedBackend
from cpip.jobs import JobContext, enqueue_sync, job_handler
from cpip.settings import SearchBackend as BackendChoice
from cpip.settings import Settings, get_settings

ES_INDEX_JOB = "catalogue.es-index"


@lru_cache(maxsize=4)
def _elasticsearch(url: str, index: str) -> SearchBackend:
    from catalogue.search.elastic import ElasticsearchBackend

    return ElasticsearchBackend(url, index)


def backend_for(settings: Settings | None = None) -> SearchBackend:
    """The back end searches use: CPIP_SEARCH_BACKEND (embedded by default)."""
    settings = settings or get_settings()
    if settings.search_backend is BackendChoice.elasticsearch:
        if not settings.elasticsearch_url:
            raise RuntimeError("CPIP_SEARCH_BACKEND=elasticsearch needs CPIP_ELASTICSEARCH_URL")
        return _elasticsearch(settings.elasticsearch_url, settings.catalogue_search_index)
    return EmbeddedBackend()


def after_change(session: Session, entry_ids: Sequence[int]) -> None:
    session.flush()
    EmbeddedBackend().index_entries(session, entry_ids)
    settings = get_settings()
    if settings.search_backend is BackendChoice.elasticsearch:
        enqueue_sync(session, ES_INDEX_JOB, {"entry_ids": list(entry_ids)}, max_attempts=10)


@job_handler(ES_INDEX_JOB)
def _index_in_elasticsearch(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    ids = [int(i) for i in payload.get("entry_ids", [])]
    backend_for().index_entries(ctx.session, ids)
    return {"indexed": len(ids)}
