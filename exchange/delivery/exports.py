"""Bulk export of granted data: NDJSON or CSV (UTF-8, optional BOM), written by a job in constant memory.

Rows are read in key order a batch at a time (keyset pagination, each batch in a short transaction of its own,
so an export never holds a lock or a snapshot for its whole run), rendered through the grant's view — fields,
masking, region scope exactly as a query would deliver them — and appended to the file while a SHA-256 of the
bytes is kept. The finished file is recorded with one audit event (api "export") naming its row count and
digest, and can be downloaded (HTTP Range resumable) until its link expires.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import io
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import orjson
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from catalogue.service import add_usage_sync
from cpip.clock import utcnow
from cpip.errors import Conflict, NotFound, ProblemError
from cpip.jobs import JobContext, PermanentJobError, enqueue_sync, job_handler
from cpip.settings import Settings, get_settings
from exchange.auditing import record_step
from exchange.delivery.models import Export
from exchange.delivery.view import View
from exchange.grants.models import Grant
from exchange.grants.service import actor_name, is_effective
from exchange.resources import load_resource
from security.principals import Principal, PrincipalKind, Role

EXPORT_JOB = "exchange.export.build"
BATCH = 5000
BOM = b"\xef\xbb\xbf"
# An export's audit event lists the people in it (as HMACs) up to this many; beyond, the event records the
# grant and scope that reproduce the file, since a million subject rows would cost more than the export.
SUBJECTS_IN_EVENT = 10_000


class ExportNotFound(NotFound):
    slug, title = "exchange-export-not-found", "No such export"


class ExportNotReady(Conflict):
    slug, title = "exchange-export-not-ready", "The export file is not ready"


class ExportExpired(ProblemError):
    """The export's download link has expired (or its signature does not match): request a new export."""

    slug, status, title = "exchange-export-expired", 410, "The export link has expired"


def principal_doc(principal: Principal) -> dict[str, Any]:
    return {"kind": str(principal.kind), "subject": principal.subject, "username": principal.username,
            "client_id": principal.client_id, "department": principal.department,
            "roles": sorted(str(r) for r in principal.roles), "ip": principal.ip}


def principal_of(doc: Mapping[str, Any]) -> Principal:
    return Principal(PrincipalKind(doc["kind"]), doc["subject"], username=doc.get("username"),
                     client_id=doc.get("client_id"), department=doc.get("department"),
                     roles=frozenset(Role(r) for r in doc.get("roles", [])), ip=doc.get("ip"))


# ------------------------------------------------------------------------------------------------ requesting


def create_export(session: Session, principal: Principal, view: View, fmt: str, bom: bool) -> Export:
    """Queue an export of everything `view` shows (the caller has checked the grant and charged the quota)."""
    assert view.grant is not None
    now = utcnow()
    export = Export(id="exp_" + secrets.token_hex(10), grant_id=view.grant.id, resource_code=view.resource.code,
                    department=view.grant.consumer_department, requested_by=principal_doc(principal), format=fmt,
                    bom=bom, fields=list(view.fields), status="queued", created_at=now)
    session.add(export)
    session.flush()
    enqueue_sync(session, EXPORT_JOB, {"export_id": export.id}, idempotency_key=f"{EXPORT_JOB}:{export.id}",
                 max_attempts=3)
    return export


def count_rows(session: Session, view: View) -> int:
    return int(session.scalar(view.count_statement()) or 0)


def get_export(session: Session, principal: Principal, export_id: str) -> Export:
    export = session.get(Export, export_id)
    if export is None or export.department != principal.department:
        raise ExportNotFound(f"no export {export_id!r} of your department", export_id=export_id)
    return export


def _link_mac(secret_key: str, export_id: str, expires: int) -> str:
    return hmac.new(secret_key.encode(), f"{export_id}.{expires}".encode(), hashlib.sha256).hexdigest()


def link_signature(settings: Settings, export_id: str, expires: int) -> str:
    return _link_mac(settings.secret_key.get_secret_value(), export_id, expires)


def download_link(settings: Settings, export: Export) -> str | None:
    if export.status != "ready" or export.expires_at is None:
        return None
    expires = int(export.expires_at.timestamp())
    sig = link_signature(settings, export.id, expires)
    return f"/api/v1/exchange/exports/{export.id}/file?expires={expires}&sig={sig}"


def check_link(settings: Settings, export: Export, expires: int, sig: str, now: datetime | None = None) -> Path:
    """The file behind a download link, if the link is genuine and unexpired and the file is ready."""
    # Links handed out just before a rotation were signed under what is now a previous key; they still expire.
    # Bytes, because compare_digest refuses str with non-ASCII characters (a 500 for a garbled link).
    genuine = False
    for secret_key in settings.verification_secret_keys:
        genuine |= hmac.compare_digest(_link_mac(secret_key, export.id, expires).encode(), sig.encode())
    if not genuine:
        raise ExportExpired("this download link is not valid for the export", export_id=export.id)
    if (now or utcnow()).timestamp() >= expires:
        raise ExportExpired(f"the download link of export {export.id} expired; request a new export",
                            export_id=export.id)
    if export.status != "ready" or export.file_name is None:
        raise ExportNotReady(f"export {export.id} is {export.status}", status=export.status)
    return Path(settings.export_dir) / export.file_name


# ------------------------------------------------------------------------------------------------ writing


@dataclass
class Written:
    rows: int
    size: int
    sha256: str
    subjects: list[str]
    subjects_complete: bool


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def encode_batch(view: View, rows: Sequence[Sequence[Any]], fmt: str,
                 render: Callable[[Sequence[Any]], dict[str, Any]] | None = None) -> bytes:
    """Rows of `view.statement()` as NDJSON lines or CSV records (UTF-8)."""
    render = render or view.row_renderer()
    if fmt == "ndjson":
        dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        return b"".join([dumps(render(r), option=newline) for r in rows])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(
        [[_csv_value(v) for v in render(r).values()] for r in rows])
    return buffer.getvalue().encode()


def file_head(view: View, fmt: str, bom: bool) -> bytes:
    """What a file starts with: the optional BOM, and for CSV the header row of field names."""
    head = BOM if bom else b""
    if fmt == "csv":
        header = io.StringIO()
        csv.writer(header, lineterminator="\r\n").writerow(view.fields)
        head += header.getvalue().encode()
    return head


def _fetch_batches(engine: Engine, view: View, batch_size: int) -> Iterator[Sequence[Sequence[Any]]]:
    """The view's rows in key order, a batch per short transaction (keyset pagination)."""
    after: Any = None
    while True:
        with engine.connect() as conn:
            batch = conn.execute(view.statement(after, batch_size)).all()
            conn.rollback()
        if not batch:
            return
        yield batch
        if len(batch) < batch_size:
            return
        after = batch[-1][0]  # the primary key leads every statement() row


def _prefetched(batches: Iterator[Sequence[Sequence[Any]]], depth: int = 2) -> Iterator[Sequence[Sequence[Any]]]:
    """Fetch the next batches on a thread while this one is rendered (the driver waits without the GIL);
    at most `depth` batches wait, so memory stays bounded."""
    queue: Queue[Sequence[Sequence[Any]] | BaseException | None] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                if stop.is_set():
                    return
                queue.put(batch)
            queue.put(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            queue.put(exc)

    thread = threading.Thread(target=produce, name="export-prefetch", daemon=True)
    thread.start()
    try:
        while (item := queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(Empty):
                queue.get(timeout=0.05)
        thread.join()


def write_file(engine: Engine, view: View, path: Path, fmt: str, bom: bool, batch_size: int = BATCH) -> Written:
    """Write the view's rows to `path` (via a temporary name), a batch at a time; constant memory."""
    digest = hashlib.sha256()
    rows = size = 0
    subjects: list[str] = []
    partial = path.with_name(path.name + ".part")
    path.parent.mkdir(parents=True, exist_ok=True)
    render, key = view.row_renderer(), view.key_of()
    with partial.open("wb") as out:
        head = file_head(view, fmt, bom)
        out.write(head)
        digest.update(head)
        size += len(head)
        for batch in _prefetched(_fetch_batches(engine, view, batch_size)):
            chunk = encode_batch(view, batch, fmt, render)
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
            rows += len(batch)
            if len(subjects) <= SUBJECTS_IN_EVENT:
                subjects.extend(key(r) for r in batch[: SUBJECTS_IN_EVENT + 1 - len(subjects)])
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)
    complete = len(subjects) <= SUBJECTS_IN_EVENT
    return Written(rows, size, digest.hexdigest(), subjects[:SUBJECTS_IN_EVENT], complete)


@job_handler(EXPORT_JOB)
def build_export(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    session = ctx.session
    settings = get_settings()
    export = session.get(Export, payload["export_id"])
    if export is None:
        raise PermanentJobError(f"export {payload['export_id']} does not exist")
    if export.status == "ready":
        return {"skipped": "already built"}
    grant = session.get(Grant, export.grant_id)
    if grant is None or not is_effective(grant):
        export.status, export.error = "failed", "the grant no longer allows access"
        return {"failed": export.error}
    view = View.for_grant(load_resource(session, export.resource_code), grant).narrowed(export.fields)
    export_id, fmt, bom = export.id, export.format, export.bom
    session.rollback()  # read in short transactions of its own; hold nothing while writing the file

    file_name = f"{export_id}.{'ndjson' if fmt == 'ndjson' else 'csv'}"
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    written = write_file(engine, view, Path(settings.export_dir) / file_name, fmt, bom)

    export = session.get(Export, export_id)
    assert export is not None
    assert view.grant is not None
    now = utcnow()
    export.status, export.file_name, export.row_count = "ready", file_name, written.rows
    export.size_bytes, export.sha256 = written.size, written.sha256
    export.finished_at, export.expires_at = now, now + timedelta(seconds=settings.exchange_export_ttl_seconds)
    principal = principal_of(export.requested_by)
    record_step(session, principal, settings, action="exchange.export.build", resource=export.resource_code,
                api="export", fields=view.fields, record_count=written.rows, subject_ids=written.subjects,
                grant_id=view.grant.id, purpose=view.grant.purpose, bytes_sent=written.size, ip=principal.ip,
                filters={"export": export_id, "format": fmt, "region_prefix": view.region_prefix,
                         "subjects_complete": written.subjects_complete},
                detail=f"sha256={written.sha256} rows={written.rows} by {actor_name(principal)}")
    add_usage_sync(session, export.resource_code, shared_records=written.rows)
    return {"rows": written.rows, "sha256": written.sha256, "bytes": written.size}


def expired_exports(session: Session, now: datetime | None = None) -> list[Export]:
    return list(session.scalars(select(Export).where(Export.status == "ready", Export.expires_at <= (now or utcnow()))
                                .order_by(Export.expires_at)))


def remove_expired(session: Session, settings: Settings, now: datetime | None = None) -> int:
    """Delete the files of expired exports (their records stay, marked expired)."""
    removed = 0
    for export in expired_exports(session, now):
        if export.file_name:
            (Path(settings.export_dir) / export.file_name).unlink(missing_ok=True)
        export.status, export.file_name = "expired", None
        removed += 1
    session.flush()
    return removed


def exports_of(session: Session, principal: Principal, limit: int = 50) -> list[Export]:
    return list(session.scalars(select(Export).where(Export.department == principal.department)
                                .order_by(Export.created_at.desc()).limit(limit)))
