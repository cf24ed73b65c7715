"""Sealing, verification and immutability of the audit log: `cpip audit verify` finds each kind of tampering.

Tampering is done the way an attacker with database-owner rights would: through the maintenance escape (or
with the triggers' own rules), then `cpip audit verify` is run as an operator would run it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cpip.settings import Settings
from gateway.cli import app as cli_app
from gateway.registry import register_cli
from security.audit import rows
from security.audit.chain import GENESIS, SigningKey, canonical_event, subject_hmac
from security.audit.events import build_event
from security.audit.maintenance import audit_maintenance
from security.audit.models import AuditCheckpoint, AuditEvent, AuditSubject
from security.audit.sealer import seal
from security.audit.verify import Anchor, AnchorError, newest_anchor, verify
from security.audit.writer import write_events_sync
from security.principals import Principal, PrincipalKind, Role

pytestmark = pytest.mark.usefixtures("settings")

CLERK = Principal(kind=PrincipalKind.person, subject="u-li-na", username="li.na", client_id="cpip-cli",
                  department="psb", roles=frozenset({Role.provider}), ip="10.1.2.3")
ID_NUMBER = "11010119900307123X"


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    if not any(group.name == "audit" for group in cli_app.registered_groups):
        register_cli(cli_app)
    return CliRunner()


def write(engine: Engine, settings: Settings, count: int, **overrides: Any) -> list[int]:
    key = settings.audit_hmac_key.get_secret_value().encode()
    events = [build_event(CLERK, hmac_key=key, action="population.lookup", resource="population",
                          fields=["name", "id_number"], record_count=1, subject_ids=[f"{ID_NUMBER[:-2]}{i:02d}"],
                          filters={"id_number": f"{ID_NUMBER[:-2]}{i:02d}", "region": "110101"},
                          status_code=200, request_id=f"req-{i}", latency_ms=1.5 + i, bytes_sent=100 + i,
                          **overrides)
              for i in range(count)]
    return write_events_sync(engine, events, settings)


def sealed_log(engine: Engine, settings: Settings, count: int = 20) -> None:
    write(engine, settings, count)
    assert seal(engine, settings, batch_size=8).sealed == count


def run_verify(cli: CliRunner) -> tuple[int, str]:
    result = cli.invoke(cli_app, ["audit", "verify"])
    return result.exit_code, result.output


def tamper(engine: Engine, *statements: tuple[str, dict[str, Any]]) -> None:
    with engine.begin() as conn, audit_maintenance(conn):
        for sql, params in statements:
            conn.execute(text(sql), params)


def keys(settings: Settings) -> list[Any]:
    return [SigningKey.from_seed_b64(settings.audit_signing_key.get_secret_value()).public]


# ------------------------------------------------------------------------------------------- intact log


def test_intact_log_verifies_and_chain_is_reproducible(sync_engine: Engine, settings: Settings,
                                                       cli: CliRunner) -> None:
    sealed_log(sync_engine, settings, 20)
    code, output = run_verify(cli)
    assert code == 0, output
    assert "20 sealed event(s) up to seq 20" in output
    assert "OK" in output
    # The chain is exactly h_n = SHA-256(h_{n-1} ‖ canonical(e_n)), recomputable by anyone from the rows.
    with sync_engine.connect() as conn:
        previous = GENESIS
        for row in rows.stream_sealed(conn):
            previous = hashlib.sha256(previous + canonical_event(row[: rows.CHAIN_HASH])).digest()
            assert row[rows.CHAIN_HASH] == previous.hex()
        conn.rollback()
    with Session(sync_engine) as s:
        seqs = list(s.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
        assert seqs == list(range(1, 21))
        # batch_size 8: three batches, each closed by its own signed checkpoint.
        assert [c.seq for c in s.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id))] == [8, 16, 20]


def test_sealing_continues_the_chain_gap_free(sync_engine: Engine, settings: Settings) -> None:
    sealed_log(sync_engine, settings, 5)
    write(sync_engine, settings, 3)
    assert seal(sync_engine, settings).sealed == 3
    assert seal(sync_engine, settings).sealed == 0
    report = verify(sync_engine, keys(settings))
    assert report.ok
    assert report.events == 8
    assert report.last_seq == 8
    assert report.uncovered == 0


def test_raw_identifiers_are_never_stored(sync_engine: Engine, settings: Settings) -> None:
    write(sync_engine, settings, 1)
    with Session(sync_engine) as s:
        event = s.scalars(select(AuditEvent)).one()
        stored = " ".join(str(getattr(event, c)) for c in AuditEvent.__table__.columns.keys())  # noqa: SIM118
        raw = f"{ID_NUMBER[:-2]}00"
        assert raw not in stored
        hashed = subject_hmac(settings.audit_hmac_key.get_secret_value().encode(), raw)
        assert event.subject_keys == [hashed]
        assert event.filters["id_number"] == f"hmac:{hashed}"
        assert s.scalars(select(AuditSubject.subject_hmac)).all() == [hashed]


# ------------------------------------------------------------------------------------------- tampering


def test_edit_is_found_at_its_position(sync_engine: Engine, settings: Settings, cli: CliRunner) -> None:
    sealed_log(sync_engine, settings)
    tamper(sync_engine, ("UPDATE audit_events SET principal = 'someone-else' WHERE seq = 7", {}))
    code, output = run_verify(cli)
    assert code == 1
    assert "first bad position is seq 7 (broken-link)" in output


def test_deletion_is_found_at_its_position(sync_engine: Engine, settings: Settings, cli: CliRunner) -> None:
    sealed_log(sync_engine, settings)
    tamper(sync_engine, ("DELETE FROM audit_subjects WHERE event_id = (SELECT id FROM audit_events WHERE seq = 11)",
                         {}), ("DELETE FROM audit_events WHERE seq = 11", {}))
    code, output = run_verify(cli)
    assert code == 1
    assert "first bad position is seq 11 (missing)" in output


def test_insertion_is_found_at_its_position(sync_engine: Engine, settings: Settings, cli: CliRunner) -> None:
    sealed_log(sync_engine, settings)
    # The forger makes room at seq 9 and inserts an event there, copying a real row's layout.
    tamper(sync_engine,
           ("UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 9", {}),
           ("UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1000", {}),
           ("INSERT INTO audit_events (occurred_at, request_id, principal, principal_kind, client_id, department, "
            "roles, action, resource, api, filters, fields, record_count, subject_keys, grant_id, purpose, "
            "outcome, status_code, ip, latency_ms, bytes, detail, seq, chain_hash) "
            "SELECT occurred_at, 'forged', principal, principal_kind, client_id, department, roles, action, "
            "resource, api, filters, fields, record_count, subject_keys, grant_id, purpose, outcome, "
            "status_code, ip, latency_ms, bytes, detail, 9, chain_hash FROM audit_events WHERE seq = 8", {}))
    code, output = run_verify(cli)
    assert code == 1
    assert "first bad position is seq 9 (broken-link)" in output


def test_insertion_with_recomputed_hashes_is_caught_by_the_signed_checkpoint(
    sync_engine: Engine, settings: Settings
) -> None:
    sealed_log(sync_engine, settings, 16)  # checkpoints at 8 and 16
    tamper(sync_engine, ("UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 12", {}),
           ("UPDATE audit_events SET seq = seq - 999, chain_hash = NULL WHERE seq >= 1000", {}),
           ("UPDATE audit_events SET chain_hash = NULL WHERE seq = 11", {}))
    # Forge event 12 and rewrite every hash after 11 so that the chain is internally consistent again.
    with sync_engine.begin() as conn, audit_maintenance(conn):
        conn.execute(text(
            "INSERT INTO audit_events (occurred_at, request_id, principal, principal_kind, roles, action, resource, "
            "api, filters, fields, subject_keys, outcome, status_code, seq) "
            "SELECT occurred_at, 'forged', 'ghost', principal_kind, roles, action, resource, api, filters, fields, "
            "subject_keys, outcome, status_code, 12 FROM audit_events WHERE seq = 10"))
        previous = bytes.fromhex(conn.execute(text("SELECT chain_hash FROM audit_events WHERE seq = 10")).scalar_one())
        for row in list(rows.stream_sealed(conn, from_seq=11)):
            previous = hashlib.sha256(previous + canonical_event(row[: rows.CHAIN_HASH])).digest()
            conn.execute(text("UPDATE audit_events SET chain_hash = :h WHERE id = :id"),
                         {"h": previous.hex(), "id": row[rows.ROW_ID]})
    report = verify(sync_engine, keys(settings))
    assert not any(p.kind == "broken-link" for p in report.problems)  # the forgery fooled the links…
    first = report.first_problem
    assert first is not None
    assert first.kind == "checkpoint-mismatch"
    assert first.seq == 16


def test_reordering_is_found_at_its_position(sync_engine: Engine, settings: Settings, cli: CliRunner) -> None:
    sealed_log(sync_engine, settings)
    tamper(sync_engine, ("UPDATE audit_events SET seq = -1 WHERE seq = 5", {}),
           ("UPDATE audit_events SET seq = 5 WHERE seq = 6", {}),
           ("UPDATE audit_events SET seq = 6 WHERE seq = -1", {}))
    code, output = run_verify(cli)
    assert code == 1
    assert "first bad position is seq 5 (broken-link)" in output


def test_truncation_is_found_by_the_last_checkpoint(sync_engine: Engine, settings: Settings,
                                                    cli: CliRunner) -> None:
    sealed_log(sync_engine, settings)
    tamper(sync_engine,
           ("DELETE FROM audit_subjects WHERE event_id IN (SELECT id FROM audit_events WHERE seq > 17)", {}),
           ("DELETE FROM audit_events WHERE seq > 17", {}))
    code, output = run_verify(cli)
    assert code == 1
    assert "first bad position is seq 18 (truncated)" in output
    assert "up to seq 20" in output


def test_forged_checkpoint_signature_is_refused(sync_engine: Engine, settings: Settings) -> None:
    sealed_log(sync_engine, settings, 10)
    other = SigningKey.from_seed_b64("b3RoZXItZWQyNTUxOS1zZWVkLWZvci10ZXN0cy0zMjE=")
    tamper(sync_engine, ("UPDATE audit_checkpoints SET signature = :sig", {"sig": other.sign(b"x")}))
    report = verify(sync_engine, keys(settings))
    assert report.first_problem is not None
    assert report.first_problem.kind == "bad-signature"


def test_a_tail_cut_off_with_its_checkpoints_is_found_only_with_an_anchor(
        sync_engine: Engine, settings: Settings, cli: CliRunner, tmp_path: Path) -> None:
    sealed_log(sync_engine, settings)
    anchor_file = tmp_path / "anchor.json"
    exported = cli.invoke(cli_app, ["audit", "anchor", "--out", str(anchor_file)])
    assert exported.exit_code == 0, exported.output
    assert json.loads(anchor_file.read_text())["seq"] == 20
    # Someone with write access removes the newest events and every checkpoint that mentions them.
    tamper(sync_engine,
           ("DELETE FROM audit_subjects WHERE event_id IN (SELECT id FROM audit_events WHERE seq > 12)", {}),
           ("DELETE FROM audit_events WHERE seq > 12", {}),
           ("DELETE FROM audit_checkpoints WHERE seq > 12", {}))
    assert run_verify(cli)[0] == 0  # the database alone cannot tell
    result = cli.invoke(cli_app, ["audit", "verify", "--anchor", str(anchor_file)])
    assert result.exit_code == 1
    assert "first bad position is seq 13 (truncated)" in result.output
    assert "the anchor for seq 20" in result.output


def test_an_anchor_holds_the_chain_to_its_hash_and_signature(sync_engine: Engine, settings: Settings) -> None:
    sealed_log(sync_engine, settings, 10)
    with Session(sync_engine) as session:
        anchor = newest_anchor(session)
    assert anchor is not None
    assert verify(sync_engine, keys(settings), anchors=[anchor]).ok
    write(sync_engine, settings, 5)
    seal(sync_engine, settings, batch_size=8)
    assert verify(sync_engine, keys(settings), anchors=[anchor]).ok  # the log may grow past an anchor
    other_chain = Anchor.from_json({**anchor.as_json(), "chain_hash": "0" * 64})
    assert [p.kind for p in verify(sync_engine, keys(settings), anchors=[other_chain]).problems] == [
        "bad-signature"]  # its signature no longer matches what it claims
    with pytest.raises(AnchorError):
        Anchor.from_json({**anchor.as_json(), "format": "something-else"})


def test_a_malformed_anchor_file_is_a_clear_error(cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    result = cli.invoke(cli_app, ["audit", "verify", "--anchor", str(bad)])
    assert result.exit_code == 2
    assert "bad.json" in result.output


# ------------------------------------------------------------------------------------------- immutability


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET principal = 'x'",
    "UPDATE audit_events SET seq = seq + 100",
    "UPDATE audit_events SET chain_hash = NULL",
    "DELETE FROM audit_events",
    "UPDATE audit_checkpoints SET seq = 1",
    "DELETE FROM audit_checkpoints",
    "DELETE FROM audit_subjects",
])
def test_triggers_refuse_changes_to_sealed_history(sync_engine: Engine, settings: Settings, statement: str) -> None:
    sealed_log(sync_engine, settings, 3)
    with pytest.raises(DBAPIError), sync_engine.begin() as conn:
        conn.execute(text(statement))
    assert verify(sync_engine, keys(settings)).ok


def test_unsealed_event_content_cannot_change_either(sync_engine: Engine, settings: Settings) -> None:
    write(sync_engine, settings, 1)
    with pytest.raises(DBAPIError), sync_engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET outcome = 'denied'"))
    with pytest.raises(DBAPIError), sync_engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))
    assert seal(sync_engine, settings).sealed == 1  # only the sealer's one-time write goes through


# ------------------------------------------------------------------------------- parallel verification


@pytest.mark.parametrize(("statements", "first_seq", "kind"), [
    ((), None, None),
    ((("DELETE FROM audit_subjects WHERE event_id = (SELECT id FROM audit_events WHERE seq = 8)", {}),
      ("DELETE FROM audit_events WHERE seq = 8", {})), 8, "missing"),  # the last event before a split
    ((("UPDATE audit_events SET principal = 'someone-else' WHERE seq = 12", {}),), 12, "broken-link"),
    ((("UPDATE audit_events SET record_count = 99 WHERE seq = 3", {}),), 3, "broken-link"),
])
def test_parallel_verification_finds_what_the_single_walk_finds(
    sync_engine: Engine, settings: Settings, statements: tuple[tuple[str, dict[str, Any]], ...],
    first_seq: int | None, kind: str | None,
) -> None:
    sealed_log(sync_engine, settings, 20)  # checkpoints at 8, 16, 20: ranges split there on PostgreSQL
    tamper(sync_engine, *statements)
    single = verify(sync_engine, keys(settings), workers=1)
    parallel = verify(sync_engine, keys(settings), workers=2, min_segment_events=1)
    if sync_engine.dialect.name == "postgresql":
        assert parallel.segments == 2  # split at the signed checkpoint at seq 8
    else:
        assert parallel.segments == 1  # SQLite: one walk (no server to share the work with)
    for report in (single, parallel):
        first = report.first_problem
        found = (first.seq, first.kind) if first else (None, None)
        assert found == (first_seq, kind)
    assert parallel.events == single.events == (19 if kind == "missing" else 20)
