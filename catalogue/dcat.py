"""DCAT-AP 3 (JSON-LD) of the open catalogue: one dcat:Catalog, a dcat:Dataset per published 无条件开放 entry,
a dcat:Distribution per format.

Properties: Catalog — dct:title, dct:description, dct:publisher (mandatory), dcat:dataset, foaf:homepage,
dct:language, dct:modified; Dataset — dct:title, dct:description (mandatory), dct:identifier, dct:publisher,
dcat:contactPoint, dcat:keyword, dct:issued, dct:modified, dct:accrualPeriodicity (EU frequency URIs),
dct:temporal, dct:spatial, dcat:landingPage, dcat:distribution, and — once quality has scored the resource —
dqv:hasQualityMeasurement (W3C Data Quality Vocabulary: the score as a dqv:QualityMeasurement of one platform
metric, with when it was computed); Distribution — dcat:accessURL (mandatory),
dcat:downloadURL, dct:license, dct:format (EU file types), dcat:mediaType, dct:title.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from basebases.codes import regions
from catalogue.models import CatalogueEntry

MEDIA_TYPE = "application/ld+json"
FREQUENCY_BASE = "http://publications.europa.eu/resource/authority/frequency/"
FILE_TYPE_BASE = "http://publications.europa.eu/resource/authority/file-type/"
IANA_BASE = "https://www.iana.org/assignments/media-types/"
LANGUAGE_ZH = "http://publications.europa.eu/resource/authority/language/ZHO"

# 更新周期 → EU frequency authority table.
FREQUENCY: dict[str, str] = {
    "实时": "CONT", "每日": "DAILY", "每周": "WEEKLY", "每月": "MONTHLY", "每季度": "QUARTERLY",
    "每半年": "ANNUAL_2", "每年": "ANNUAL", "不定期": "IRREG", "不更新": "NEVER",
}

# A distribution's concrete format (upper-cased) → (EU file type, IANA media type).
FILE_TYPES: dict[str, tuple[str, str]] = {
    "CSV": ("CSV", "text/csv"), "JSON": ("JSON", "application/json"), "XML": ("XML", "application/xml"),
    "XLSX": ("XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "XLS": ("XLS", "application/vnd.ms-excel"), "PDF": ("PDF", "application/pdf"),
    "GEOJSON": ("GEOJSON", "application/geo+json"), "SHP": ("SHP", "application/vnd.shp"),
    "NDJSON": ("JSON", "application/x-ndjson"), "JSON-LD": ("JSON_LD", "application/ld+json"),
    "HTML": ("HTML", "text/html"), "ZIP": ("ZIP", "application/zip"), "PNG": ("PNG", "image/png"),
    "JPEG": ("JPEG", "image/jpeg"), "TIFF": ("TIFF", "image/tiff"),
}

CONTEXT: dict[str, str] = {
    "dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/", "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#", "xsd": "http://www.w3.org/2001/XMLSchema#",
    "locn": "http://www.w3.org/ns/locn#", "skos": "http://www.w3.org/2004/02/skos/core#",
    "dqv": "http://www.w3.org/ns/dqv#", "prov": "http://www.w3.org/ns/prov#",
}
QUALITY_METRIC_DEFINITION = "数据质量评分: 最近一次全表质量检查中各项质量规则通过记录占比的平均值, 0–100"


def _zh(text: str) -> dict[str, str]:
    return {"@value": text, "@language": "zh"}


def _date(value: Any) -> dict[str, str]:
    if isinstance(value, datetime):
        return {"@value": value.isoformat(timespec="seconds"), "@type": "xsd:dateTime"}
    return {"@value": value.isoformat(), "@type": "xsd:date"}


def _location(code: str) -> dict[str, Any]:
    location: dict[str, Any] = {"@type": "dct:Location", "dct:identifier": code}
    region = regions().get(code)
    if region is not None:
        location["locn:geographicName"] = _zh(region.name)
    return location


def _contact(entry: CatalogueEntry) -> dict[str, Any] | None:
    if not entry.maintainer and not entry.maintainer_contact:
        return None
    contact: dict[str, Any] = {"@type": "vcard:Kind", "vcard:fn": entry.maintainer or entry.maintainer_contact}
    if entry.maintainer_contact and "@" in entry.maintainer_contact:
        contact["vcard:hasEmail"] = {"@id": "mailto:" + entry.maintainer_contact}
    elif entry.maintainer_contact:
        contact["vcard:hasTelephone"] = entry.maintainer_contact
    return contact


def _quality_measurement(entry: CatalogueEntry, landing: str, base_url: str) -> dict[str, Any] | None:
    if entry.quality_score is None or entry.quality_scored_at is None:
        return None
    return {
        "@id": f"{landing}#quality-score", "@type": "dqv:QualityMeasurement",
        "dqv:computedOn": {"@id": landing},
        # One metric for every dataset; the same @id in each, so a consumer merges them into one node.
        "dqv:isMeasurementOf": {"@id": f"{base_url}/api/v1/catalogue/dcat#quality-score-metric",
                                "@type": "dqv:Metric", "skos:definition": _zh(QUALITY_METRIC_DEFINITION),
                                "dqv:expectedDataType": {"@id": "xsd:double"}},
        "dqv:value": {"@value": entry.quality_score, "@type": "xsd:double"},
        "prov:generatedAtTime": _date(entry.quality_scored_at),
    }


def dataset(entry: CatalogueEntry, department_name: str, *, base_url: str, default_license: str) -> dict[str, Any]:
    landing = f"{base_url}/api/v1/catalogue/open/entries/{entry.code}"
    ds: dict[str, Any] = {
        "@id": landing, "@type": "dcat:Dataset",
        "dct:identifier": entry.code,
        "dct:title": _zh(entry.name), "dct:description": _zh(entry.abstract),
        "dct:publisher": {"@id": f"{base_url}/api/v1/catalogue/departments/{entry.department_code}",
                          "@type": "foaf:Agent", "foaf:name": _zh(department_name)},
        "dcat:landingPage": {"@id": landing},
        "dct:modified": _date(entry.updated_at),
        "dct:accrualPeriodicity": {"@id": FREQUENCY_BASE + FREQUENCY[entry.update_cycle]},
        "dcat:keyword": [_zh(k) for k in entry.keywords] or [_zh(entry.name)],
        "dct:spatial": _location(entry.spatial) if entry.spatial else None,
        "dcat:contactPoint": _contact(entry),
        "dqv:hasQualityMeasurement": _quality_measurement(entry, landing, base_url),
    }
    if entry.published_on is not None:
        ds["dct:issued"] = _date(entry.published_on)
    if entry.temporal_start or entry.temporal_end:
        period: dict[str, Any] = {"@type": "dct:PeriodOfTime"}
        if entry.temporal_start:
            period["dcat:startDate"] = _date(entry.temporal_start)
        if entry.temporal_end:
            period["dcat:endDate"] = _date(entry.temporal_end)
        ds["dct:temporal"] = period
    distributions = []
    for i, fmt in enumerate(entry.formats, start=1):
        detail = (fmt.get("detail") or "").strip()
        dist: dict[str, Any] = {
            "@id": f"{landing}#distribution-{i}", "@type": "dcat:Distribution",
            "dct:title": _zh(f"{entry.name}（{detail or fmt['category']}）"),
            "dct:description": _zh(str(fmt["category"])),
            "dcat:accessURL": {"@id": entry.access_url or landing},
            "dct:license": {"@id": entry.license or default_license, "@type": "dct:LicenseDocument"},
        }
        if entry.download_url:
            dist["dcat:downloadURL"] = {"@id": entry.download_url}
        known = FILE_TYPES.get(detail.upper())
        if known is not None:
            dist["dct:format"] = {"@id": FILE_TYPE_BASE + known[0]}
            dist["dcat:mediaType"] = {"@id": IANA_BASE + known[1]}
        distributions.append(dist)
    ds["dcat:distribution"] = distributions
    return {k: v for k, v in ds.items() if v is not None}


def catalog(entries: Sequence[tuple[CatalogueEntry, str]], *, base_url: str, default_license: str,
            title: str = "城市公共信息平台开放数据目录",
            description: str = "城市公共信息平台登记的无条件开放政务信息资源", publisher: str = "城市公共信息平台",
            ) -> dict[str, Any]:
    """The whole open catalogue as one JSON-LD document."""
    base_url = base_url.rstrip("/")
    modified = max((e.updated_at for e, _ in entries), default=None)
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": f"{base_url}/api/v1/catalogue/dcat", "@type": "dcat:Catalog",
        "dct:title": _zh(title), "dct:description": _zh(description),
        "dct:publisher": {"@id": f"{base_url}/", "@type": "foaf:Agent", "foaf:name": _zh(publisher)},
        "foaf:homepage": {"@id": f"{base_url}/"},
        "dct:language": {"@id": LANGUAGE_ZH},
        "dcat:dataset": [dataset(e, name, base_url=base_url, default_license=default_license) for e, name in entries],
    }
    if modified is not None:
        doc["dct:modified"] = _date(modified)
    return doc
