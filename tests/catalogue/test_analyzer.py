"""The Python analyzer against Elasticsearch's documented analysis, the index mapping's shape, and SQLite FTS5
keeping each analysed token whole. (No Elasticsearch server can run here: these are the checks that can.)"""

from __future__ import annotations

import html
import importlib.util
import re
import sqlite3
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalogue.search.analyzer import (
    STOPWORDS,
    analyze,
    analyze_tokens,
    highlight,
    index_tokens,
    query_terms,
    tokenize,
    tokenize_by_character,
)
from catalogue.search.base import SearchQuery
from catalogue.search.elastic import FACET_FIELDS, INDEX_ANALYZER, index_definition, search_body
from catalogue.search.embedded import fts5_match, tsquery_text
from catalogue.visibility import Scope, Viewer

MIGRATION = Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0004_catalogue.py"


def _migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("catalogue_migration_0004", MIGRATION)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------- documented Elasticsearch analysis


def test_cjk_bigram_matches_the_documented_example() -> None:
    # Elasticsearch reference, "CJK bigram token filter": standard tokenizer + cjk_bigram.
    assert analyze("東京都は、日本の首都であり") == [
        "東京", "京都", "都は", "日本", "本の", "の首", "首都", "都で", "であ", "あり"]


def test_cjk_width_folds_half_width_katakana_as_documented() -> None:
    # Reference, "CJK width token filter": ｼｰｻｲﾄﾞﾗｲﾅｰ → シーサイドライナー (voicing mark composed).
    assert analyze("ｼｰｻｲﾄﾞﾗｲﾅｰ") == analyze("シーサイドライナー") == [
        "シー", "ーサ", "サイ", "イド", "ドラ", "ライ", "イナ", "ナー"]
    assert analyze("ＣＰＩＰ２０２４") == ["cpip2024"]  # full-width Latin and digits fold to ASCII


def test_latin_text_is_tokenized_like_the_standard_tokenizer_minus_cjk_stop_words() -> None:
    # The standard analyzer's documented output for this sentence is
    # [the, 2, quick, brown, foxes, jumped, over, the, lazy, dog's, bone]; `cjk` then drops its stop words.
    assert analyze("The 2 QUICK Brown-Foxes jumped over the lazy dog's bone.") == [
        "2", "quick", "brown", "foxes", "jumped", "over", "lazy", "dog's", "bone"]
    assert analyze("U.S.A. 3.14 1,000 data_v2 e-mail") == ["u.s.a", "3.14", "1,000", "data_v2", "e", "mail"]


def test_stop_words_are_the_documented_cjk_set() -> None:
    documented = ["a", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no",
                  "not", "of", "on", "or", "s", "such", "t", "that", "the", "their", "then", "there", "these",
                  "they", "this", "to", "was", "will", "with", "www"]
    assert sorted(STOPWORDS) == documented


def test_index_form_adds_unigrams_query_form_keeps_lone_characters() -> None:
    assert analyze("人口信息", unigrams=True) == ["人", "人口", "口", "口信", "信", "信息", "息"]
    assert analyze("人口信息") == ["人口", "口信", "信息"]
    assert query_terms("人") == ["人"]
    assert query_terms("人口") == ["人口"]
    assert query_terms("法人") == ["法人"]
    # A gap (space, punctuation) ends a run: no bigram across it, lone characters stay unigrams.
    assert analyze("人 口，法") == ["人", "口", "法"]
    assert analyze("GIS数据2023年") == ["gis", "数据", "2023", "年"]
    stored = index_tokens("常住人口统计").split(" ")
    assert {"人", "人口", "口"} <= set(stored)
    assert len(stored) == len(set(stored))


def test_highlight_marks_matches_and_escapes_html() -> None:
    assert highlight("常住人口<统计>", query_terms("人口")) == "常住<em>人口</em>&lt;统计&gt;"
    assert highlight("常住人口统计", query_terms("人")) == "常住<em>人</em>口统计"
    assert highlight("常住人口统计", query_terms("法人")) is None
    long = "甲" * 300 + "人口" + "乙" * 300
    fragment = highlight(long, query_terms("人口"), fragment_size=60)
    assert fragment is not None
    assert "<em>人口</em>" in fragment
    assert len(fragment) < 80


# ------------------------------------------------------------------------------ Elasticsearch mapping


def test_index_mapping_uses_the_cjk_chain_with_unigrams_and_the_builtin_cjk_for_queries() -> None:
    definition = index_definition()
    analysis = definition["settings"]["analysis"]
    chain = analysis["analyzer"][INDEX_ANALYZER]
    assert chain["tokenizer"] == "standard"
    assert chain["filter"][:2] == ["cjk_width", "lowercase"]
    bigram = analysis["filter"][chain["filter"][2]]
    assert bigram == {"type": "cjk_bigram", "output_unigrams": True}
    stop = analysis["filter"][chain["filter"][3]]
    assert stop["type"] == "stop"
    assert sorted(stop["stopwords"]) == sorted(STOPWORDS)
    properties = definition["mappings"]["properties"]
    for field in ("name", "abstract", "text"):
        assert properties[field] == {"type": "text", "analyzer": INDEX_ANALYZER, "search_analyzer": "cjk"}
    for field in FACET_FIELDS.values():
        assert properties[field]["type"] == "keyword"
    assert definition["mappings"]["dynamic"] == "strict"


def test_search_body_puts_visibility_in_the_filter_that_also_bounds_facets() -> None:
    body = search_body(SearchQuery(text="人口", filters={"format": ("电子表格",)}), Viewer(Scope.catalogue, "civil"))
    bool_query = body["query"]["bool"]
    assert bool_query["must"] == [{"match": {"text": {"query": "人口", "operator": "and"}}}]
    assert Viewer(Scope.catalogue, "civil").es_filter() in bool_query["filter"]
    assert {"terms": {"formats": ["电子表格"]}} in bool_query["filter"]
    assert "post_filter" not in body  # aggregations see only what the filter lets through
    assert body["track_total_hits"] is True
    assert set(body["aggs"]) == set(FACET_FIELDS)


# ------------------------------------------------------------------------------------------ SQLite FTS5

SAMPLES = ["常住人口基本信息", "GDP季度核算 U.S.A. don't 3.14 1,000 data_v2", "ｼｰｻｲﾄﾞﾗｲﾅｰ 인구 통계", "x·y a:b it’s"]


@pytest.mark.parametrize("text", SAMPLES)
def test_fts5_keeps_every_analysed_token_whole(text: str) -> None:
    db = sqlite3.connect(":memory:")
    db.execute(f'CREATE VIRTUAL TABLE t USING fts5(tokens, tokenize="{_migration().FTS5_TOKENIZER}")')
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'row')")
    db.execute("INSERT INTO t(rowid, tokens) VALUES (1, ?)", (index_tokens(text),))
    assert {term for (term,) in db.execute("SELECT term FROM v")} == set(analyze(text, unigrams=True))
    for term in query_terms(text):
        assert db.execute("SELECT rowid FROM t WHERE t MATCH ?", (fts5_match([term]),)).fetchall() == [(1,)]


def test_query_literals_cannot_inject_syntax() -> None:
    assert fts5_match(['a"b', "c"]) == '"a""b" "c"'
    assert tsquery_text(["don't", "x\\y"]) == "'don''t' & 'x\\\\y'"


# ------------------------------------------------------------------------ fast paths = reference path

PIECES = st.sampled_from([*list("人口法信息東京都はシー인구abcXYZ019_.':,;·’ -，。ＡＢ１İ"), "ﾄﾞ", "ｼ", "the", "www"])


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=30).map("".join))
def test_the_fast_paths_agree_with_the_character_by_character_reference(text: str) -> None:
    assert tokenize(text) == tokenize_by_character(text)
    for unigrams in (False, True):
        assert analyze(text, unigrams=unigrams) == [t.text for t in analyze_tokens(text, unigrams=unigrams)]


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, min_size=1, max_size=30).map("".join), st.lists(PIECES, min_size=1, max_size=4).map("".join))
def test_highlight_marks_exactly_the_analysed_matches(text: str, query: str) -> None:
    terms = query_terms(query)
    marks = highlight(text, terms)
    expected = {(t.start, t.end) for t in analyze_tokens(text, unigrams=True) if t.text in set(terms)}
    assert (marks is None) == (not expected)
    if marks is not None:
        # Unescaped and unmarked, the highlight is the text; every marked run covers analysed matches.
        assert html.unescape(re.sub(r"</?em>", "", marks)) == text
        covered = "".join(html.unescape(m) for m in re.findall(r"<em>(.*?)</em>", marks))
        assert covered == "".join(text[s:e] for s, e in _merged(sorted(expected)))


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for start, end in spans:
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(s, e) for s, e in out]
