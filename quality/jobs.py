"""Background quality work: the scheduled whole-table run (`quality.run`) and resubmission checks.

Importing this module registers the handlers (the worker does, through gateway.registry); GX itself is imported
only when a handler runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cpip.clock import utcnow
from cpip.jobs import JobContext, PermanentJobError, enqueue_sync, job_handler
from cpip.settings import get_settings
from quality import submissions as _submissions  # noqa: F401  (registers quality.resubmit)
from quality.models import RunTrigger
from quality.suites import suites

RUN_JOB = "quality.run"


def slot_key(resource: str | None, slot: int) -> str:
    """One job per resource per time slot: a rerun handler or a second scheduler never doubles a run."""
    return f"{RUN_JOB}:{resource or 'all'}:{slot}"


def next_slot(now: datetime, every_seconds: int) -> tuple[int, datetime]:
    """The slot after the one `now` falls in, and when it begins."""
    following = int(now.timestamp()) // every_seconds + 1
    return following, datetime.fromtimestamp(following * every_seconds, tz=UTC)


@job_handler(RUN_JOB)
def run_job(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Run the suites of one resource (payload "resource") or of all; with "every", schedule the next run."""
    from quality.runner import run_resource

    resource = payload.get("resource")
    if resource is not None and resource not in suites():
        raise PermanentJobError(f"no quality suite for resource {resource!r}")
    every = payload.get("every")
    engine = ctx.session.get_bind()
    done: dict[str, Any] = {}
    for name in [resource] if resource else sorted(suites()):
        summary = run_resource(engine, name, trigger=RunTrigger.schedule if every else RunTrigger.job)  # type: ignore[arg-type]
        done[name] = {"run_id": summary.run_id, "score": summary.score, "failed": len(summary.failed)}
    if every:
        slot, due = next_slot(utcnow(), int(every))
        enqueue_sync(ctx.session, RUN_JOB, {"resource": resource, "every": int(every)},
                     idempotency_key=slot_key(resource, slot), run_after=due)
    return {"runs": done}


def schedule(session: Any, resource: str | None = None, every_seconds: int | None = None) -> str:
    """Enqueue the first run of a schedule (the handler keeps it going); returns its idempotency key."""
    every = every_seconds or get_settings().quality_run_interval_seconds
    now = utcnow()
    key = slot_key(resource, int(now.timestamp()) // every)  # this slot: run now, then once per slot
    enqueue_sync(session, RUN_JOB, {"resource": resource, "every": every}, idempotency_key=key, run_after=now)
    return key
