"""Acceptance (issue 8): a known 2026Q3 usage history, every indicator checked against a hand computation.

The hand computations are written out as arithmetic below, with the records they count named in comments; the
history itself is described in tests/exchange/indicator_history.py.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, text

from cpip.settings import Settings
from exchange.indicators import service
from exchange.indicators.manual import InputSignatureInvalid, enter_input
from exchange.indicators.rollups import roll_missing
from tests.exchange.indicator_history import History, build

D = Decimal


def r2(value: Decimal) -> Decimal:
    return value.quantize(D("0.01"), rounding=ROUND_HALF_UP)


@pytest.fixture
def history(db: Callable[[], Any], settings: Settings) -> History:
    h = build(db)
    with db() as s:
        enter_input(s, settings, name="departments_total", value=D(8), entered_by="张评估 (市大数据局)",
                    note="市政府组成部门 8 个 (2026年机构名录)")
    return h


def q3(db: Callable[[], Any], settings: Settings, **kw: Any) -> dict[str, Any]:
    with db() as s:
        return service.compute(s, settings, period="2026Q3", **kw)


def by_code(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["code"]: i for i in report["indicators"]}


def test_every_platform_indicator_matches_the_hand_computation(history: History, db: Callable[[], Any],
                                                               settings: Settings) -> None:
    report = q3(db, settings)
    got = by_code(report)
    counts = report["counts"]

    # Departments: 8 by the signed manual input; catalogued = psb, samr, nrb, hurd (stats has only a draft).
    assert counts["departments_total"] == 8
    assert counts["departments_cataloguing"] == 4
    # Published: pop, ent, secret, open, addr, house. Shareable (无条件/有条件): pop, ent, open, addr, house = 5.
    assert counts["entries_shareable"] == 5
    # Mounted (共享平台 + 接口/库表): pop, ent, open (接口), house (库表) = 4; addr goes by 邮件或介质.
    assert counts["entries_mounted"] == 4
    assert counts["entries_unconditional"] == 2  # ent, open
    # Data calls in Q3 on catalogue resources: the 11 labelled calls (out-of-quarter, audit-search and admin
    # events excluded). One error (samr feed) -> 10 not failed; denied: civil on pop, anonymous on open.
    assert counts["calls_total"] == 11
    assert counts["calls_not_failed"] == 11 - 1
    assert counts["calls_denied"] == 2
    assert counts["calls_failed"] == 1
    # Allowed sharing calls by departments: civil ent rest, civil ent graphql, civil pop, samr ent export,
    # psb house = 5; the shareable resources they touched: ent, pop, house = 3.
    assert counts["share_calls"] == 5
    assert counts["resources_called"] == 3
    # Taking part: callers civil, samr, psb + providers samr (ent), psb (pop), hurd (house) = 4 departments.
    assert counts["departments_participating"] == 4
    # Latency of the 8 allowed data calls: 12 40 80 900 150 20 200 30 ms; rank ceil(0.95 × 8) = 8 -> 900 ms,
    # whose histogram bucket is (500, 1000].
    assert counts["latency_p95_ms"] == 1000
    # Applications submitted in Q3 and not withdrawn: D (8-03), B (9-14), A (9-21), C (9-28) = 4 (E withdrawn,
    # F submitted in Q2); decided by the cut-off: D, B, A = 3.
    assert counts["applications_submitted"] == 4
    assert counts["applications_closed"] == 3
    # Decided in Q3: F (7-02), D (8-03), B (9-21), A (9-29) = 4; on time: F (due 7-06), D (no deadline),
    # A (due 9-29 across 中秋) = 3; B was due Sun 9-20 (adjusted working day) and refused 9-21: late.
    assert counts["applications_decided"] == 4
    assert counts["applications_on_time"] == 3
    # Cycles: pop 每日, ent 每月, open 每月, addr 每季度, house 每年 = 5 (secret is 不定期). On time: open (gaps
    # ≤ 31 d), addr (92 d ≤ 92), house (92 d ≤ 366) = 3; pop never landed (only a failed batch), ent 47 days.
    assert counts["entries_with_cycle"] == 5
    assert counts["entries_updated_on_time"] == 3
    # Quality issues raised in Q3: 7-05 (closed 7-20), 8-01 (fixed only), 9-15 (closed 10-03) = 3; closed = 1.
    assert counts["quality_issues_raised"] == 3
    assert counts["quality_issues_closed"] == 1
    # Open entries: open, addr = 2; machine-readable (电子表格): open = 1; downloadable: open = 1; licensed: both,
    # because the platform's default licence covers addr in the DCAT export.
    assert counts["open_entries"] == 2
    assert counts["open_machine_readable"] == 1
    assert counts["open_licensed"] == 2
    assert counts["open_downloadable"] == 1
    assert counts["open_downloads"] == 2      # k1, k2
    assert counts["open_api_calls"] == 1      # k1 (the anonymous read was denied)
    assert counts["open_apps"] == 2           # api-key:k1, api-key:k2

    expected = {
        "S1.1": r2(D("0.10") * D(4) / D(8) * 100),     # 5.00
        "S1.2": r2(D("0.08") * D(4) / D(5) * 100),     # 6.40
        "S1.3": r2(D("0.07") * D(2) / D(5) * 100),     # 2.80
        "S2.1": r2(D("0.10") * D(3) / D(5) * 100),     # 6.00
        "S2.2": r2(D("0.08") * D(4) / D(8) * 100),     # 4.00
        "S2.3": r2(D("0.08") * D(10) / D(11) * 100),   # 7.2727… -> 7.27
        "S2.4-A1": r2(D("0.5") * D(3) / D(4) * 100),   # 37.50
        "S2.4-A2": r2(D("0.5") * D(3) / D(4) * 100),   # 37.50
        "S3.1": r2(D("0.10") * D(3) / D(5) * 100),     # 6.00
        "S3.2": r2(D("0.10") * D(1) / D(3) * 100),     # 3.333… -> 3.33
        "S4.1": r2(D("0.05") * D(1) / D(2) * 100),     # 2.50
        "S4.2": r2(D("0.05") * D(2) / D(2) * 100),     # 5.00
        "S4.3": r2(D("0.05") * D(1) / D(2) * 100),     # 2.50
    }
    expected["S2.4"] = r2(D("0.14") * (expected["S2.4-A1"] + expected["S2.4-A2"]))  # 0.14 × 75 = 10.50
    expected["S1"] = expected["S1.1"] + expected["S1.2"] + expected["S1.3"]              # 14.20
    expected["S2"] = expected["S2.1"] + expected["S2.2"] + expected["S2.3"] + expected["S2.4"]  # 27.77
    expected["S3"] = expected["S3.1"] + expected["S3.2"]                                   # 9.33
    expected["S4"] = expected["S4.1"] + expected["S4.2"] + expected["S4.3"]                # 10.00
    expected["CPIP"] = expected["S1"] + expected["S2"] + expected["S3"] + expected["S4"]  # 61.30
    assert {code: D(got[code]["score"]) for code in expected} == expected
    assert D(report["total"]) == D("61.30")
    assert report["official"] is False
    assert all(i["verified"] is False for i in report["indicators"])
    measures = {m["code"]: m["value"] for m in report["measures"]}
    assert measures == {"M1": 5, "M2": 1000, "M3": 2, "M4": 1, "M5": 2, "M6": 1, "M7": 2}


def test_the_unverified_l5_set_scores_by_the_national_method_and_says_it_is_unofficial(
        history: History, db: Callable[[], Any], settings: Settings) -> None:
    report = q3(db, settings, set_name="national-l5-unverified")
    got = {code: D(i["score"]) for code, i in by_code(report).items()}
    a1 = r2(D("0.4") * D(4) / D(8) * 100)   # 20.00 目录编目率
    a2 = r2(D("0.3") * D(3) / D(5) * 100)   # 18.00 资源调用覆盖率
    a3 = r2(D("0.3") * D(4) / D(8) * 100)   # 15.00 部门共享参与率
    l5p1 = r2(D("0.04") * (a1 + a2 + a3))  # 4 % × 53.00 = 2.12
    b1 = r2(D("0.5") * D(1) / D(2) * 100)   # 25.00 可机读
    b2 = r2(D("0.5") * D(1) / D(2) * 100)   # 25.00 可下载
    l5p2 = r2(D("0.03") * (b1 + b2))        # 3 % × 50.00 = 1.50
    assert got == {"L5": l5p1 + l5p2, "L5P1": l5p1, "L5P1-A1": a1, "L5P1-A2": a2, "L5P1-A3": a3,
                   "L5P2": l5p2, "L5P2-A1": b1, "L5P2-A2": b2}
    assert report["official"] is False
    assert "UNVERIFIED" in report["notice"]


def test_a_department_scope_counts_only_that_department(history: History, db: Callable[[], Any],
                                                        settings: Settings) -> None:
    counts = q3(db, settings, department="civil")["counts"]
    # civil made 4 data calls (ent rest, ent graphql, pop denied, pop rest), none failed; 3 allowed sharing calls.
    assert (counts["calls_total"], counts["calls_not_failed"], counts["share_calls"]) == (4, 4, 3)
    assert counts["departments_total"] == 1
    assert counts["departments_participating"] == 1
    psb = q3(db, settings, department="psb")["counts"]
    # psb provides pop (有条件) and secret (不予共享): shareable 1, called 1 (civil's allowed read on 9-30);
    # applications to psb: B and A submitted in Q3, both decided; decided in Q3: F, B, A; on time: F, A.
    assert (psb["entries_shareable"], psb["resources_called"]) == (1, 1)
    assert (psb["applications_submitted"], psb["applications_closed"]) == (2, 2)
    assert (psb["applications_decided"], psb["applications_on_time"]) == (3, 2)


def test_a_cut_off_stops_the_counting(history: History, db: Callable[[], Any], settings: Settings) -> None:
    # Cut-off at the end of 15 Sep: A, C not yet submitted, B submitted but not decided; the k1/k2/anon calls
    # of 3–6 Sep are in, civil's read of 30 Sep is not.
    counts = q3(db, settings, cutoff="2026-09-15")["counts"]
    assert counts["applications_submitted"] == 2   # D, B
    assert counts["applications_closed"] == 1      # D
    assert counts["calls_total"] == 11 - 1
    assert counts["quality_issues_raised"] == 3
    assert counts["quality_issues_closed"] == 1


def test_explain_lists_the_records_behind_numerator_and_denominator(history: History, db: Callable[[], Any],
                                                                     settings: Settings) -> None:
    with db() as s:
        out = service.explain(s, settings, period="2026Q3", indicator="S2.3", limit=4)
    assert out["numerator"]["value"] == 10
    assert out["denominator"]["value"] == 11
    assert "audit_events" in out["denominator"]["query"]["sql"]
    ids: list[int] = []
    after = None
    while True:
        with db() as s:
            page = service.explain(s, settings, period="2026Q3", indicator="S2.3", part="denominator", after=after,
                                   limit=4)["denominator"]["records"]
        ids += page["items"]
        after = page["next"]
        if after is None:
            break
    assert sorted(ids) == sorted(history.calls.values())
    with db() as s:
        apps = service.explain(s, settings, period="2026Q3", indicator="S2.4-A2")
        timely = service.explain(s, settings, period="2026Q3", indicator="S3.1")
        total = service.explain(s, settings, period="2026Q3", indicator="S1.1")
    assert sorted(apps["numerator"]["records"]["items"]) == sorted(history.apps[k] for k in "FDA")
    assert sorted(apps["denominator"]["records"]["items"]) == sorted(history.apps[k] for k in "FDBA")
    assert sorted(timely["numerator"]["records"]["items"]) == sorted([history.open, history.addr, history.house])
    assert set(timely["numerator"]["detail"]["late"]) == {history.pop, history.ent}
    assert total["denominator"]["detail"]["entered_by"] == "张评估 (市大数据局)"


def test_a_closed_period_is_stored_and_recomputation_is_checked_against_it(
        history: History, db: Callable[[], Any], settings: Settings) -> None:
    with db() as s:
        first = service.report(s, settings, period="2026Q3", actor="eval")
    with db() as s:
        again = service.report(s, settings, period="2026Q3", actor="eval")
    assert first["stored"]["consistent"]
    assert again["stored"]["consistent"]
    assert again["total"] == first["total"] == "61.30"
    assert again["stored"]["id"] == first["stored"]["id"]
    # A record slipped into the closed quarter afterwards: the published numbers stay, the drift is reported.
    from tests.exchange.indicator_history import CIVIL, audit
    from tests.support.exchange_world import local
    with db() as s:
        audit(s, CIVIL, local(2026, 9, 9), history.ent, action="exchange.records.read", api="rest",
              outcome="error", latency_ms=9)
    with db() as s:
        drift = service.report(s, settings, period="2026Q3", actor="eval")
    assert drift["total"] == "61.30"
    assert drift["counts"]["calls_total"] == 11
    assert drift["stored"]["consistent"] is False
    assert drift["stored"]["recomputed_total"] != "61.30"


def test_a_tampered_manual_input_is_refused(history: History, db: Callable[[], Any], settings: Settings,
                                            sync_engine: Engine) -> None:
    with sync_engine.begin() as conn:
        conn.execute(text("UPDATE indicator_inputs SET value = 4"))
    with pytest.raises(InputSignatureInvalid):
        q3(db, settings)


def test_rollups_reconcile_exactly_with_a_full_recount(history: History, db: Callable[[], Any],
                                                       settings: Settings) -> None:
    with db() as s:
        rolled = roll_missing(s)
    assert len(rolled) > 92  # every day from the first event (30 Jun) to yesterday
    with_rollups = q3(db, settings)
    recount = q3(db, settings, use_rollups=False)
    assert with_rollups["counts"] == recount["counts"]
    assert with_rollups["total"] == recount["total"] == "61.30"
    with db() as s:
        detail = service.explain(s, settings, period="2026Q3", indicator="M1")["measure"]["detail"]
    assert detail["rolled_up_days"] == 92
    assert detail["raw_intervals"] == []
    # A partial cut-off uses the rollups for whole days and the raw log for the rest.
    partial = q3(db, settings, cutoff="2026-09-30T13:00:00+08:00")
    assert partial["counts"] == q3(db, settings, cutoff="2026-09-30T13:00:00+08:00", use_rollups=False)["counts"]


def test_the_rollup_job_runs_in_a_worker_and_queues_the_next_day(history: History, db: Callable[[], Any],
                                                                 settings: Settings, sync_engine: Engine) -> None:
    from sqlalchemy import func, select

    from cpip.jobs import Job
    from exchange.indicators.models import RollupDay
    from exchange.indicators.rollups import ROLLUP_JOB, on_worker_start
    from tests.support.exchange_world import run_jobs

    on_worker_start(sync_engine)
    on_worker_start(sync_engine)  # a second worker start queues nothing new
    assert run_jobs(sync_engine, ROLLUP_JOB) == 1  # the catch-up; the next one waits for the end of today
    with db() as s:
        assert s.scalar(select(func.count()).select_from(RollupDay)) > 92
        queued = list(s.scalars(select(Job).where(Job.kind == ROLLUP_JOB, Job.status == "queued")))
    assert len(queued) == 1
    assert q3(db, settings)["counts"] == q3(db, settings, use_rollups=False)["counts"]
