"""Submissions: idempotent by batch id, quality-gated before rows land, rejects quarantined with reasons, landed
changes in the change feed, and only the resource's own department may submit."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, select

from basebases.demo_people import id_number
from basebases.models import Person
from cpip.errors import Forbidden, ValidationFailed
from exchange.feed import service as feed
from exchange.feed.models import FeedChange
from exchange.submissions import service as submissions
from exchange.submissions.service import BatchIdReused, check_submission  # noqa: F401 - registers the job
from tests.exchange.test_applications import CIVIL, PSB
from tests.support.exchange_world import DISTRICT_A, World, run_jobs


def person(number: str, name: str, phone: str, district: str = DISTRICT_A) -> dict[str, Any]:
    born = f"{number[6:10]}-{number[10:12]}-{number[12:14]}"
    return {"id_number": number, "name": name, "sex": "1", "birth_date": born, "hukou_region_code": district,
            "phone": phone, "status": "normal"}


def ndjson(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def test_a_batch_is_gated_lands_and_enters_the_feed(world: World, db: Callable[[], Any],
                                                    sync_engine: Engine) -> None:
    newcomer = id_number(DISTRICT_A, date(1990, 5, 6), 123)
    existing = world.people[DISTRICT_A][0]
    broken = existing[:-1] + ("0" if existing[-1] != "0" else "1")  # wrong check digit
    body = ndjson([person(newcomer, "赵新", "13900000001"), person(existing, "张伟", "13900000002"),
                   person(broken, "钱错", "13900000003")])
    with db() as session:
        submission, created = submissions.submit(session, PSB, world.population, "psb-2026-11-26-001", "ndjson", body)
        assert created
        assert (submission.status, submission.rows_total) == ("received", 3)
    with db() as session:  # the same batch again: the same submission, nothing new
        again, created = submissions.submit(session, PSB, world.population, "psb-2026-11-26-001", "ndjson", body)
        assert (again.id, created) == (submission.id, False)
    with pytest.raises(BatchIdReused), db() as session:
        submissions.submit(session, PSB, world.population, "psb-2026-11-26-001", "ndjson", body + b"\n{}")

    assert run_jobs(sync_engine, submissions.CHECK_JOB) >= 1
    with db() as session:
        done = submissions.get_submission(session, PSB, "psb-2026-11-26-001")
        assert (done.status, done.landed, done.inserted, done.updated, done.quarantined) == ("landed", 2, 1, 1, 1)
        rejected = submissions.rejected_rows(session, done)
        assert [r["row_number"] for r in rejected] == [3]
        assert any(reason["field"] == "id_number" for reason in rejected[0]["reasons"])
        assert session.scalar(select(Person.phone).where(Person.id_number == existing)) == "13900000002"
        assert session.scalar(select(Person.id).where(Person.id_number == broken)) is None
        changes = list(session.scalars(select(FeedChange).order_by(FeedChange.position)))
        assert [(c.position, c.op, c.record_key) for c in changes] == [(1, "update", existing),
                                                                      (2, "insert", newcomer)]
        assert (done.feed_first, done.feed_last) == (1, 2)
        assert changes[1].data["phone"] == "13900000001"
        assert feed.head(session, "population") == (2, 0)


def test_only_the_owning_department_submits_and_bad_batches_are_named(world: World,
                                                                     db: Callable[[], Any]) -> None:
    body = ndjson([person(world.people[DISTRICT_A][0], "张伟", "13900000002")])
    with pytest.raises(Forbidden), db() as session:
        submissions.submit(session, CIVIL, world.population, "b1", "ndjson", body)
    with pytest.raises(ValidationFailed) as caught, db() as session:
        submissions.submit(session, PSB, world.population, "b2", "ndjson", b'{"id_number": "1"}\nnot json\n')
    assert "line 2" in caught.value.detail
    with db() as session:
        csv_body = "\ufeffid_number,name,sex,hukou_region_code,phone\r\n" \
                   f"{world.people[DISTRICT_A][1]},王芳,1,{DISTRICT_A},\r\n"
        submission, _ = submissions.submit(session, PSB, world.population, "b3", "csv", csv_body.encode())
        assert submission.rows_total == 1
