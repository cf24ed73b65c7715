"""What a loader needs to know about each base database: its table, natural key, cleaner and column names."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import JSON

from basebases import validation
from basebases.bulk import insert_columns
from basebases.models import (
    Building,
    EconomyIndicator,
    EconomyObservation,
    LegalEntity,
    Person,
    SpatialFeature,
    table_of,
)
from cpip.db import Base

DERIVED = frozenset({"created_at", "updated_at", "minx", "miny", "maxx", "maxy"})

# Header names seen in departments' spreadsheets, beyond each column's own 信息项 label.
EXTRA_ALIASES = {
    "population": {"身份证号": "id_number", "身份证号码": "id_number", "手机号": "phone", "手机号码": "phone",
                   "电话": "phone", "户籍地": "hukou_region_code", "户籍地区划代码": "hukou_region_code",
                   "住址": "residence_address", "建筑物编码": "building_code", "状态": "status"},
    "legal_entities": {"企业名称": "name", "类型": "entity_type", "注册资本": "registered_capital",
                       "地址": "registered_address", "行政区划代码": "region_code", "建筑物编码": "building_code"},
    "buildings": {"基底轮廓WKT": "footprint_wkt", "wkt": "footprint_wkt", "WKT": "footprint_wkt"},
    "spatial_features": {"wkt": "geom_wkt", "WKT": "geom_wkt", "图层": "layer_code", "编码": "feature_key"},
    "economy_indicators": {"代码": "code", "名称": "name", "单位": "unit"},
    "economy_observations": {"指标": "indicator_code", "地区": "region_code", "时期": "period", "数值": "value"},
}


@dataclass(frozen=True)
class BaseSpec:
    name: str
    model: type[Base]
    key: tuple[str, ...]
    cleaner: validation.Cleaner
    geometry_field: str | None = None
    references: frozenset[str] = frozenset()
    revised: bool = False  # keeps a revision count that rises on every change
    open_columns: bool = False  # unknown columns are data (spatial attributes), not noise
    aliases: dict[str, str] = field(default_factory=dict)

    @property
    def compared(self) -> list[str]:
        """The columns whose change makes a row `updated` (natural key and bookkeeping excluded)."""
        skip = DERIVED | set(self.key) | ({"revision"} if self.revised else set())
        return [c for c in insert_columns(table_of(self.model)) if c not in skip]

    @property
    def json_columns(self) -> set[str]:
        return {c.name for c in table_of(self.model).columns if isinstance(c.type, JSON)}

    @property
    def required_columns(self) -> tuple[str, ...]:
        return self.key


def _aliases(name: str, model: type[Base], geometry_field: str | None) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for column in table_of(model).columns:
        if column.name in DERIVED and column.name not in ("created_at", "updated_at"):
            continue
        aliases[column.name] = column.name
        label = column.info.get("label")
        if label:
            aliases[label] = column.name
    if geometry_field:
        aliases[f"{geometry_field}_wkt"] = f"{geometry_field}_wkt"
    aliases.update(EXTRA_ALIASES.get(name, {}))
    for drop in ("created_at", "updated_at"):
        aliases.pop(drop, None)
    return aliases


def _spec(name: str, model: type[Base], key: tuple[str, ...], cleaner: validation.Cleaner,
          geometry_field: str | None = None, **options: object) -> BaseSpec:
    return BaseSpec(name=name, model=model, key=key, cleaner=cleaner, geometry_field=geometry_field,
                    aliases=_aliases(name, model, geometry_field), **options)  # type: ignore[arg-type]


SPECS: dict[str, BaseSpec] = {
    spec.name: spec for spec in (
        _spec("population", Person, ("id_number",), validation.clean_person,
              references=frozenset({"building"})),
        _spec("legal_entities", LegalEntity, ("uscc",), validation.clean_legal_entity,
              references=frozenset({"building"})),
        _spec("buildings", Building, ("building_code",), validation.clean_building, "footprint"),
        _spec("spatial_features", SpatialFeature, ("layer_code", "feature_key"), validation.clean_spatial_feature,
              "geom", references=frozenset({"layer"}), open_columns=True),
        _spec("economy_indicators", EconomyIndicator, ("code",), validation.clean_indicator),
        _spec("economy_observations", EconomyObservation, ("indicator_code", "region_code", "period"),
              validation.clean_observation, references=frozenset({"indicator"}), revised=True),
    )
}
# Short names people type.
BASE_ALIASES = {"persons": "population", "person": "population", "entities": "legal_entities",
                "legal-entities": "legal_entities", "spatial": "spatial_features", "features": "spatial_features",
                "indicators": "economy_indicators", "economy": "economy_observations",
                "observations": "economy_observations"}


def resolve_base(name: str) -> str:
    return BASE_ALIASES.get(name, name)
