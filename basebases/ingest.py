"""`cpip load <base> FILE`: validate every record, upsert the good ones by natural key, quarantine the rest.

Idempotent: a row whose values equal the stored ones is counted `unchanged` and not written, so loading a
file twice changes nothing. On PostgreSQL the accepted rows stream through COPY into a temporary staging
table while the file is still being read, then one `INSERT … SELECT` adds the new keys and one `UPDATE … FROM`
rewrites the rows whose values are `IS DISTINCT FROM` the stored ones; on SQLite, batches are compared with what
is stored and inserted or updated. Every rejected row is written to a reject file and to `basebase_quarantine`
(row number, field, rule, message, record).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.csv as pcsv
from sqlalchemy import Connection, Engine, bindparam, insert, literal_column, select, text, tuple_, update

from basebases import bulk, ingest_postgres
from basebases.columnar import PERSON_COLUMNS, Classified, NotColumnar, PersonClassifier, csv_batches
from basebases.deferred_indexes import lock_if_empty
from basebases.models import EconomyIndicator, LoadRun, QuarantinedRow, SpatialLayer, table_of
from basebases.readers import (
    BadRecord,
    CsvLayout,
    LoadFileError,
    Source,
    csv_layout,
    detect_format,
    read_csv,
    read_csv_header,
    read_geojson,
    read_ndjson,
)
from basebases.specs import SPECS, BaseSpec
from basebases.validation import Issue, References
from cpip.clock import utcnow

Progress = Callable[[int], None]
# Bases whose rows can be cleaned a batch at a time (basebases/columnar.py); the others go row by row.
COLUMNAR = frozenset({"population"})
logger = logging.getLogger(__name__)
SQLITE_BATCH = 2_000
REPORT_LIMIT = 50


@dataclass
class Rejection:
    row: int
    key: str | None
    issues: list[Issue]
    record: dict[str, Any]

    def lines(self, fmt: str) -> list[str]:
        where = f"feature #{self.row}" if fmt == "geojson" else f"row {self.row}"
        key = f" ({self.key})" if self.key else ""
        return [f"{where}{key}: {i.field}: {i.rule}: {i.message}" for i in self.issues]


@dataclass
class LoadReport:
    load_id: str
    base: str
    source: str
    format: str
    encoding: str | None
    srid: int
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    reject_file: str | None = None
    ignored_columns: list[str] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)  # the first REPORT_LIMIT, for display

    def as_dict(self) -> dict[str, Any]:
        return {
            "load_id": self.load_id, "base": self.base, "source": self.source, "format": self.format,
            "encoding": self.encoding, "srid": self.srid, "rows_read": self.rows_read, "inserted": self.inserted,
            "updated": self.updated, "unchanged": self.unchanged, "rejected": self.rejected,
            "reject_file": self.reject_file, "ignored_columns": self.ignored_columns,
            "rejections": [{"row": r.row, "key": r.key, "issues": [i.as_dict() for i in r.issues]}
                           for r in self.rejections],
        }


class RejectWriter:
    """The reject file: CSV (the original columns plus `_row` and `_errors`) for CSV input, else NDJSON."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.fmt = fmt
        self._fh: TextIO | None = None
        self._csv: Any = None
        self._columns: list[str] = []

    def write(self, rejection: Rejection) -> None:
        errors = [i.as_dict() for i in rejection.issues]
        if self.fmt != "csv":
            if self._fh is None:
                self._fh = self.path.open("w", encoding="utf-8")
            self._fh.write(json.dumps({"row": rejection.row, "key": rejection.key, "errors": errors,
                                       "record": rejection.record}, ensure_ascii=False, default=str) + "\n")
            return
        if self._csv is None:
            # UTF-8 with BOM: the encoding spreadsheet programs open without asking.
            self._fh = self.path.open("w", encoding="utf-8-sig", newline="")
            self._columns = [k for k in rejection.record if k is not None]
            self._csv = csv.writer(self._fh)
            self._csv.writerow(["_row", "_errors", *self._columns])
        summary = "; ".join(f"{e['field']}: {e['rule']}: {e['message']}" for e in errors)
        self._csv.writerow([rejection.row, summary, *[rejection.record.get(c, "") for c in self._columns]])

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _references(conn: Connection, spec: BaseSpec, srid: int) -> References:
    refs = References(srid=srid)
    if "building" in spec.references:
        refs.building_codes = set(conn.scalars(text("SELECT building_code FROM buildings")))
    if "layer" in spec.references:
        refs.layers = {layer.code: tuple(layer.geometry_kinds.split(","))
                       for layer in conn.execute(select(SpatialLayer.code, SpatialLayer.geometry_kinds))}
    if "indicator" in spec.references:
        refs.indicators = {row.code: row.frequency for row in
                           conn.execute(select(EconomyIndicator.code, EconomyIndicator.frequency))}
    return refs


def _records(source: Source, spec: BaseSpec, defaults: dict[str, Any]) -> Iterator[tuple[int, Any]]:
    if source.format == "csv":
        required = tuple(k for k in spec.required_columns if k not in defaults)
        return read_csv(source, spec.aliases, required, keep_unknown=spec.open_columns)
    if source.format == "ndjson":
        return read_ndjson(source, spec.aliases)
    return read_geojson(source, spec.aliases, spec.geometry_field or "geometry", spec.key[-1])


def _jsonable(record: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(record, ensure_ascii=False, default=str))
    return loaded


class _Run:
    """The state of one load while it runs."""

    def __init__(self, spec: BaseSpec, source: Source, report: LoadReport, reject_path: Path,
                 defaults: dict[str, Any], *, online: bool = False) -> None:
        self.spec = spec
        self.defaults = defaults
        self.online = online  # a first load keeps foreign keys, so the tables they reference stay readable
        self.source = source
        self.report = report
        self.rejects = RejectWriter(reject_path, source.format)
        self.quarantine: list[dict[str, Any]] = []
        self.seen: dict[tuple[Any, ...], int] = {}
        # The batch path's cheaper record of keys while no key has repeated: a set (a dict of 1M key tuples costs
        # ~0.35 s), and each batch's keys with their row numbers to build `seen` from if one ever does.
        self.batch_keys: set[str] | None = set()
        self.batch_log: list[tuple[list[str], list[int]]] = []

    def reject(self, row: int, record: Any, issues: list[Issue]) -> None:
        record = _jsonable(record)
        key = "/".join(str(record.get(k) or "") for k in self.spec.key) or None
        if self.source.format == "geojson":
            # A feature is known by its key (or id); the message must say which one, not only its position.
            issues = [Issue(i.field, i.rule, f"feature {key or '(no id)'}: {i.message}") for i in issues]
        rejection = Rejection(row, key, issues, record)
        self.report.rejected += 1
        if len(self.report.rejections) < REPORT_LIMIT:
            self.report.rejections.append(rejection)
        self.rejects.write(rejection)
        now = utcnow()
        self.quarantine.extend(
            {"load_id": self.report.load_id, "base": self.spec.name, "row_number": row,
             "natural_key": key[:100] if key else None, "field": i.field, "rule": i.rule, "message": i.message,
             "record": record, "created_at": now} for i in issues)

    def accepted(self, records: Iterable[tuple[int, Any]], refs: References,
                 progress: Progress | None) -> Iterator[dict[str, Any]]:
        defaults = self.defaults
        for number, record in records:
            self.report.rows_read += 1
            if progress is not None and self.report.rows_read % 5_000 == 0:
                progress(5_000)
            if isinstance(record, BadRecord):
                self.reject(number, record.raw, [Issue("(record)", record.rule, record.message)])
                continue
            if defaults:
                record = {**defaults, **{k: v for k, v in record.items() if v not in (None, "")}}
            row, issues = self.spec.cleaner(record, refs)
            if row is None:
                self.reject(number, dict(record), issues)
                continue
            key = tuple(row[k] for k in self.spec.key)
            first = self.seen.setdefault(key, number)
            if first != number:
                self.reject(number, record, [Issue(self.spec.key[-1], "duplicate_key",
                                                   f"the same key as row {first} of this file")])
                continue
            yield row
        if progress is not None:
            progress(self.report.rows_read % 5_000)


def _load_columnar(conn: Connection, run: _Run, layout: CsvLayout, refs: References, stamp: datetime, *,
                   into_empty: bool, progress: Progress | None) -> tuple[int, int, int]:
    """The population fast path on PostgreSQL: Arrow batches, cleaned a batch at a time, COPY'd as CSV.

    Same outcome as the row-by-row path (the first of two rows with one key wins, every reject is kept);
    raises NotColumnar, before anything is committed, when the file needs the row reader.
    """
    spec = run.spec
    key = spec.key[0]
    classifier = PersonClassifier(refs.building_codes, refs.today)
    table = table_of(spec.model)
    target = table.name if into_empty else ingest_postgres.stage(conn, spec)[0]
    written = 0
    with contextlib.ExitStack() as stack:
        if into_empty:
            stack.enter_context(ingest_postgres.bulk_target(conn, table, stamp, keep_foreign_keys=run.online))
        copy = stack.enter_context(ingest_postgres.copy_csv(conn, target, list(PERSON_COLUMNS)))
        for batch in csv_batches(run.source, layout):
            before = run.report.rows_read
            run.report.rows_read += batch.num_rows
            classified = classifier.classify(batch)
            others: list[tuple[int, dict[str, Any]]] = []
            if len(classified.other_rows):
                for position, record in zip(classified.other_rows.tolist(),
                                            batch.take(classified.other_rows).to_pylist(), strict=True):
                    row, issues = spec.cleaner(record, refs)
                    if row is None:
                        run.reject(before + position + 1, record, issues)
                    else:
                        others.append((position, row))
            cleaned = _drop_repeated_keys(run, batch, before, classified, others, key)
            if others:
                extra = pa.Table.from_pylist(
                    [{c: row[c].isoformat() if isinstance(row[c], date) else row[c] for c in PERSON_COLUMNS}
                     for _, row in others], schema=cleaned.schema)
                cleaned = pa.concat_tables([cleaned, extra])
            copy.write(_csv_bytes(cleaned))
            written += cleaned.num_rows
            if progress is not None:
                progress(batch.num_rows)
    if into_empty:
        return written, 0, 0
    return ingest_postgres.merge(conn, spec, target, written, stamp)


def _csv_bytes(table: pa.Table) -> bytes:
    """The rows as CSV for COPY: unquoted (less to write and parse) unless a value needs quotes."""
    # One chunk per column: pyarrow 26's write_csv emits garbage for a column whose first chunk is empty (a
    # batch where every row took the row cleaner).
    table = table.combine_chunks()
    for quoting in ("none", "needed"):
        sink = pa.BufferOutputStream()
        try:
            pcsv.write_csv(table, sink, pcsv.WriteOptions(include_header=False, quoting_style=quoting))
        except pa.ArrowInvalid:
            continue  # a value holds a comma, quote or line break
        data: bytes = sink.getvalue().to_pybytes()
        return data
    raise AssertionError("unreachable: quoting 'needed' accepts every value")


def _drop_repeated_keys(run: _Run, batch: pa.RecordBatch, before: int, classified: Classified,
                        others: list[tuple[int, dict[str, Any]]], key: str) -> pa.Table:
    """Reject every row whose key an earlier row of the file already had; the batch's cleaned rows that stay."""
    keys = classified.cleaned.column(key).to_pylist()
    numbers = (classified.cleaned_rows + before + 1).tolist()
    if run.batch_keys is not None:
        fresh = set(keys)
        if not others and len(fresh) == len(keys) and run.batch_keys.isdisjoint(fresh):
            run.batch_keys.update(fresh)
            run.batch_log.append((keys, numbers))
            return classified.cleaned
        # From here on, keys are tracked with the row that first had them.
        for logged_keys, logged_numbers in run.batch_log:
            run.seen.update(zip(((k,) for k in logged_keys), logged_numbers, strict=True))
        run.batch_keys, run.batch_log = None, []
    # Walk the batch in file order, so "first" means first in the file.
    dropped: set[int] = set()
    ordered = sorted([*((n, k, i) for i, (k, n) in enumerate(zip(keys, numbers, strict=True))),
                      *((before + p + 1, row[key], -1 - j) for j, (p, row) in enumerate(others))])
    kept_others = []
    for number, value, index in ordered:
        first = run.seen.setdefault((value,), number)
        if first == number:
            if index < 0:
                kept_others.append(others[-1 - index])
            continue
        record = batch.slice(number - before - 1, 1).to_pylist()[0]
        run.reject(number, record, [Issue(key, "duplicate_key", f"the same key as row {first} of this file")])
        if index >= 0:
            dropped.add(index)
    others[:] = kept_others
    if not dropped:
        return classified.cleaned
    keep = [i for i in range(len(keys)) if i not in dropped]
    return classified.cleaned.take(pa.array(keep, type=pa.int64()))


def _same(spec: BaseSpec, old: Any, new: dict[str, Any]) -> bool:
    for name in spec.compared:
        before, after = getattr(old, name), new.get(name)
        if name == spec.geometry_field:
            if before is None or after is None or not before.equals_exact(after, 0.0):
                return False
        elif before != after:
            return False
    return True


def _upsert_sqlite(conn: Connection, spec: BaseSpec, rows: Iterator[dict[str, Any]], stamp: datetime) -> \
        tuple[int, int, int]:
    table = table_of(spec.model)
    columns = bulk.insert_columns(table)
    key_columns = [table.c[k] for k in spec.key]
    inserted = updated = unchanged = 0
    for batch in bulk.batched(bulk.with_bbox(table, rows), SQLITE_BATCH):
        keys = [tuple(r[k] for k in spec.key) for r in batch]
        wanted = [*key_columns, *(table.c[c] for c in spec.compared if c not in spec.key)]
        if spec.revised:
            wanted.append(table.c.revision)
        condition = (key_columns[0].in_([k[0] for k in keys]) if len(key_columns) == 1
                     else tuple_(*key_columns).in_(keys))
        stored = {tuple(getattr(r, k) for k in spec.key): r for r in conn.execute(select(*wanted).where(condition))}
        new_rows, changed = [], []
        for row in batch:
            old = stored.get(tuple(row[k] for k in spec.key))
            values = {c: row.get(c) for c in columns if c not in ("created_at", "updated_at")}
            if old is None:
                if spec.revised and values.get("revision") is None:
                    values["revision"] = 0
                new_rows.append({**values, "created_at": stamp, "updated_at": stamp})
            elif _same(spec, old, row):
                unchanged += 1
            else:
                if spec.revised and values.get("revision") is None:
                    values["revision"] = old.revision + 1
                changed.append({**{f"k_{k}": values.pop(k) for k in spec.key}, **values, "updated_at": stamp})
        if new_rows:
            conn.execute(insert(table), new_rows)
            inserted += len(new_rows)
        if changed:
            statement = update(table).where(*(table.c[k] == bindparam(f"k_{k}") for k in spec.key))
            conn.execute(statement, changed)
            updated += len(changed)
    return inserted, updated, unchanged


@dataclass(frozen=True)
class Loaded:
    """What a load changed, told to `on_loaded` hooks inside its transaction (the exchange's feed keeps it)."""

    load_id: str
    base: str
    stamp: datetime  # created_at / updated_at of every row the load inserted or updated, and of no other row
    inserted: int
    updated: int
    was_empty: bool  # the table held no row before the load


LoadedHook = Callable[[Connection, Loaded], None]
_loaded_hooks: dict[str, LoadedHook] = {}


def on_loaded(hook: LoadedHook, *, name: str | None = None) -> LoadedHook:
    """Register a function called, last in a load's transaction, with what the load changed — the exchange, which
    base databases may not import, records the changes in its feed.

    One hook per name (default: the function's module and name): registering again replaces it, so a stand-in
    registered under the real hook's name never runs beside it."""
    _loaded_hooks[name or f"{hook.__module__}.{hook.__qualname__}"] = hook
    return hook


@dataclass
class Upserted:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, list[Issue]]] = field(default_factory=list)  # (0-based index, issues)


def upsert_records(conn: Connection, base: str, records: Iterable[dict[str, Any]], *,
                   srid: int = 4490) -> Upserted:
    """Clean and upsert records that are not in a file (submissions), in the caller's transaction.

    The same rules as `load_file`: each record through the base's cleaner, the first of two records with one
    natural key wins and the second is rejected, unchanged rows are not written. The caller keeps the rejects.
    """
    spec = SPECS[base]
    refs = _references(conn, spec, srid)
    result = Upserted()
    accepted: list[dict[str, Any]] = []
    seen: dict[tuple[Any, ...], int] = {}
    for index, record in enumerate(records):
        row, issues = spec.cleaner(record, refs)
        if row is None:
            result.rejected.append((index, issues))
            continue
        key = tuple(row[k] for k in spec.key)
        first = seen.setdefault(key, index)
        if first != index:
            result.rejected.append((index, [Issue(spec.key[-1], "duplicate_key",
                                                  f"the same key as record {first} of this batch")]))
            continue
        accepted.append(row)
    if accepted:
        upsert = ingest_postgres.upsert if conn.dialect.name == "postgresql" else _upsert_sqlite
        result.inserted, result.updated, result.unchanged = upsert(conn, spec, iter(accepted), utcnow())
    return result


def default_reject_path(path: Path, fmt: str) -> Path:
    suffix = ".csv" if fmt == "csv" else ".ndjson"
    return path.with_name(f"{path.stem}.rejects{suffix}")


def load_file(engine: Engine, base: str, path: Path, *, fmt: str | None = None, encoding: str | None = None,
              srid: int | None = None, reject_path: Path | None = None, defaults: dict[str, Any] | None = None,
              progress: Progress | None = None, online: bool = False) -> LoadReport:
    """Load one file into one base database; see the module docstring for the guarantees.

    A first load into an empty PostgreSQL table builds its indexes and foreign keys at the end and, to drop the
    foreign keys, locks the tables they reference (buildings, for persons) against reads until it commits;
    `online=True` keeps the foreign keys, so those tables stay readable, at ~3.6 s more per million rows."""
    spec = SPECS.get(base)
    if spec is None:
        raise LoadFileError(f"no base database {base!r}; choose one of {', '.join(sorted(SPECS))}")
    if not path.is_file():
        raise LoadFileError(f"{path} does not exist or is not a file")
    file_format = detect_format(path, fmt)
    if srid is not None and srid not in (4490, 4326):
        raise LoadFileError(f"--srid {srid} is not accepted; use 4490 (CGCS2000) or 4326 (WGS84)")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise LoadFileError(f"unknown encoding {encoding!r}; try utf-8, utf-8-sig, gb18030 or gbk") from None
    if file_format == "geojson" and spec.geometry_field is None:
        raise LoadFileError(f"{base} has no geometry; load it from CSV or NDJSON")
    source = Source(path=path, format=file_format, encoding=encoding,
                    srid=srid or (4326 if file_format == "geojson" else 4490))
    reject_path = reject_path or default_reject_path(path, file_format)
    report = LoadReport(load_id=uuid.uuid4().hex, base=spec.name, source=str(path), format=file_format,
                        encoding=encoding, srid=source.srid)
    with engine.begin() as conn:
        conn.execute(insert(LoadRun).values(id=report.load_id, base=spec.name, source=str(path)[:500],
                                            format=file_format, encoding=encoding, status="running",
                                            started_at=utcnow()))
    run = _Run(spec, source, report, reject_path, dict(defaults or {}), online=online)
    try:
        with engine.begin() as conn:
            postgres = conn.dialect.name == "postgresql"
            table = table_of(spec.model)
            into_empty = postgres and lock_if_empty(conn, table.name)
            # SQLite: the sync engine's BEGIN IMMEDIATE already keeps other writers out until commit.
            was_empty = into_empty or (not postgres and conn.scalar(
                select(literal_column("1")).select_from(table).limit(1)) is None)
            stamp = utcnow()
            counts = None
            if postgres and spec.name in COLUMNAR and file_format == "csv" and not run.defaults:
                counts = _try_columnar(conn, run, stamp, into_empty=into_empty, progress=progress)
                if counts is None:  # the file needs the row reader: start again from its first row
                    run.rejects.close()
                    report.rows_read = report.rejected = 0
                    report.rejections.clear()
                    run = _Run(spec, source, report, reject_path, run.defaults, online=online)
            if counts is None:
                records = _records(source, spec, run.defaults)
                first = next(records, None)  # reads the header / document: file-level errors surface here
                if srid is not None:
                    source.srid = srid  # an explicit --srid wins over the file's crs member
                refs = _references(conn, spec, source.srid)
                stream = run.accepted(_chain(first, records), refs, progress)
                if postgres:
                    counts = ingest_postgres.upsert(conn, spec, stream, stamp, into_empty=into_empty,
                                                    keep_foreign_keys=online)
                else:
                    counts = _upsert_sqlite(conn, spec, stream, stamp)
            report.inserted, report.updated, report.unchanged = counts
            report.encoding, report.srid = source.encoding, source.srid
            report.ignored_columns = list(source.ignored_columns)
            run.rejects.close()
            if report.rejected:
                report.reject_file = str(reject_path)
            for batch in bulk.batched(run.quarantine, 5_000):
                conn.execute(insert(QuarantinedRow), batch)
            conn.execute(update(LoadRun).where(LoadRun.id == report.load_id).values(
                status="succeeded", encoding=report.encoding, rows_read=report.rows_read,
                inserted=report.inserted, updated=report.updated, unchanged=report.unchanged,
                rejected=report.rejected, reject_file=report.reject_file, finished_at=utcnow()))
            loaded = Loaded(report.load_id, spec.name, stamp, report.inserted, report.updated, was_empty)
            for hook in list(_loaded_hooks.values()):
                hook(conn, loaded)
    except BaseException as exc:
        run.rejects.close()
        with engine.begin() as conn:
            conn.execute(update(LoadRun).where(LoadRun.id == report.load_id).values(
                status="failed", error=str(exc)[:4000], finished_at=utcnow()))
        raise
    return report


def _try_columnar(conn: Connection, run: _Run, stamp: datetime, *, into_empty: bool,
                  progress: Progress | None) -> tuple[int, int, int] | None:
    """The columnar load inside a savepoint; None (and nothing written) when the file needs the row reader."""
    spec, source = run.spec, run.source
    layout = csv_layout(source, read_csv_header(source), spec.aliases, spec.required_columns, spec.open_columns)
    refs = _references(conn, spec, source.srid)
    try:
        with conn.begin_nested():
            return _load_columnar(conn, run, layout, refs, stamp, into_empty=into_empty, progress=progress)
    except NotColumnar as exc:
        logger.info("loading %s row by row: %s", source.path.name, exc)
        return None


def _chain(first: tuple[int, Any] | None, rest: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    if first is None:
        return
    yield first
    yield from rest


def count_records(path: Path, fmt: str) -> int | None:
    """A quick estimate of the records in a file, for the progress bar (None for GeoJSON)."""
    if fmt == "geojson":
        return None
    lines = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            lines += chunk.count(b"\n")
    return max(lines - (1 if fmt == "csv" else 0), 0)
