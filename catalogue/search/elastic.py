"""Elasticsearch back end (official `elasticsearch` client).

Analysis: the searchable fields are indexed with `cpip_cjk_index` — the built-in `cjk` analyzer's chain
(standard tokenizer, cjk_width, lowercase, cjk_bigram, its English stop words) with `output_unigrams: true` —
and searched with the built-in `cjk` analyzer itself. Why not `cjk` on both sides: `cjk` indexes a character
that has CJK neighbours only inside bigrams, so a 1-character query (人) would miss 人口; adding unigrams on
the index side only keeps 2-character queries exact (人口 is one query token, matched against the indexed
bigram) while 1-character queries find the indexed unigrams. `catalogue.search.analyzer` is the same analysis
in Python, used by the embedded back end.

The index is reached through an alias; `reindex` builds a fresh index, bulk-loads it and swaps the alias in
one step, so searches never see a half-built index.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from elasticsearch import AsyncElasticsearch, Elasticsearch, NotFoundError, helpers
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from catalogue.search.analyzer import STOPWORDS, query_terms
from catalogue.search.base import (
    ABSTRACT_FRAGMENT,
    MAX_RESULT_WINDOW,
    SearchHit,
    SearchPage,
    SearchQuery,
    sorted_facets,
)
from catalogue.search.documents import SearchDocument, iter_documents
from catalogue.visibility import Viewer
from cpip.clock import utcnow

INDEX_ANALYZER = "cpip_cjk_index"
SEARCH_ANALYZER = "cjk"  # the built-in analyzer
FACET_FIELDS: dict[str, str] = {
    "department": "department_code", "share_type": "share_type", "open_type": "open_type",
    "format": "formats", "update_cycle": "update_cycle", "class": "class",
}
_TEXT = {"type": "text", "analyzer": INDEX_ANALYZER, "search_analyzer": SEARCH_ANALYZER}
_KEYWORD = {"type": "keyword"}


def index_definition() -> dict[str, Any]:
    """Settings and mappings of a catalogue index."""
    return {
        "settings": {
            "index": {"max_result_window": MAX_RESULT_WINDOW},
            "analysis": {
                "filter": {
                    "cpip_cjk_bigram_unigrams": {"type": "cjk_bigram", "output_unigrams": True},
                    "cpip_cjk_stop": {"type": "stop", "stopwords": sorted(STOPWORDS)},
                },
                "analyzer": {
                    INDEX_ANALYZER: {
                        "type": "custom", "tokenizer": "standard",
                        "filter": ["cjk_width", "lowercase", "cpip_cjk_bigram_unigrams", "cpip_cjk_stop"],
                    },
                },
            },
        },
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "entry_id": {"type": "long"}, "code": _KEYWORD, "name": _TEXT, "abstract": _TEXT, "text": _TEXT,
                "department_code": _KEYWORD, "department_name": _KEYWORD, "share_type": _KEYWORD,
                "open_type": _KEYWORD, "update_cycle": _KEYWORD, "class": _KEYWORD, "formats": _KEYWORD,
                "status": _KEYWORD,
            },
        },
    }


def search_body(query: SearchQuery, viewer: Viewer) -> dict[str, Any]:
    """The request body for one search: visibility and facet filters in `filter`, so they also bound the
    aggregations and the total."""
    filters: list[dict[str, Any]] = [viewer.es_filter()]
    for facet, values in query.filters.items():
        if values:
            filters.append({"terms": {FACET_FIELDS[facet]: list(values)}})
    must: list[dict[str, Any]] = [{"match_all": {}}]
    sort: list[Any] = [{"code": "asc"}]
    should: list[dict[str, Any]] = []
    if query.text and query.text.strip():
        must = [{"match": {"text": {"query": query.text, "operator": "and"}}}]
        # Matches in the name rank first, as on the embedded back end.
        should = [{"match": {"name": {"query": query.text, "operator": "and", "boost": 10}}}]
        sort = ["_score", {"code": "asc"}]
    return {
        "query": {"bool": {"must": must, "should": should, "filter": filters}},
        "aggs": {facet: {"terms": {"field": field, "size": 1000}} for facet, field in FACET_FIELDS.items()},
        "highlight": {
            "pre_tags": ["<em>"], "post_tags": ["</em>"], "encoder": "html", "require_field_match": False,
            "fields": {"name": {"number_of_fragments": 0},
                       "abstract": {"fragment_size": ABSTRACT_FRAGMENT, "number_of_fragments": 1}},
        },
        "sort": sort, "from_": query.offset, "size": query.size, "track_total_hits": True,
        "source_excludes": ["text"],
    }


def _actions(index: str, docs: Sequence[SearchDocument]) -> Iterator[dict[str, Any]]:
    for doc in docs:
        yield {"_op_type": "index", "_index": index, "_id": str(doc.entry_id), "_source": doc.es_source()}


class ElasticsearchBackend:
    name = "elasticsearch"

    def __init__(self, url: str, alias: str, *, request_timeout: float = 10.0) -> None:
        self.url = url
        self.alias = alias
        self.client = Elasticsearch(url, request_timeout=request_timeout)
        self._async: AsyncElasticsearch | None = None
        self._timeout = request_timeout

    @property
    def async_client(self) -> AsyncElasticsearch:
        if self._async is None:
            self._async = AsyncElasticsearch(self.url, request_timeout=self._timeout)
        return self._async

    async def close(self) -> None:
        self.client.close()
        if self._async is not None:
            await self._async.close()

    # ------------------------------------------------------------------------------------------- writing

    def _new_index(self) -> str:
        name = f"{self.alias}-{utcnow():%Y%m%d%H%M%S%f}"
        definition = index_definition()
        self.client.indices.create(index=name, settings=definition["settings"], mappings=definition["mappings"])
        return name

    def _current_indices(self) -> list[str]:
        try:
            return list(self.client.indices.get_alias(name=self.alias).body)
        except NotFoundError:
            return []

    def _point_alias(self, index: str, old: list[str]) -> None:
        actions: list[dict[str, Any]] = [{"remove": {"index": i, "alias": self.alias}} for i in old]
        actions.append({"add": {"index": index, "alias": self.alias, "is_write_index": True}})
        self.client.indices.update_aliases(actions=actions)

    def reindex(self, session: Session) -> int:
        old = self._current_indices()
        index = self._new_index()
        count = 0
        for batch in iter_documents(session):
            helpers.bulk(self.client, _actions(index, batch), chunk_size=1000)
            count += len(batch)
        self.client.indices.refresh(index=index)
        self._point_alias(index, old)
        for stale in old:
            self.client.indices.delete(index=stale, ignore_unavailable=True)
        return count

    def index_entries(self, session: Session, entry_ids: Sequence[int]) -> None:
        if not self._current_indices():
            self.reindex(session)
            return
        ids = list(dict.fromkeys(entry_ids))
        docs = [doc for batch in iter_documents(session, ids) for doc in batch]
        found = {d.entry_id for d in docs}
        actions: list[dict[str, Any]] = list(_actions(self.alias, docs))
        actions += [{"_op_type": "delete", "_index": self.alias, "_id": str(i)} for i in ids if i not in found]
        helpers.bulk(self.client, actions, ignore_status=(404,), refresh="wait_for")

    # ------------------------------------------------------------------------------------------- reading

    async def search(self, session: AsyncSession, query: SearchQuery, viewer: Viewer) -> SearchPage:
        if query.text and query.text.strip() and not query_terms(query.text):
            return SearchPage(0, query.page, query.size, [], sorted_facets({}), self.name)
        response = await self.async_client.search(index=self.alias, **search_body(query, viewer))
        body = response.body
        counts = {facet: {b["key"]: b["doc_count"] for b in agg["buckets"]}
                  for facet, agg in body.get("aggregations", {}).items()}
        hits: list[SearchHit] = []
        for raw in body["hits"]["hits"]:
            src = raw["_source"]
            hit = SearchHit(entry_id=int(src["entry_id"]), code=src["code"], name=src["name"],
                            abstract=src["abstract"], department=src["department_code"], status=src["status"],
                            share_type=src["share_type"], open_type=src["open_type"],
                            update_cycle=src["update_cycle"], score=raw.get("_score"))
            for field, fragments in (raw.get("highlight") or {}).items():
                if fragments:
                    hit.highlights[field] = fragments[0]
            hits.append(hit)
        total = int(body["hits"]["total"]["value"])
        return SearchPage(total, query.page, query.size, hits, sorted_facets(counts), self.name)
