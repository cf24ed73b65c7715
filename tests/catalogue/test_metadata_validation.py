"""Value domains and cross-field rules of the core metadata: a bad document is refused naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from catalogue.schemas import DepartmentIn, EntryCreate, EntryMetadata
from tests.catalogue.conftest import metadata


def errors_of(doc: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as refused:
        EntryCreate.model_validate(doc)
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in refused.value.errors()}


def test_a_valid_document_passes_and_computes_the_classification_code() -> None:
    meta = EntryMetadata.model_validate(metadata("样例", classification={
        "category": "1", "item": "01", "catalog": "002", "detail": "05"}))
    assert meta.classification.code == "10100205"


def test_unknown_share_type_names_the_field() -> None:
    assert "share_type" in errors_of(metadata("x", share_type="随便共享"))


def test_no_share_without_a_basis_is_refused() -> None:
    found = errors_of(metadata("x", share_type="不予共享", share_method=None))
    assert set(found) == {"no_share_basis"}
    assert "不予共享依据" in found["no_share_basis"]


def test_codes_of_the_wrong_shape_name_their_field() -> None:
    assert "classification.item" in errors_of(metadata("x", classification={
        "category": "1", "item": "1", "catalog": "001"}))
    assert "classification.category" in errors_of(metadata("x", classification={
        "category": "4", "item": "01", "catalog": "001"}))
    assert "related_codes.0" in errors_of(metadata("x", related_codes=["101001-000001"]))
    assert "spatial" in errors_of(metadata("x", spatial="12345"))
    assert "spatial" in errors_of(metadata("x", spatial="339999"))  # right shape, not a GB/T 2260 code


def test_cross_field_rules() -> None:
    assert set(errors_of(metadata("x", share_type="有条件共享"))) == {"share_conditions"}
    assert set(errors_of(metadata("x", open_type="有条件开放"))) == {"open_conditions"}
    assert set(errors_of(metadata("x", share_method=None))) == {"share_method"}
    closed_but_open = metadata("x", share_type="不予共享", share_method=None, no_share_basis="某法第十条",
                               open_type="无条件开放")
    assert set(errors_of(closed_but_open)) == {"open_type"}
    assert "temporal.end" in errors_of(metadata("x", temporal={"start": "2024-01-01", "end": "2023-01-01"}))


def test_value_domains_of_items_and_formats() -> None:
    bad_item = metadata("x", items=[{"name": "姓名", "data_type": "Z", "sensitivity": 5}])
    found = errors_of(bad_item)
    assert {"items.0.data_type", "items.0.sensitivity"} <= set(found)
    assert "formats.0.category" in errors_of(metadata("x", formats=[{"category": "纸质"}]))
    assert "update_cycle" in errors_of(metadata("x", update_cycle="每小时"))
    twice = [{"name": "姓名", "data_type": "C", "sensitivity": 2}] * 2
    assert "姓名" in errors_of(metadata("x", items=twice))["items"]


def test_unknown_fields_are_refused_not_dropped() -> None:
    assert "share_typ" in errors_of({**metadata("x"), "share_typ": "无条件共享"})


def test_department_register_values() -> None:
    with pytest.raises(ValidationError) as refused:
        DepartmentIn.model_validate({"code": "PSB!", "name": "x", "region": "320100"})
    assert refused.value.errors()[0]["loc"] == ("code",)
    with pytest.raises(ValidationError) as refused:
        DepartmentIn.model_validate({"code": "psb", "name": "x", "region": "999999"})
    assert refused.value.errors()[0]["loc"] == ("region",)
