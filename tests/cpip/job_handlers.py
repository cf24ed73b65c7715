"""Job handlers used only by the job tests (imported by the test and by worker subprocesses)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from cpip.jobs import JobContext, job_handler

ran_job_ids: list[int] = []


@job_handler("test.record")
def record(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    ran_job_ids.append(ctx.job_id)
    return {"seen": payload.get("n")}


@job_handler("test.fail")
def fail(ctx: JobContext, payload: dict[str, Any]) -> None:
    raise RuntimeError(f"boom on attempt {ctx.attempt}")


@job_handler("test.slow_first_attempt")
def slow_first_attempt(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    marker = Path(payload["marker"])
    with marker.open("a") as f:
        f.write(f"{os.getpid()} attempt {ctx.attempt}\n")
    if ctx.attempt == 1:
        time.sleep(60)  # the test kills this worker with SIGKILL while it sleeps
    return {"finished_by": os.getpid()}
