"""The search contract (catalogue/search/base.py), run against every reachable back end.

The embedded back end always runs (SQLite FTS5, or PostgreSQL tsvector when CPIP_TEST_DATABASE_URL points
there). Elasticsearch runs only when CPIP_TEST_ELASTICSEARCH_URL is set; otherwise that parameter is skipped
with the reason shown. Expected results come from an independent oracle: plain substring containment over
each corpus entry's text, filtered by the visibility rules as DESIGN.md states them.
"""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from catalogue.departments import DEMO_DEPARTMENTS
from catalogue.domains import EntryStatus
from catalogue.search.base import SearchBackend, SearchQuery
from catalogue.search.embedded import EmbeddedBackend
from catalogue.search.service import search_catalogue
from catalogue.visibility import Scope, Viewer
from tests.catalogue.conftest import CORPUS, Spec

ES_URL = os.environ.get("CPIP_TEST_ELASTICSEARCH_URL")
NAMES = {d.code: d.name for d in DEMO_DEPARTMENTS}

CIVIL = Viewer(Scope.catalogue, "civil")
PSB = Viewer(Scope.catalogue, "psb")
NO_DEPARTMENT = Viewer(Scope.catalogue, None)
PUBLIC = Viewer(Scope.open)


@pytest.fixture(params=["embedded", "elasticsearch"])
def backend(request: pytest.FixtureRequest, corpus: dict[str, str], db: Callable[[], Any]) -> Iterator[SearchBackend]:
    if request.param == "embedded":
        yield EmbeddedBackend()  # kept in step by the catalogue service itself
        return
    if not ES_URL:
        pytest.skip("Elasticsearch contract not run: set CPIP_TEST_ELASTICSEARCH_URL to a reachable cluster")
    from catalogue.search.elastic import ElasticsearchBackend

    es = ElasticsearchBackend(ES_URL, f"cpip-contract-{uuid.uuid4().hex[:10]}")
    with db() as session:
        es.reindex(session)
    yield es
    for index in es._current_indices():
        es.client.indices.delete(index=index, ignore_unavailable=True)


def visible(spec: Spec, viewer: Viewer) -> bool:
    return viewer.sees(status=spec.status.value, share_type=spec.meta["share_type"],
                       open_type=spec.meta["open_type"], department=spec.department)


def oracle(corpus: dict[str, str], viewer: Viewer, text: str | None = None) -> set[str]:
    """Codes of the entries `viewer` may see whose text contains `text` (case-insensitive)."""
    found = set()
    for spec in CORPUS:
        haystack = "\n".join([spec.text, NAMES[spec.department], corpus[spec.key]]).lower()
        if visible(spec, viewer) and (text is None or text.lower() in haystack):
            found.add(corpus[spec.key])
    return found


async def run(asession: AsyncSession, backend: SearchBackend, viewer: Viewer, text: str | None = None,
              **kwargs: Any) -> Any:
    return await search_catalogue(asession, viewer, SearchQuery(text=text, **kwargs), backend=backend)


def strip_marks(fragment: str) -> str:
    return re.sub(r"</?em>", "", fragment)


def marked(fragment: str) -> list[str]:
    """The highlighted runs, adjacent marks merged (back ends may mark 人口 as one run or two)."""
    return re.findall(r"<em>(.*?)</em>", fragment.replace("</em><em>", ""))


@pytest.mark.parametrize("text", ["人", "人口", "法人", "登记", "管控", "GDP", "gdp", "建筑"])
@pytest.mark.parametrize("viewer", [CIVIL, PSB, NO_DEPARTMENT, PUBLIC], ids=["civil", "psb", "nodept", "public"])
async def test_short_queries_find_what_the_oracle_finds(asession: AsyncSession, backend: SearchBackend,
                                                        corpus: dict[str, str], text: str, viewer: Viewer) -> None:
    page = await run(asession, backend, viewer, text, size=100)
    assert {h.code for h in page.hits} == oracle(corpus, viewer, text)
    assert page.total == len(oracle(corpus, viewer, text))


async def test_one_and_two_character_chinese_queries_hit_the_expected_entries(
        asession: AsyncSession, backend: SearchBackend, corpus: dict[str, str]) -> None:
    # Spelled out, not only via the oracle: these are the acceptance cases.
    one = await run(asession, backend, CIVIL, "人", size=100)
    assert {h.code for h in one.hits} == {corpus["population"], corpus["legal"], corpus["marriage"]}
    two = await run(asession, backend, CIVIL, "人口", size=100)
    assert {h.code for h in two.hits} == {corpus["population"], corpus["marriage"]}
    legal = await run(asession, backend, CIVIL, "法人", size=100)
    assert {h.code for h in legal.hits} == {corpus["legal"]}


async def test_a_query_needs_every_token(asession: AsyncSession, backend: SearchBackend,
                                         corpus: dict[str, str]) -> None:
    both = await run(asession, backend, PSB, "常住 出生", size=100)
    assert {h.code for h in both.hits} == {corpus["population"]}
    assert (await run(asession, backend, PSB, "常住 法人")).total == 0
    # Four characters: three bigrams, all required; found although no document has them as a phrase query.
    assert {h.code for h in (await run(asession, backend, PSB, "人口基本")).hits} == {corpus["population"]}


async def test_restricted_entry_leaks_through_nothing(asession: AsyncSession, backend: SearchBackend,
                                                     corpus: dict[str, str]) -> None:
    """不予共享 entry of psb: civil finds nothing — no hit, no total, no facet count — psb finds it."""
    for viewer in (CIVIL, NO_DEPARTMENT, PUBLIC):
        page = await run(asession, backend, viewer, "管控")
        assert page.total == 0
        assert page.hits == []
        assert all(values == [] for values in page.facets.values())
    civil_people = await run(asession, backend, CIVIL, "人口")
    assert dict((f.value, f.count) for f in civil_people.facets["department"]) == {"psb": 1, "civil": 1}
    assert "不予共享" not in {f.value for f in civil_people.facets["share_type"]}
    psb_people = await run(asession, backend, PSB, "人口")
    assert dict((f.value, f.count) for f in psb_people.facets["department"]) == {"psb": 2}
    assert {f.value: f.count for f in psb_people.facets["share_type"]} == {"无条件共享": 1, "不予共享": 1}


async def test_drafts_and_withdrawn_entries_only_for_their_department(
        asession: AsyncSession, backend: SearchBackend, corpus: dict[str, str]) -> None:
    civil_all = {h.code for h in (await run(asession, backend, CIVIL, size=100)).hits}
    assert corpus["marriage"] in civil_all
    assert corpus["land"] not in civil_all
    nrb_all = {h.code for h in (await run(asession, backend, Viewer(Scope.catalogue, "nrb"), size=100)).hits}
    assert corpus["land"] in nrb_all
    assert corpus["marriage"] not in nrb_all
    public = await run(asession, backend, PUBLIC, size=100)
    assert {h.code for h in public.hits} == {corpus["population"], corpus["buildings"]}
    assert all(h.status == EntryStatus.published for h in public.hits)


async def test_facets_count_every_visible_match(asession: AsyncSession, backend: SearchBackend,
                                               corpus: dict[str, str]) -> None:
    page = await run(asession, backend, CIVIL, size=100)
    seen = [s for s in CORPUS if visible(s, CIVIL)]
    assert page.total == len(seen)
    expect_formats = Counter(f["category"] for s in seen for f in s.meta["formats"])
    assert {f.value: f.count for f in page.facets["format"]} == dict(expect_formats)
    assert {f.value: f.count for f in page.facets["update_cycle"]} == dict(
        Counter(s.meta["update_cycle"] for s in seen))
    expect_class = Counter(s.meta["classification"]["category"] + s.meta["classification"]["item"] for s in seen)
    assert {f.value: f.count for f in page.facets["class"]} == dict(expect_class)
    counts = [f.count for f in page.facets["department"]]
    assert counts == sorted(counts, reverse=True)
    labels = {f.value: f.label for f in page.facets["department"]}
    assert labels["psb"] == "市公安局"
    assert {f.value: f.label for f in page.facets["class"]}["101"] == "基础信息资源/人口"


async def test_filters_are_or_within_and_across_facets(asession: AsyncSession, backend: SearchBackend,
                                                       corpus: dict[str, str]) -> None:
    spreadsheet = await run(asession, backend, PSB, filters={"format": ("电子表格",)}, size=100)
    assert {h.code for h in spreadsheet.hits} == {corpus["population"], corpus["watchlist"], corpus["gdp"]}
    either = await run(asession, backend, PSB, filters={"department": ("samr", "hurd")}, size=100)
    assert {h.code for h in either.hits} == {corpus["legal"], corpus["buildings"]}
    both = await run(asession, backend, PSB, "人", filters={"share_type": ("无条件共享",), "department": ("psb",)})
    assert {h.code for h in both.hits} == {corpus["population"]}
    assert {f.value: f.count for f in both.facets["department"]} == {"psb": 1}


async def test_highlights_mark_the_match(asession: AsyncSession, backend: SearchBackend,
                                         corpus: dict[str, str]) -> None:
    page = await run(asession, backend, CIVIL, "人口")
    hit = next(h for h in page.hits if h.code == corpus["population"])
    assert strip_marks(hit.highlights["name"]) == "常住人口基本信息"
    assert marked(hit.highlights["name"]) == ["人口"]
    assert "人口" in marked(hit.highlights["abstract"])
    single = await run(asession, backend, CIVIL, "法")
    legal = next(h for h in single.hits if h.code == corpus["legal"])
    assert marked(legal.highlights["name"]) == ["法"]


async def test_name_matches_rank_first(asession: AsyncSession, backend: SearchBackend,
                                      corpus: dict[str, str]) -> None:
    page = await run(asession, backend, PSB, "人口")
    codes = [h.code for h in page.hits]
    assert set(codes) == {corpus["population"], corpus["watchlist"]}
    assert codes[0] == corpus["population"]  # 常住人口… names it; 重点管控名单 only mentions it in the abstract
    assert page.hits[0].score is not None
    assert page.hits[1].score is not None
    assert page.hits[0].score > page.hits[1].score


async def test_browse_is_ordered_by_code_and_pages_do_not_overlap(
        asession: AsyncSession, backend: SearchBackend, corpus: dict[str, str]) -> None:
    codes: list[str] = []
    for page_no in (1, 2, 3):
        page = await run(asession, backend, PSB, page=page_no, size=2)
        codes += [h.code for h in page.hits]
        assert page.total == len(oracle(corpus, PSB))
    assert codes == sorted(oracle(corpus, PSB))


async def test_a_query_of_stop_words_or_punctuation_finds_nothing(
        asession: AsyncSession, backend: SearchBackend, corpus: dict[str, str]) -> None:
    for text in ("the", "，。", "of the"):
        page = await run(asession, backend, PSB, text)
        assert page.total == 0
        assert page.hits == []


async def test_changes_reach_the_index(asession: AsyncSession, backend: SearchBackend, corpus: dict[str, str],
                                       db: Callable[[], Any]) -> None:
    from catalogue.service import system_actor, transition, update_entry

    with db() as session:
        renamed = update_entry(session, system_actor("test"), corpus["buildings"], {"name": "房屋楼盘表"})
        withdrawn = transition(session, system_actor("test"), corpus["population"], "withdraw", "replaced")
        changed = [renamed.id, withdrawn.id]
    if backend.name != "embedded":
        with db() as session:
            backend.index_entries(session, changed)  # what the worker's catalogue.es-index job does
    found = await run(asession, backend, CIVIL, "楼盘")
    assert [h.code for h in found.hits] == [corpus["buildings"]]
    assert (await run(asession, backend, CIVIL, "常住")).total == 0
