"""base databases: population, legal entities, spatial, buildings, macro economy; GB/T 2260 reference data

Revision ID: 0003
Revises: 0002a
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from basebases.codes import gbt2260_rows
from basebases.geometry import Geometry
from cpip.db import UTCDateTime

revision = "0003"
down_revision = "0002a"
branch_labels = None
depends_on = None

STANDARD_LAYERS = [
    {"code": "admin_division", "name": "行政区划", "geometry_kinds": "Polygon,MultiPolygon",
     "description": "行政区划界线面, 要素编码为 GB/T 2260 行政区划代码"},
    {"code": "road", "name": "道路", "geometry_kinds": "LineString,MultiLineString",
     "description": "道路中心线"},
    {"code": "poi", "name": "兴趣点", "geometry_kinds": "Point", "description": "兴趣点 (POI)"},
    {"code": "parcel", "name": "宗地", "geometry_kinds": "Polygon,MultiPolygon",
     "description": "土地宗地, 要素编码为宗地编码"},
]


def _timestamps() -> list[sa.Column[object]]:
    return [sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.Column("updated_at", UTCDateTime(), nullable=False)]


def _bbox() -> list[sa.Column[object]]:
    return [sa.Column(name, sa.Float(), nullable=False) for name in ("minx", "miny", "maxx", "maxy")]


def _spatial_indexes(table: str, column: str, postgres: bool) -> None:
    if postgres:
        op.create_index(f"ix_{table}_{column}", table, [column], postgresql_using="gist")
    else:
        op.create_index(f"ix_{table}_bbox", table, ["minx", "maxx", "miny", "maxy"])


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    regions = op.create_table(
        "gbt2260_regions",
        sa.Column("code", sa.String(6), nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("level", sa.String(12), nullable=False),
        sa.Column("parent_code", sa.String(6), nullable=True),
        sa.Column("valid_from", sa.Integer(), nullable=True),
        sa.Column("valid_to", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_gbt2260_regions")),
    )
    op.bulk_insert(regions, [
        {"code": r["code"], "name": r["name"], "level": r["level"], "parent_code": r["parent_code"] or None,
         "valid_from": int(r["valid_from"]) if r["valid_from"] else None,
         "valid_to": int(r["valid_to"]) if r["valid_to"] else None}
        for r in gbt2260_rows()
    ])

    op.create_table(
        "buildings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("building_code", sa.String(32), nullable=False),
        sa.Column("address", sa.String(200), nullable=True),
        sa.Column("footprint", Geometry("GEOMETRY"), nullable=False),
        *_bbox(),
        sa.Column("floors_above", sa.Integer(), nullable=True),
        sa.Column("floors_below", sa.Integer(), nullable=True),
        sa.Column("height_m", sa.Float(), nullable=True),
        sa.Column("use", sa.String(20), nullable=True),
        sa.Column("structure", sa.String(30), nullable=True),
        sa.Column("year_built", sa.Integer(), nullable=True),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("parcel_code", sa.String(64), nullable=True),
        sa.Column("owner_uscc", sa.String(18), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buildings")),
        sa.UniqueConstraint("building_code", name=op.f("uq_buildings_building_code")),
    )
    op.create_index("ix_buildings_region_code", "buildings", ["region_code"])
    op.create_index("ix_buildings_parcel_code", "buildings", ["parcel_code"])
    op.create_index("ix_buildings_owner_uscc", "buildings", ["owner_uscc"])
    _spatial_indexes("buildings", "footprint", postgres)

    op.create_table(
        "persons",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id_number", sa.String(18), nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("ethnicity", sa.String(2), nullable=True),
        sa.Column("hukou_region_code", sa.String(6), nullable=False),
        sa.Column("residence_address", sa.String(200), nullable=True),
        sa.Column("building_code", sa.String(32), nullable=True),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(["building_code"], ["buildings.building_code"], ondelete="SET NULL",
                                name=op.f("fk_persons_building_code_buildings")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
        sa.UniqueConstraint("id_number", name=op.f("uq_persons_id_number")),
    )
    op.create_index("ix_persons_building_code", "persons", ["building_code"])
    op.create_index("ix_persons_hukou_region_code", "persons", ["hukou_region_code"])

    op.create_table(
        "legal_entities",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("entity_type", sa.String(30), nullable=False),
        sa.Column("legal_representative", sa.String(50), nullable=True),
        sa.Column("registered_capital", sa.Float(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("established_on", sa.Date(), nullable=True),
        sa.Column("industry_code", sa.String(5), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("registered_address", sa.String(200), nullable=True),
        sa.Column("building_code", sa.String(32), nullable=True),
        sa.Column("region_code", sa.String(6), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(["building_code"], ["buildings.building_code"], ondelete="SET NULL",
                                name=op.f("fk_legal_entities_building_code_buildings")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_entities")),
        sa.UniqueConstraint("uscc", name=op.f("uq_legal_entities_uscc")),
    )
    op.create_index("ix_legal_entities_name", "legal_entities", ["name"])
    op.create_index("ix_legal_entities_building_code", "legal_entities", ["building_code"])
    op.create_index("ix_legal_entities_region_code", "legal_entities", ["region_code"])

    layers = op.create_table(
        "spatial_layers",
        sa.Column("code", sa.String(30), nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("geometry_kinds", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_spatial_layers")),
    )
    op.bulk_insert(layers, STANDARD_LAYERS)

    op.create_table(
        "spatial_features",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("layer_code", sa.String(30), nullable=False),
        sa.Column("feature_key", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("region_code", sa.String(6), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("geom", Geometry("GEOMETRY"), nullable=False),
        *_bbox(),
        *_timestamps(),
        sa.ForeignKeyConstraint(["layer_code"], ["spatial_layers.code"],
                                name=op.f("fk_spatial_features_layer_code_spatial_layers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spatial_features")),
        sa.UniqueConstraint("layer_code", "feature_key", name=op.f("uq_spatial_features_layer_code_feature_key")),
    )
    op.create_index("ix_spatial_features_region_code", "spatial_features", ["region_code"])
    _spatial_indexes("spatial_features", "geom", postgres)

    op.create_table(
        "economy_indicators",
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("unit", sa.String(30), nullable=False),
        sa.Column("frequency", sa.String(10), nullable=False),
        sa.Column("aggregation", sa.String(10), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_economy_indicators")),
    )
    op.create_table(
        "economy_observations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("indicator_code", sa.String(40), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("source", sa.String(100), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(["indicator_code"], ["economy_indicators.code"],
                                name=op.f("fk_economy_observations_indicator_code_economy_indicators")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_economy_observations")),
        sa.UniqueConstraint("indicator_code", "region_code", "period",
                            name=op.f("uq_economy_observations_indicator_code_region_code_period")),
    )
    op.create_index("ix_economy_observations_series", "economy_observations",
                    ["indicator_code", "region_code", "period_start"])

    op.create_table(
        "basebase_load_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("base", sa.String(40), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("encoding", sa.String(20), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("reject_file", sa.String(500), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_basebase_load_runs")),
    )
    op.create_table(
        "basebase_quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("load_id", sa.String(32), nullable=False),
        sa.Column("base", sa.String(40), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("natural_key", sa.String(100), nullable=True),
        sa.Column("field", sa.String(60), nullable=False),
        sa.Column("rule", sa.String(60), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["load_id"], ["basebase_load_runs.id"], ondelete="CASCADE",
                                name=op.f("fk_basebase_quarantine_load_id_basebase_load_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_basebase_quarantine")),
    )
    op.create_index("ix_basebase_quarantine_load_id", "basebase_quarantine", ["load_id"])
    op.create_index("ix_basebase_quarantine_base_created", "basebase_quarantine", ["base", "created_at"])


def downgrade() -> None:
    for table in ("basebase_quarantine", "basebase_load_runs", "economy_observations", "economy_indicators",
                  "spatial_features", "spatial_layers", "legal_entities", "persons", "buildings",
                  "gbt2260_regions"):
        op.drop_table(table)
    # The postgis extension stays: other schemas in the database may use it.
