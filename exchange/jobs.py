"""The exchange's background work, for `cpip worker` (gateway/registry.py imports this module).

* `exchange.webhook.deliver` — one webhook delivery (exchange.webhooks.jobs)
* `exchange.export.build` — one bulk export file (exchange.delivery.exports)
* `exchange.submission.check` — quality-gate and land one submitted batch (exchange.submissions.service)
* `exchange.maintain` — hourly: flag overdue applications, prune the change feed past its retention, delete
  expired export files. It re-queues itself for the next hour (one job per hour however many workers run).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cpip.clock import utcnow
from cpip.jobs import JobContext, enqueue_sync, job_handler
from cpip.settings import get_settings
from exchange.applications.service import flag_overdue
from exchange.delivery import exports
from exchange.delivery.exports import remove_expired
from exchange.feed.service import prune
from exchange.submissions import service as _submissions
from exchange.webhooks import jobs as _webhook_jobs
from exchange.webhooks.outbox import DELIVER_JOB
from exchange.workdays import current_calendar

MAINTAIN_JOB = "exchange.maintain"
MAINTAIN_EVERY = timedelta(hours=1)
HANDLERS = (exports.EXPORT_JOB, _submissions.CHECK_JOB, DELIVER_JOB, MAINTAIN_JOB)
_LOADED = (_webhook_jobs,)


def _slot(now: datetime) -> tuple[str, datetime]:
    seconds = int(MAINTAIN_EVERY.total_seconds())
    start = int(now.timestamp()) // seconds * seconds
    return f"{MAINTAIN_JOB}:{start}", datetime.fromtimestamp(start + seconds, tz=now.tzinfo)


def schedule_next(session: Session, now: datetime | None = None) -> None:
    key, run_after = _slot(now or utcnow())
    enqueue_sync(session, MAINTAIN_JOB, {}, idempotency_key=key, run_after=run_after)


def maintain(session: Session, now: datetime | None = None) -> dict[str, Any]:
    settings = get_settings()
    now = now or utcnow()
    overdue = flag_overdue(session, now)
    pruned = prune(session, settings.exchange_feed_retention_days, now)
    expired = remove_expired(session, settings, now)
    return {"overdue_flagged": len(overdue), "feed_pruned": sum(pruned.values()), "exports_expired": expired}


@job_handler(MAINTAIN_JOB)
def maintain_job(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    result = maintain(ctx.session)
    schedule_next(ctx.session)
    return result


def on_worker_start(engine: Engine) -> None:
    """Refuse to work on a holiday calendar that contradicts itself; make sure the hourly maintenance is queued
    (idempotent per hour)."""
    current_calendar(get_settings())
    with Session(engine) as session, session.begin():
        schedule_next(session)
