"""Quarantine management and the quality-issue lifecycle over REST, with real tokens from the development IdP;
resubmitted rows are checked by the real worker running the real gate."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from basebases.models import Person
from cpip.jobs import Worker
from quality import gate_submission, submissions
from quality.models import QuarantinedRecord
from quality.runner import run_resource
from tests.quality.conftest import insert_rows, person, ric, wrong_check
from tests.quality.test_gate import submitted
from tests.support.auth_fixtures import bearer

API = "/api/v1/quality"
Tokens = Callable[[str], str]


def quarantine_batch(engine: Engine, rows: list[dict[str, Any]], department: str = "psb") -> list[int]:
    with Session(engine) as session:
        outcome = gate_submission(session, "population", rows, submission_ref="b-1", department=department,
                                  submitted_by=f"dept-{department}")
        session.commit()
    return outcome.quarantine_ids


def run_jobs(engine: Engine) -> None:
    import quality.jobs  # noqa: F401  (registers the handlers, as `cpip worker` does)

    worker = Worker(engine, lease_seconds=30)
    while worker.run_one():
        pass


@pytest.fixture
def landed() -> Iterator[list[tuple[int, str]]]:
    """What an `on_landed` hook (the exchange's, in production) is told."""
    seen: list[tuple[int, str]] = []

    def hook(_session: Session, record: QuarantinedRecord) -> None:
        seen.append((record.id, record.status))

    submissions.on_landed(hook)
    yield seen
    submissions._landed_hooks.remove(hook)


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


async def test_a_department_corrects_and_resubmits_its_quarantined_row(
        client: httpx.AsyncClient, token_for: Tokens, sync_engine: Engine, landed: list[tuple[int, str]]) -> None:
    fixed = ric(date(1990, 1, 1), seq=5)
    wrong = submitted(wrong_check(fixed))
    ids = quarantine_batch(sync_engine, [submitted(ric(date(1989, 9, 9), seq=1)), wrong])
    psb = bearer(token_for("li.na"))

    listed = await client.get(f"{API}/quarantine", headers=psb)
    assert listed.status_code == 200, listed.text
    assert [(i["id"], i["row_number"], i["status"]) for i in listed.json()["items"]] == [(ids[0], 2, "quarantined")]
    assert listed.json()["items"][0]["reasons"][0]["rule"] == "id_number.valid"

    corrected = await client.patch(f"{API}/quarantine/{ids[0]}", headers=psb, json={"record": {"id_number": fixed}})
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["record"]["id_number"] == fixed
    assert corrected.json()["original"]["id_number"] == wrong["id_number"]
    assert corrected.json()["status"] == "quarantined"

    resubmitted = await client.post(f"{API}/quarantine/{ids[0]}/resubmit", headers=psb, json={})
    assert resubmitted.status_code == 202, resubmitted.text
    assert (resubmitted.json()["status"], resubmitted.json()["attempts"]) == ("resubmitted", 1)
    run_jobs(sync_engine)

    record = (await client.get(f"{API}/quarantine/{ids[0]}", headers=psb)).json()
    assert (record["status"], record["reasons"], record["resolved_by"]) == ("landed", [], "gate")
    assert [h["action"] for h in record["history"]] == ["quarantined", "corrected", "resubmitted", "landed"]
    assert landed == [(ids[0], "landed")]
    with sync_engine.connect() as conn:
        assert set(conn.scalars(select(Person.id_number))) == {ric(date(1989, 9, 9), seq=1), fixed}
        audited = conn.execute(text("SELECT action FROM audit_events WHERE action LIKE 'quality.%' ORDER BY id"))
        assert [a for (a,) in audited][:3] == ["quality.quarantine.list", "quality.quarantine.correct",
                                              "quality.quarantine.resubmit"]
        # Subscribers to population learn of the landed record through the exchange's change feed.
        feed = conn.execute(text("SELECT op, record_key, origin FROM exchange_feed_changes "
                                 "WHERE stream = 'population' ORDER BY position")).all()
        assert [tuple(f) for f in feed] == [("insert", fixed, f"quarantine:{ids[0]}")]


async def test_a_row_still_wrong_goes_back_to_quarantine_with_new_reasons(
        client: httpx.AsyncClient, token_for: Tokens, sync_engine: Engine, landed: list[tuple[int, str]]) -> None:
    (record_id,) = quarantine_batch(sync_engine, [submitted(wrong_check(ric(date(1990, 1, 1), seq=5)))])
    psb = bearer(token_for("dept-psb"))
    response = await client.post(f"{API}/quarantine/{record_id}/resubmit", headers=psb,
                                 json={"record": {"sex": "9"}})
    assert response.status_code == 202, response.text
    run_jobs(sync_engine)
    again = (await client.get(f"{API}/quarantine/{record_id}", headers=psb)).json()
    assert again["status"] == "quarantined"
    assert again["attempts"] == 1
    assert sorted(r["rule"] for r in again["reasons"]) == ["id_number.valid", "sex.code", "sex.matches_id_number"]
    assert landed == []


async def test_discarding_needs_a_reason_and_ends_the_record(client: httpx.AsyncClient, token_for: Tokens,
                                                             sync_engine: Engine) -> None:
    (record_id,) = quarantine_batch(sync_engine, [submitted(wrong_check(ric(date(1990, 1, 1), seq=5)))])
    psb = bearer(token_for("li.na"))
    refused = problem(await client.post(f"{API}/quarantine/{record_id}/discard", headers=psb, json={}), 422)
    assert "body.reason" in [e["field"] for e in refused["errors"]]
    misspelt = await client.post(f"{API}/quarantine/{record_id}/discard", headers=psb, json={"reson": "dup"})
    assert misspelt.status_code == 422
    done = await client.post(f"{API}/quarantine/{record_id}/discard", headers=psb,
                             json={"reason": "person registered twice; kept the other record"})
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["resolved_by"]) == ("discarded", "li.na")
    late = problem(await client.post(f"{API}/quarantine/{record_id}/resubmit", headers=psb, json={}), 409)
    assert late["type"] == "/problems/quarantine-conflict"


async def test_only_the_submitting_department_sees_its_quarantine(client: httpx.AsyncClient, token_for: Tokens,
                                                                  sync_engine: Engine) -> None:
    (record_id,) = quarantine_batch(sync_engine, [submitted(wrong_check(ric(date(1990, 1, 1), seq=5)))])
    other = bearer(token_for("dept-samr"))
    assert (await client.get(f"{API}/quarantine", headers=other)).json() == {"total": 0, "items": []}
    assert problem(await client.get(f"{API}/quarantine/{record_id}", headers=other), 404)["type"] == \
        "/problems/quarantine-not-found"
    problem(await client.patch(f"{API}/quarantine/{record_id}", headers=other, json={"record": {"sex": "1"}}), 404)
    problem(await client.get(f"{API}/quarantine", headers=bearer(token_for("zhang.wei"))), 403)  # consumer
    problem(await client.get(f"{API}/quarantine"), 401)


async def test_issue_lifecycle_from_a_failing_run_to_closed(client: httpx.AsyncClient, token_for: Tokens,
                                                            sync_engine: Engine) -> None:
    insert_rows(sync_engine, Person, [person(ric(date(1990, 1, 1), seq=1)),
                                      person(wrong_check(ric(date(1990, 1, 1), seq=3)))])
    run = run_resource(sync_engine, "population")
    psb = bearer(token_for("li.na"))
    issues = (await client.get(f"{API}/issues", headers=psb, params={"resource": "population"})).json()
    assert [(i["rule"], i["status"], i["run_id"], i["department"]) for i in issues["items"]] == [
        ("id_number.valid", "raised", run.run_id, None)]
    issue_id = issues["items"][0]["id"]
    early = problem(await client.post(f"{API}/issues/{issue_id}/close", headers=psb, json={}), 409)
    assert early["type"] == "/problems/quality-issue-transition"

    assigned = await client.post(f"{API}/issues/{issue_id}/assign", headers=psb, json={"assignee": "li.na"})
    assert assigned.status_code == 200, assigned.text
    assert (assigned.json()["status"], assigned.json()["department"]) == ("assigned", "psb")
    # once psb took it on, it is psb's issue: another department no longer sees it
    problem(await client.get(f"{API}/issues/{issue_id}", headers=bearer(token_for("dept-samr"))), 404)
    fixed = (await client.post(f"{API}/issues/{issue_id}/fix", headers=psb,
                               json={"note": "check character corrected at source"})).json()
    closed = (await client.post(f"{API}/issues/{issue_id}/close", headers=psb, json={})).json()
    assert closed["status"] == "closed"
    stamps = [datetime.fromisoformat(closed[k]) for k in ("raised_at", "assigned_at", "fixed_at", "closed_at")]
    assert stamps == sorted(stamps)
    assert fixed["resolution"] == "check character corrected at source"

    window = {"start": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
              "end": (datetime.now(UTC) + timedelta(days=1)).isoformat()}
    rate = await client.get(f"{API}/rectification", headers=bearer(token_for("zhao.lei")), params=window)
    assert rate.status_code == 200, rate.text
    assert (rate.json()["raised"], rate.json()["closed"], rate.json()["rate"]) == (1, 1, 1.0)
    problem(await client.get(f"{API}/rectification", headers=psb, params=window), 403)
    naive = problem(await client.get(f"{API}/rectification", headers=bearer(token_for("zhao.lei")),
                                     params={"start": "2025-01-01T00:00:00", "end": "2025-02-01T00:00:00"}), 422)
    assert naive["field"] == "start"


async def test_issues_raised_by_hand_and_refused_input(client: httpx.AsyncClient, token_for: Tokens) -> None:
    psb = bearer(token_for("li.na"))
    created = await client.post(f"{API}/issues", headers=psb, json={
        "resource": "buildings", "title": "高度与层数不符的建筑", "description": "B-17 height 3 m, 12 floors"})
    assert created.status_code == 201, created.text
    assert (created.json()["status"], created.json()["raised_by"], created.json()["department"]) == \
        ("raised", "li.na", "psb")
    unknown = problem(await client.post(f"{API}/issues", headers=psb, json={"resource": "nope", "title": "x y z"}),
                      422)
    assert unknown["field"] == "resource"
    problem(await client.post(f"{API}/issues/{created.json()['id']}/assign", headers=psb, json={}), 422)


async def test_scores_and_runs_show_results_with_masked_keys(client: httpx.AsyncClient, token_for: Tokens,
                                                             sync_engine: Engine) -> None:
    bad = wrong_check(ric(date(1990, 1, 1), seq=3))
    insert_rows(sync_engine, Person, [person(ric(date(1990, 1, 1), seq=1)), person(bad)])
    run = run_resource(sync_engine, "population")
    consumer = bearer(token_for("zhang.wei"))
    scores = (await client.get(f"{API}/scores", headers=consumer)).json()
    assert [(s["resource"], s["run_id"], s["score"]) for s in scores] == [("population", run.run_id, run.score)]
    detail = await client.get(f"{API}/runs/{run.run_id}", headers=consumer)
    assert detail.status_code == 200, detail.text
    failed = [r for r in detail.json()["results"] if r["success"] is False]
    assert [(r["rule"], r["unexpected_count"]) for r in failed] == [("id_number.valid", 1)]
    assert failed[0]["samples"] == [{"id_number": bad[:6] + "********" + bad[-4:]}]
    listed = (await client.get(f"{API}/runs", headers=consumer, params={"resource": "population"})).json()
    assert [r["id"] for r in listed["items"]] == [run.run_id]
