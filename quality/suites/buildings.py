"""建筑物基础信息 (buildings): footprint geometry, floors and height in range and consistent."""

from __future__ import annotations

from basebases import codes
from basebases.models import Building, table_of
from quality.suites import CITY_BOUNDARY, THIS_YEAR, Kind, Rule, Suite, not_null

# Lower bound of a storey: a building of n floors above ground is at least this many metres × n high.
MIN_STOREY_M = 2.0

BUILDINGS = Suite(
    resource="buildings",
    table=table_of(Building),
    key=("building_code",),
    description="建筑物基础信息: footprint valid and inside the city, floors and height in range and consistent",
    upper_case=("owner_uscc",),
    rules=(
        *not_null("building_code", "footprint", "region_code"),
        Rule("building_code.unique", Kind.unique, ("building_code",), "one record per building code"),
        Rule("footprint.valid", Kind.geometry_valid, ("footprint",), "the footprint is a valid geometry"),
        Rule("footprint.inside_city", Kind.inside_city, ("footprint",), "the footprint lies inside the city",
             {"boundary_wkt": CITY_BOUNDARY}),
        Rule("floors_above.range", Kind.between, ("floors_above",), "0–200 floors above ground",
             {"min": 0, "max": 200}),
        Rule("floors_below.range", Kind.between, ("floors_below",), "0–30 floors below ground",
             {"min": 0, "max": 30}),
        Rule("height_m.range", Kind.between, ("height_m",), "height 0–1000 m", {"min": 0, "max": 1000}),
        Rule("height_m.fits_floors", Kind.height_floors, ("height_m", "floors_above"),
             f"height is at least {MIN_STOREY_M:g} m × floors above ground", {"min_storey_m": MIN_STOREY_M},
             on="height_m"),
        Rule("year_built.range", Kind.between, ("year_built",), "year_built from 1000 to this year",
             {"min": 1000, "max": THIS_YEAR}),
        Rule("region_code.gbt2260", Kind.gbt2260, ("region_code",), "region_code is a GB/T 2260 code in use today",
             {"current_only": True}),
        Rule("use.code", Kind.in_set, ("use",), "use is a known building use",
             {"values": sorted(codes.BUILDING_USE.labels)}),
        Rule("structure.code", Kind.in_set, ("structure",), "structure is a known building structure",
             {"values": sorted(codes.BUILDING_STRUCTURE.labels)}),
        Rule("owner_uscc.valid", Kind.uscc_valid, ("owner_uscc",), "owner_uscc is a valid 统一社会信用代码"),
    ),
)

SUITES = (BUILDINGS,)
