"""Data quality: Great Expectations suites per base resource, the ingest gate, quarantine, scores, issues.

Public surface (none of it imports Great Expectations, which costs ~3 s and ~250 MB; only `quality/gx_*.py`
import it, and only worker and CLI code paths reach those):

- `check_batch(resource, rows) -> GateResult` — the gate over one submitted batch (runs GX on first use);
- `gate_submission(session, resource, rows, …)` — gate, land the good rows, quarantine the bad ones;
- `quality.runner.run_resource(engine, resource)` — a whole-table run (`cpip quality run`, job `quality.run`);
- `quality.service` — quarantine management, the issue lifecycle, scores (async, for the API).
"""

from quality.gate import BatchFinding, GateResult, QualityCheckFailed, RejectedRow, check_batch
from quality.submissions import SubmissionOutcome, gate_submission

__all__ = ["BatchFinding", "GateResult", "QualityCheckFailed", "RejectedRow", "SubmissionOutcome", "check_batch",
           "gate_submission"]
