"""DCAT-AP properties of an open entry and the CSV export's safety, at the level of the builders."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest

from catalogue.dcat import FREQUENCY, catalog
from catalogue.domains import UpdateCycle
from catalogue.export import BOM, csv_chunks
from catalogue.schemas import EntryCreate
from catalogue.service import create_entry, system_actor, transition, visible_entries
from catalogue.visibility import Scope, Viewer
from tests.catalogue.conftest import metadata

pytestmark = pytest.mark.usefixtures("departments")


def test_every_update_cycle_has_an_eu_frequency() -> None:
    assert set(FREQUENCY) == {c.value for c in UpdateCycle}
    assert FREQUENCY["每半年"] == "ANNUAL_2"
    assert FREQUENCY["实时"] == "CONT"


def _open_entry(db: Callable[[], Any], **overrides: Any) -> None:
    with db() as session:
        entry = create_entry(session, system_actor("test"), EntryCreate.model_validate({
            **metadata("公交线路站点", open_type="无条件开放", **overrides), "department": "hurd"}))
        transition(session, system_actor("test"), entry.code, "submit")
        transition(session, system_actor("test"), entry.code, "approve")


def test_dataset_carries_temporal_spatial_contact_and_distributions(db: Callable[[], Any]) -> None:
    _open_entry(db, temporal={"start": "2020-01-01", "end": "2024-12-31"}, spatial="320102",
                maintainer="数据科", maintainer_contact="data@example.gov.cn", update_cycle="每季度",
                license="https://example.gov.cn/licence", download_url="https://example.gov.cn/bus.csv",
                formats=[{"category": "电子表格", "detail": "CSV"}, {"category": "流媒体", "detail": None}])
    with db() as session:
        doc = catalog(visible_entries(session, Viewer(Scope.open)), base_url="https://cpip.example/",
                      default_license="https://creativecommons.org/licenses/by/4.0/")
    assert doc["@context"]["dcat"] == "http://www.w3.org/ns/dcat#"
    assert doc["dct:publisher"]["@type"] == "foaf:Agent"
    [dataset] = doc["dcat:dataset"]
    assert dataset["dct:temporal"] == {"@type": "dct:PeriodOfTime",
                                       "dcat:startDate": {"@value": "2020-01-01", "@type": "xsd:date"},
                                       "dcat:endDate": {"@value": "2024-12-31", "@type": "xsd:date"}}
    assert dataset["dct:spatial"]["dct:identifier"] == "320102"
    assert dataset["dct:spatial"]["locn:geographicName"]["@value"] == "玄武区"
    assert dataset["dct:accrualPeriodicity"]["@id"].endswith("/frequency/QUARTERLY")
    assert dataset["dcat:contactPoint"]["vcard:hasEmail"]["@id"] == "mailto:data@example.gov.cn"
    assert dataset["dct:issued"]["@type"] == "xsd:date"
    assert dataset["dct:modified"]["@type"] == "xsd:dateTime"
    csv_dist, stream = dataset["dcat:distribution"]
    assert csv_dist["dcat:downloadURL"]["@id"] == "https://example.gov.cn/bus.csv"
    assert csv_dist["dct:license"]["@id"] == "https://example.gov.cn/licence"
    assert csv_dist["dcat:mediaType"]["@id"].endswith("/text/csv")
    assert "dct:format" not in stream  # no concrete format given: no guess
    assert stream["dcat:accessURL"]["@id"] == dataset["dcat:landingPage"]["@id"]


def test_csv_neutralises_formulas_and_writes_the_bom_once(db: Callable[[], Any]) -> None:
    _open_entry(db, abstract="=HYPERLINK(\"http://evil\")")
    with db() as session:
        rows = visible_entries(session, Viewer(Scope.open))
    text = b"".join(csv_chunks(rows, bom=True, rows_per_chunk=1)).decode("utf-8")
    assert text.startswith(BOM)
    assert text.count(BOM) == 1
    parsed = list(csv.reader(io.StringIO(text.removeprefix(BOM))))
    abstract = parsed[1][parsed[0].index("信息资源摘要")]
    assert abstract == "'=HYPERLINK(\"http://evil\")"
