"""The five base databases (城市公共基础数据库) and their load bookkeeping.

Every column a consumer can see declares its 信息项 metadata in `info`: a Chinese label, a sensitivity level
(1 公开, 2 内部, 3 敏感, 4 高度敏感) and, for personal data, the masking rule of `security.masking`. The
catalogue's 信息项 and the gateway's masking both read these; nothing else decides them.

References between base databases use natural keys (building code, USCC), as the files departments exchange
do; a loader checks them, so a person never points at a building that does not exist.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import JSON, Date, Float, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from basebases.geometry import Geometry
from cpip.db import Base
from security.masking import MaskingRule


def table_of(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def item(label: str, sensitivity: int, masking: MaskingRule | None = None, **extra: Any) -> dict[str, Any]:
    """The 信息项 metadata of a column."""
    info: dict[str, Any] = {"label": label, "sensitivity": sensitivity, "masking": masking}
    info.update(extra)
    return info


def _bbox_indexes(table: str) -> tuple[Index, ...]:
    # SQLite has no spatial index: a covering index on the bbox lets a window query scan the index alone.
    return (Index(f"ix_{table}_bbox", "minx", "maxx", "miny", "maxy").ddl_if(dialect="sqlite"),)


class Gbt2260Region(Base):
    """GB/T 2260 行政区划代码, current and historical (ID numbers keep the code of their time)."""

    __tablename__ = "gbt2260_regions"
    __table_args__ = ({"info": {"seeded": True}},)

    code: Mapped[str] = mapped_column(String(6), primary_key=True, info=item("行政区划代码", 1))
    name: Mapped[str] = mapped_column(String(50), info=item("行政区划名称", 1))
    level: Mapped[str] = mapped_column(String(12), info=item("级别", 1))
    parent_code: Mapped[str | None] = mapped_column(String(6), info=item("上级行政区划代码", 1))
    valid_from: Mapped[int | None] = mapped_column(Integer, info=item("启用年份", 1))
    valid_to: Mapped[int | None] = mapped_column(Integer, info=item("停用年份", 1))


class Person(Base):
    """人口基础信息."""

    __tablename__ = "persons"
    __table_args__ = (
        Index("ix_persons_building_code", "building_code"),
        Index("ix_persons_hukou_region_code", "hukou_region_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Byte-wise on PostgreSQL (migration 0008): the number is ASCII, and the database default collation
    # would send every comparison through strcoll.
    id_number: Mapped[str] = mapped_column(String(18).with_variant(String(18, collation="C"), "postgresql"),
                                           unique=True,
                                           info=item("公民身份号码", 4, MaskingRule.id_number, key=True))
    name: Mapped[str] = mapped_column(String(50), info=item("姓名", 3, MaskingRule.name))
    sex: Mapped[str] = mapped_column(String(1), info=item("性别", 2, codes="GB/T 2261.1"))
    birth_date: Mapped[date] = mapped_column(Date, info=item("出生日期", 3, MaskingRule.generic))
    ethnicity: Mapped[str | None] = mapped_column(String(2), info=item("民族", 3, MaskingRule.full,
                                                                         codes="GB 3304"))
    hukou_region_code: Mapped[str] = mapped_column(String(6), info=item("户籍地行政区划代码", 2,
                                                                         codes="GB/T 2260"))
    residence_address: Mapped[str | None] = mapped_column(String(200),
                                                          info=item("居住地址", 3, MaskingRule.address))
    building_code: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("buildings.building_code", ondelete="SET NULL"), info=item("居住建筑物编码", 2))
    phone: Mapped[str | None] = mapped_column(String(20), info=item("联系电话", 3, MaskingRule.phone))
    status: Mapped[str] = mapped_column(String(12), default="normal", info=item("人口状态", 2))
    created_at: Mapped[datetime] = mapped_column(info=item("创建时间", 1))
    updated_at: Mapped[datetime] = mapped_column(info=item("更新时间", 1))


class LegalEntity(Base):
    """法人基础信息 (market entities and organisations with a 统一社会信用代码)."""

    __tablename__ = "legal_entities"
    __table_args__ = (
        Index("ix_legal_entities_name", "name"),
        Index("ix_legal_entities_building_code", "building_code"),
        Index("ix_legal_entities_region_code", "region_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True, info=item("统一社会信用代码", 1, key=True,
                                                                         codes="GB 32100"))
    name: Mapped[str] = mapped_column(String(200), info=item("名称", 1))
    entity_type: Mapped[str] = mapped_column(String(30), info=item("主体类型", 1))
    legal_representative: Mapped[str | None] = mapped_column(String(50),
                                                             info=item("法定代表人", 2, MaskingRule.name))
    registered_capital: Mapped[float | None] = mapped_column(Float, info=item("注册资本(万元)", 1))
    currency: Mapped[str | None] = mapped_column(String(3), info=item("注册资本币种", 1, codes="ISO 4217"))
    established_on: Mapped[date | None] = mapped_column(Date, info=item("成立日期", 1))
    industry_code: Mapped[str | None] = mapped_column(String(5), info=item("行业代码", 1, codes="GB/T 4754-2017"))
    status: Mapped[str] = mapped_column(String(12), default="active", info=item("登记状态", 1))
    registered_address: Mapped[str | None] = mapped_column(String(200), info=item("住所", 1))
    building_code: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("buildings.building_code", ondelete="SET NULL"), info=item("住所建筑物编码", 1))
    region_code: Mapped[str] = mapped_column(String(6), info=item("登记地行政区划代码", 1, codes="GB/T 2260"))
    created_at: Mapped[datetime] = mapped_column(info=item("创建时间", 1))
    updated_at: Mapped[datetime] = mapped_column(info=item("更新时间", 1))


class SpatialLayer(Base):
    """A layer of the spatial base database; the four standard ones are seeded by the migration."""

    __tablename__ = "spatial_layers"
    __table_args__ = ({"info": {"seeded": True}},)

    code: Mapped[str] = mapped_column(String(30), primary_key=True, info=item("图层代码", 1))
    name: Mapped[str] = mapped_column(String(50), info=item("图层名称", 1))
    geometry_kinds: Mapped[str] = mapped_column(String(100), info=item("几何类型", 1))
    description: Mapped[str | None] = mapped_column(Text, info=item("说明", 1))


class SpatialFeature(Base):
    """空间地理要素: administrative divisions, roads, POIs, land parcels."""

    __tablename__ = "spatial_features"
    __table_args__ = (
        UniqueConstraint("layer_code", "feature_key"),
        Index("ix_spatial_features_region_code", "region_code"),
        Index("ix_spatial_features_geom", "geom", postgresql_using="gist").ddl_if(dialect="postgresql"),
        *_bbox_indexes("spatial_features"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    layer_code: Mapped[str] = mapped_column(String(30), ForeignKey("spatial_layers.code"),
                                            info=item("图层代码", 1))
    feature_key: Mapped[str] = mapped_column(String(64), info=item("要素编码", 1, key=True))
    name: Mapped[str | None] = mapped_column(String(200), info=item("名称", 1))
    region_code: Mapped[str | None] = mapped_column(String(6), info=item("所在行政区划代码", 1,
                                                                          codes="GB/T 2260"))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, info=item("属性", 1))
    geom: Mapped[BaseGeometry] = mapped_column(Geometry("GEOMETRY"), info=item("几何", 1, crs="EPSG:4490"))
    minx: Mapped[float] = mapped_column(Float)
    miny: Mapped[float] = mapped_column(Float)
    maxx: Mapped[float] = mapped_column(Float)
    maxy: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(info=item("创建时间", 1))
    updated_at: Mapped[datetime] = mapped_column(info=item("更新时间", 1))


class Building(Base):
    """建筑物基础信息."""

    __tablename__ = "buildings"
    __table_args__ = (
        Index("ix_buildings_region_code", "region_code"),
        Index("ix_buildings_parcel_code", "parcel_code"),
        Index("ix_buildings_owner_uscc", "owner_uscc"),
        Index("ix_buildings_footprint", "footprint", postgresql_using="gist").ddl_if(dialect="postgresql"),
        *_bbox_indexes("buildings"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    building_code: Mapped[str] = mapped_column(String(32), unique=True, info=item("建筑物编码", 1, key=True))
    address: Mapped[str | None] = mapped_column(String(200), info=item("地址", 1))
    footprint: Mapped[BaseGeometry] = mapped_column(Geometry("GEOMETRY"),
                                                    info=item("基底轮廓", 1, crs="EPSG:4490"))
    minx: Mapped[float] = mapped_column(Float)
    miny: Mapped[float] = mapped_column(Float)
    maxx: Mapped[float] = mapped_column(Float)
    maxy: Mapped[float] = mapped_column(Float)
    floors_above: Mapped[int | None] = mapped_column(Integer, info=item("地上层数", 1))
    floors_below: Mapped[int | None] = mapped_column(Integer, info=item("地下层数", 1))
    height_m: Mapped[float | None] = mapped_column(Float, info=item("高度(米)", 1))
    use: Mapped[str | None] = mapped_column(String(20), info=item("用途", 1))
    structure: Mapped[str | None] = mapped_column(String(30), info=item("结构", 1))
    year_built: Mapped[int | None] = mapped_column(Integer, info=item("建成年份", 1))
    region_code: Mapped[str] = mapped_column(String(6), info=item("所在行政区划代码", 1, codes="GB/T 2260"))
    parcel_code: Mapped[str | None] = mapped_column(String(64), info=item("所在宗地编码", 1))
    owner_uscc: Mapped[str | None] = mapped_column(String(18), info=item("产权单位统一社会信用代码", 2))
    created_at: Mapped[datetime] = mapped_column(info=item("创建时间", 1))
    updated_at: Mapped[datetime] = mapped_column(info=item("更新时间", 1))


class EconomyIndicator(Base):
    """宏观经济指标定义."""

    __tablename__ = "economy_indicators"

    code: Mapped[str] = mapped_column(String(40), primary_key=True, info=item("指标代码", 1, key=True))
    name: Mapped[str] = mapped_column(String(100), info=item("指标名称", 1))
    unit: Mapped[str] = mapped_column(String(30), info=item("计量单位", 1))
    frequency: Mapped[str] = mapped_column(String(10), info=item("频度", 1))
    aggregation: Mapped[str] = mapped_column(String(10), info=item("汇总方式", 1))
    description: Mapped[str | None] = mapped_column(Text, info=item("指标解释", 1))
    created_at: Mapped[datetime] = mapped_column(info=item("创建时间", 1))
    updated_at: Mapped[datetime] = mapped_column(info=item("更新时间", 1))


class EconomyObservation(Base):
    """宏观经济指标数据: one value of one indicator for one region and period."""

    __tablename__ = "economy_observations"
    __table_args__ = (
        UniqueConstraint("indicator_code", "region_code", "period"),
        Index("ix_economy_observations_series", "indicator_code", "region_code", "period_start"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    indicator_code: Mapped[str] = mapped_column(String(40), ForeignKey("economy_indicators.code"),
                                                info=item("指标代码", 1, key=True))
    region_code: Mapped[str] = mapped_column(String(6), info=item("行政区划代码", 1, key=True,
                                                                  codes="GB/T 2260"))
    period: Mapped[str] = mapped_column(String(8), info=item("统计期", 1, key=True))
    period_start: Mapped[date] = mapped_column(Date, info=item("统计期起始日", 1))
    value: Mapped[float | None] = mapped_column(Float, info=item("指标值", 1))
    status: Mapped[str] = mapped_column(String(8), default="", info=item("数据状态标识", 1))
    source: Mapped[str | None] = mapped_column(String(100), info=item("数据来源", 1))
    revision: Mapped[int] = mapped_column(Integer, default=0, info=item("修订次数", 1))
    created_at: Mapped[datetime] = mapped_column(info=item("创建时间", 1))
    updated_at: Mapped[datetime] = mapped_column(info=item("更新时间", 1))


class LoadRun(Base):
    """One `cpip load` of one file: what it read and what became of each row."""

    __tablename__ = "basebase_load_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    base: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(500))
    format: Mapped[str] = mapped_column(String(10))
    encoding: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    reject_file: Mapped[str | None] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class QuarantinedRow(Base):
    """A rejected input row, kept with the reason, so it never vanishes: one record per rule it broke."""

    __tablename__ = "basebase_quarantine"
    __table_args__ = (Index("ix_basebase_quarantine_base_created", "base", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    load_id: Mapped[str] = mapped_column(String(32), ForeignKey("basebase_load_runs.id", ondelete="CASCADE"),
                                         index=True)
    base: Mapped[str] = mapped_column(String(40))
    row_number: Mapped[int] = mapped_column(Integer)
    natural_key: Mapped[str | None] = mapped_column(String(100))
    field: Mapped[str] = mapped_column(String(60))
    rule: Mapped[str] = mapped_column(String(60))
    message: Mapped[str] = mapped_column(Text)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


BASE_MODELS: dict[str, type[Base]] = {
    "population": Person,
    "legal_entities": LegalEntity,
    "buildings": Building,
    "spatial_features": SpatialFeature,
    "economy_indicators": EconomyIndicator,
    "economy_observations": EconomyObservation,
}
