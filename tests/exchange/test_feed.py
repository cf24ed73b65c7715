"""The change feed: ordered, cursor-based, filtered and masked by the view, gap-free under concurrent writers,
and honest about retention."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cpip.clock import utcnow
from cpip.errors import BadRequest
from exchange.delivery.view import View
from exchange.feed import service as feed
from exchange.feed.models import FeedChange
from exchange.resources import load_resource
from security.masking import MaskingRule
from tests.support.auth_fixtures import bearer
from tests.support.exchange_world import DISTRICT_A, DISTRICT_B, World

STREAM = "population"


def change(number: str, district: str, op: str = "update") -> feed.Change:
    data = {"id_number": number, "name": "张伟", "hukou_region_code": district, "phone": "13800000000"}
    return feed.Change(op=op, record_key=number, region_code=district, data=data)


def view_of(session: Session, world: World, *, region: str | None = None, masked: bool = True) -> View:
    resource = load_resource(session, world.population)
    source = resource.require_source()
    masking = {"id_number": MaskingRule.id_number, "name": MaskingRule.name} if masked else {}
    return View(resource, source, ("id_number", "name", "hukou_region_code"), masking, region)


def test_changes_come_in_order_through_the_view(world: World, db: Callable[[], Any]) -> None:
    a, b = world.people[DISTRICT_A], world.people[DISTRICT_B]
    with db() as session:
        assert feed.record_changes(session, STREAM, [change(a[0], DISTRICT_A, "insert"), change(b[0], DISTRICT_B)],
                                   "test") == (1, 2)
        assert feed.record_changes(session, STREAM, [change(a[1], DISTRICT_A, "delete")], "test") == (3, 3)
    with db() as session:
        page = feed.read_changes(session, view_of(session, world, region=DISTRICT_A), after=0, limit=10)
        assert [(c["position"], c["op"]) for c in page.changes] == [(1, "insert"), (3, "delete")]
        assert (page.next_after, page.head) == (3, 3)
        records = [c["record"] for c in page.changes]
        assert records[0] == {"id_number": a[0][:6] + "*" * 8 + a[0][-4:], "name": "张*",
                              "hukou_region_code": DISTRICT_A}
        assert "phone" not in records[0]  # not in the view: never delivered, though the feed holds it
        # Rows outside the region are skipped, and the cursor still moves past them.
        page = feed.read_changes(session, view_of(session, world, region=DISTRICT_A), after=1, limit=1)
        assert [c["position"] for c in page.changes] == [3]
        assert feed.read_changes(session, view_of(session, world), after=3).changes == []
        with pytest.raises(BadRequest):
            feed.read_changes(session, view_of(session, world), after=4)


def _writer(engine: Engine, worker: int, transactions: int, committed: list[int], rollbacks: list[int],
            errors: list[BaseException]) -> None:
    rng = random.Random(worker)
    for t in range(transactions):
        session = Session(engine)
        try:
            with session.begin():
                n = rng.randint(1, 4)
                first_last = feed.record_changes(session, STREAM, [
                    feed.Change("update", f"w{worker}-t{t}-{i}", DISTRICT_A, {"n": i}) for i in range(n)], "test")
                assert first_last is not None
                # Hold the transaction open after taking positions: with a plain sequence, a later writer
                # could commit first and a reader would skip this one's positions forever.
                time.sleep(rng.uniform(0, 0.004))
                if rng.random() < 0.2:
                    raise RuntimeError("rolled back on purpose")
            committed.append(n)
        except RuntimeError:
            rollbacks.append(1)
        except Exception as exc:  # surfaced by the test: a writer must never fail
            errors.append(exc)
        finally:
            session.close()


def test_each_change_carries_its_own_commit_time_in_utc(world: World, db: Callable[[], Any],
                                                       pin_clock: Callable[[datetime], None]) -> None:
    a = world.people[DISTRICT_A]
    first, second = datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC), datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    pin_clock(first)
    with db() as session:
        feed.record_changes(session, STREAM, [change(a[0], DISTRICT_A), change(a[1], DISTRICT_A)], "test")
    pin_clock(second)
    with db() as session:
        missing = feed.Change("update", a[2], DISTRICT_A, {"id_number": a[2], "name": None})  # no region field
        feed.record_changes(session, STREAM, [missing, change(a[3], DISTRICT_A)], "test")
    with db() as session:
        page = feed.read_changes(session, view_of(session, world), after=0, limit=10)
    assert [c["changed_at"] for c in page.changes] == [
        "2026-03-01T08:00:00.123456+00:00", "2026-03-01T08:00:00.123456+00:00",
        "2026-03-01T09:30:00+00:00", "2026-03-01T09:30:00+00:00"]
    # A field the snapshot lacks, or holds as null, is delivered as null, masked or not.
    assert page.changes[2]["record"] == {"id_number": a[2][:6] + "*" * 8 + a[2][-4:], "name": None,
                                         "hukou_region_code": None}


def test_concurrent_writers_leave_no_gaps_or_duplicates(world: World, sync_engine: Engine,
                                                        db: Callable[[], Any]) -> None:
    committed: list[int] = []
    rollbacks: list[int] = []
    errors: list[BaseException] = []
    seen: list[int] = []
    done = threading.Event()
    problems: list[str] = []

    def reader() -> None:
        after = 0
        while True:
            finished = done.is_set()
            with Session(sync_engine) as session, session.begin():
                page = feed.read_changes(session, view_of(session, world, masked=False), after=after, limit=50)
            positions = [c["position"] for c in page.changes]
            if positions != list(range(after + 1, after + 1 + len(positions))):
                problems.append(f"after {after} got {positions[:5]}…")
            seen.extend(positions)
            after = page.next_after
            if finished and after == page.head and not positions:
                return

    threads = [threading.Thread(target=_writer, args=(sync_engine, w, 15, committed, rollbacks, errors))
               for w in range(6)]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join(timeout=60)
    total = sum(committed)
    assert errors == []
    assert rollbacks, "the test must include rolled-back writers"
    assert problems == []
    assert seen == list(range(1, total + 1))
    with db() as session:
        positions = list(session.scalars(select(FeedChange.position).where(FeedChange.stream == STREAM)
                                         .order_by(FeedChange.position)))
        assert positions == list(range(1, total + 1))
        assert feed.head(session, STREAM) == (total, 0)


def test_retention_removes_old_changes_and_says_so(world: World, db: Callable[[], Any],
                                                   pin_clock: Callable[[Any], None]) -> None:
    a = world.people[DISTRICT_A]
    pin_clock(utcnow() - timedelta(days=100))
    with db() as session:
        feed.record_changes(session, STREAM, [change(a[0], DISTRICT_A), change(a[1], DISTRICT_A)], "old")
    pin_clock(utcnow() + timedelta(days=100))
    with db() as session:
        feed.record_changes(session, STREAM, [change(a[2], DISTRICT_A)], "new")
    with db() as session:
        assert feed.prune(session, retention_days=90) == {STREAM: 2}
    with db() as session:
        assert session.scalar(select(func.count()).select_from(FeedChange)) == 1
        with pytest.raises(feed.FeedCursorExpired) as caught:
            feed.read_changes(session, view_of(session, world), after=0)
        assert caught.value.status == 410
        assert caught.value.extensions["resume_after"] == 2
        page = feed.read_changes(session, view_of(session, world), after=2)
        assert [c["position"] for c in page.changes] == [3]


async def test_the_feed_endpoint_answers_the_documented_change_page(
        client: httpx.AsyncClient, token_for: Callable[[str], str], world: World, db: Callable[[], Any],
        pin_clock: Callable[[datetime], None]) -> None:
    from gateway.routers.exchange import ChangePage
    from tests.gateway.test_exchange_api import apply_and_approve

    pin_clock(datetime(2026, 9, 28, 2, tzinfo=UTC))
    _, grant = await apply_and_approve(client, token_for, world)
    with db() as session:
        feed.record_changes(session, STREAM, [change(n, DISTRICT_A) for n in world.people[DISTRICT_A][:2]], "test")
    response = await client.get(f"/api/v1/exchange/resources/{world.population}/changes",
                                headers=bearer(token_for("dept-civil")), params={"after": 0})
    assert response.status_code == 200, response.text
    body = response.json()
    assert ChangePage.model_validate(body).model_dump(mode="json") == body  # exactly the documented shape
    assert (body["resource"], body["grant_id"], body["masked"]) == (world.population, grant["id"],
                                                                    ["id_number", "name"])
    assert [(c["position"], c["changed_at"]) for c in body["changes"]] == [
        (1, "2026-09-28T02:00:00+00:00"), (2, "2026-09-28T02:00:00+00:00")]
