"""A synthetic but coherent city, deterministic by seed: 南京市 (GB/T 2260 3201xx) and its eleven districts.

Districts are Voronoi cells around each district's real centre; inside each, a street grid bounds blocks, blocks
are cut into land parcels (宗地), buildings stand inside parcels, people live in residential buildings and
legal entities are registered in the others. Macro-economic series run monthly, quarterly and yearly for ten
years (2015–2024). The same seed and scale always give the same rows, on any back end.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import shapely
from shapely import MultiPoint, Point, Polygon, box
from shapely.affinity import rotate
from shapely.geometry.base import BaseGeometry

from basebases import demo_people as people
from basebases.codes import regions

CITY = ("320100", "南京市")
# (code, name, centre lon, centre lat): the current districts of 南京市.
DISTRICTS = (
    ("320102", "玄武区", 118.80, 32.05), ("320104", "秦淮区", 118.79, 32.02), ("320105", "建邺区", 118.73, 32.00),
    ("320106", "鼓楼区", 118.77, 32.07), ("320111", "浦口区", 118.63, 32.06), ("320113", "栖霞区", 118.91, 32.10),
    ("320114", "雨花台区", 118.77, 31.99), ("320115", "江宁区", 118.84, 31.90), ("320116", "六合区", 118.82, 32.32),
    ("320117", "溧水区", 119.03, 31.65), ("320118", "高淳区", 118.88, 31.33),
)
CITY_EXTENT = (118.35, 31.20, 119.25, 32.62)
FIRST_YEAR, LAST_YEAR = 2015, 2024
# The day the demo's people are "as of": fixed, so ages and ID numbers never drift with the calendar.
AS_OF = date(2025, 1, 1)
ROAD_STEMS = ("中山", "北京", "汉中", "龙蟠", "虎踞", "珠江", "太平", "建康", "长江", "江东", "应天", "集庆",
              "秦淮", "玄武", "紫金", "钟山", "清凉", "凤凰", "新街", "湖南")
POI_KINDS = (("school", "学校"), ("hospital", "医院"), ("park", "公园"), ("metro", "地铁站"),
             ("supermarket", "超市"), ("bank", "银行"), ("restaurant", "餐厅"), ("hotel", "酒店"))
LAND_USES = (("residential", "住宅用地", 60), ("commercial", "商服用地", 15), ("industrial", "工矿仓储用地", 12),
             ("public", "公共管理与公共服务用地", 13))
BUILDING_USES = {"residential": ("residential", "residential", "residential", "mixed"),
                 "commercial": ("commercial", "office", "mixed"), "industrial": ("industrial",),
                 "public": ("public",)}


@dataclass(frozen=True)
class Scale:
    name: str
    parcels_per_district: int
    buildings_per_parcel: tuple[int, int]
    persons: int
    entities: int


SCALES = {
    "small": Scale("small", 3, (3, 5), 2_000, 150),
    "city": Scale("city", 60, (6, 10), 120_000, 12_000),
    "mega": Scale("mega", 260, (8, 14), 1_000_000, 60_000),
}


@dataclass(frozen=True)
class Indicator:
    code: str
    name: str
    unit: str
    frequency: str
    aggregation: str
    description: str
    base: float  # a district's level in the first period
    growth: float  # per year
    seasonal: float  # amplitude, relative


INDICATORS = (
    Indicator("GDP", "地区生产总值", "亿元", "quarter", "sum", "按当年价格计算的地区生产总值 (季度)",
              180.0, 0.06, 0.08),
    Indicator("RETAIL", "社会消费品零售总额", "亿元", "month", "sum", "社会消费品零售总额 (月度)", 55.0, 0.05, 0.10),
    Indicator("ELEC", "全社会用电量", "亿千瓦时", "month", "sum", "全社会用电量 (月度)", 6.0, 0.04, 0.15),
    Indicator("CPI", "居民消费价格指数", "上年同月=100", "month", "mean", "居民消费价格指数 (上年同月=100)",
              101.5, 0.0, 0.005),
    Indicator("INCOME", "城镇常住居民人均可支配收入", "元", "quarter", "sum", "城镇常住居民人均可支配收入 (季度)",
              11000.0, 0.07, 0.05),
    Indicator("POP", "常住人口", "万人", "year", "last", "年末常住人口", 60.0, 0.01, 0.0),
    Indicator("FISCAL", "一般公共预算收入", "亿元", "year", "sum", "一般公共预算收入 (年度)", 90.0, 0.05, 0.0),
)
# Gaps a real series has (a month not reported), so completeness reports have something to find.
GAPS = frozenset({("RETAIL", "320118", "2020-02"), ("ELEC", "320116", "2022-12")})


@dataclass
class District:
    code: str
    name: str
    centre: Point
    polygon: BaseGeometry


@dataclass
class DemoCity:
    seed: int
    scale: Scale
    districts: list[District] = field(default_factory=list)
    features: list[dict[str, Any]] = field(default_factory=list)
    buildings: list[dict[str, Any]] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)
    indicators: list[dict[str, Any]] = field(default_factory=list)
    observations: list[dict[str, Any]] = field(default_factory=list)
    residents: list[int] = field(default_factory=list)  # persons per building, aligned with `buildings`

    def persons(self) -> Iterator[dict[str, Any]]:
        """The city's people, regenerated on each call (a million rows never sit in memory)."""
        rng = random.Random(f"{self.seed}:persons")
        ids = people.IdentityFactory(rng)
        for building, count in zip(self.buildings, self.residents, strict=True):
            district = building["region_code"]
            for n in range(count):
                male = rng.random() < 0.51
                born = people.birth_date(rng, AS_OF)
                migrant = rng.random() < 0.2
                region = ids.region_for(district, born, migrant)
                number = ids.issue(region, born, male)
                hukou = region if migrant else district
                roll = rng.random()
                yield {
                    "id_number": number, "name": people.person_name(rng, male), "sex": "1" if male else "2",
                    "birth_date": born,
                    "ethnicity": "01" if rng.random() < 0.95 else rng.choice(people.ETHNIC_MINORITIES),
                    "hukou_region_code": hukou,
                    "residence_address": f"{building['address']}{n // 40 + 1}单元"
                                         f"{(n % 40) // 4 + 1:02d}{n % 4 + 1:02d}室",
                    "building_code": building["building_code"],
                    "phone": people.phone_number(rng) if rng.random() < 0.85 else None,
                    "status": "normal" if roll < 0.97 else ("moved_out" if roll < 0.99 else "deceased"),
                }

    @property
    def person_count(self) -> int:
        return sum(self.residents)


def _districts() -> list[District]:
    extent = box(*CITY_EXTENT)
    centres = [Point(lon, lat) for _code, _name, lon, lat in DISTRICTS]
    cells = shapely.voronoi_polygons(MultiPoint(centres), extend_to=extent).geoms
    result = []
    for (code, name, _lon, _lat), centre in zip(DISTRICTS, centres, strict=True):
        cell = next(c for c in cells if c.contains(centre))
        # Rounded to ~0.1 m, so stored coordinates are the same text on every back end.
        polygon = shapely.set_precision(cell.intersection(extent), 1e-6)
        result.append(District(code, name, centre, polygon))
    return result


def _block_size(district: District, wanted: int) -> float:
    return min(0.004, math.sqrt(district.polygon.area * 0.5 / max(wanted, 1)))


def _ring(n: int) -> Iterator[tuple[int, int]]:
    """Grid cells at Chebyshev distance n from the origin, in a fixed order."""
    if n == 0:
        yield 0, 0
        return
    for i in range(-n, n + 1):
        yield i, -n
    for j in range(-n + 1, n + 1):
        yield n, j
    for i in range(n - 1, -n - 1, -1):
        yield i, n
    for j in range(n - 1, -n, -1):
        yield -n, j


def _blocks(district: District, wanted: int) -> tuple[float, list[tuple[int, int, Polygon]]]:
    """Street blocks spiralling out from the district centre, each wholly inside the district."""
    size = _block_size(district, wanted)
    cx, cy = district.centre.x, district.centre.y
    minx, miny, maxx, maxy = district.polygon.bounds
    reach = int(max(maxx - minx, maxy - miny) / size) + 2
    blocks: list[tuple[int, int, Polygon]] = []
    for n in range(reach):
        for i, j in _ring(n):
            cell = box(cx + i * size, cy + j * size, cx + (i + 1) * size, cy + (j + 1) * size)
            if district.polygon.contains(cell):
                blocks.append((i, j, cell))
                if len(blocks) >= wanted:
                    return size, blocks
    return size, blocks


def _r(value: float) -> float:
    return round(value, 7)


def _rounded(geom: BaseGeometry) -> BaseGeometry:
    return shapely.set_precision(geom, 1e-7)


def _parcels(rng: random.Random, district: District, seq: int, i: int, j: int, cell: Polygon,
             size: float) -> list[dict[str, Any]]:
    road = size * 0.08
    x0, y0, x1, y1 = cell.bounds
    inner = (x0 + road, y0 + road, x1 - road, y1 - road)
    pieces = [box(*inner)]
    if rng.random() < 0.5:  # half the blocks are split into two parcels
        mid = (inner[0] + inner[2]) / 2
        pieces = [box(inner[0], inner[1], mid - road / 4, inner[3]), box(mid + road / 4, inner[1], inner[2], inner[3])]
    kinds = [u[0] for u in LAND_USES]
    labels = [u[1] for u in LAND_USES]
    weights = [u[2] for u in LAND_USES]
    parcels = []
    for k, piece in enumerate(pieces):
        use_index = rng.choices(range(len(kinds)), weights=weights)[0]
        code = f"{district.code}{seq:04d}{k:02d}GB{rng.randrange(100000):05d}"
        geom = _rounded(piece)
        parcels.append({
            "layer_code": "parcel", "feature_key": code, "name": f"{district.name}{seq}号地块{k + 1}",
            "region_code": district.code, "geom": geom,
            "attributes": {"land_use": kinds[use_index], "land_use_label": labels[use_index],
                           "area_m2": round(geom.area * 111320 * 110574 * math.cos(math.radians(geom.centroid.y)))},
        })
    return parcels


def _buildings_in(rng: random.Random, parcel: dict[str, Any], scale: Scale, road: str,
                  start_no: int) -> list[dict[str, Any]]:
    """Buildings in rows inside the parcel, each slightly rotated, all wholly within it."""
    geom: Polygon = parcel["geom"]
    x0, y0, x1, y1 = geom.bounds
    wanted = rng.randint(*scale.buildings_per_parcel)
    cols = max(1, math.ceil(math.sqrt(wanted * (x1 - x0) / (y1 - y0))))
    rows = max(1, math.ceil(wanted / cols))
    cw, ch = (x1 - x0) / cols, (y1 - y0) / rows
    land_use = parcel["attributes"]["land_use"]
    result = []
    for slot in range(wanted):
        c, r = slot % cols, slot // cols
        w, h = cw * rng.uniform(0.45, 0.7), ch * rng.uniform(0.35, 0.6)
        cx, cy = x0 + (c + 0.5) * cw, y0 + (r + 0.5) * ch
        footprint = _rounded(rotate(box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2),
                                    rng.uniform(-12, 12), origin="center"))
        if not geom.contains(footprint):
            continue
        use = rng.choice(BUILDING_USES[land_use])
        floors = rng.randint(6, 33) if use in ("residential", "mixed", "office") else rng.randint(1, 8)
        number = start_no + slot * 2 + 1
        result.append({
            "building_code": f"{parcel['feature_key'][:12]}{slot:03d}", "address": f"南京市{road}{number}号",
            "footprint": footprint, "floors_above": floors, "floors_below": rng.randint(0, 3),
            "height_m": round(floors * rng.uniform(2.9, 3.6), 1), "use": use,
            "structure": "reinforced_concrete" if floors > 7
            else rng.choice(("masonry", "reinforced_concrete", "steel")),
            "year_built": rng.randint(1960, 2024), "region_code": parcel["region_code"],
            "parcel_code": parcel["feature_key"], "owner_uscc": None,
        })
    return result


def _roads(district: District, size: float, blocks: list[tuple[int, int, Polygon]],
           rng: random.Random) -> list[dict[str, Any]]:
    if not blocks:
        return []
    cx, cy = district.centre.x, district.centre.y
    i_lo, i_hi = min(b[0] for b in blocks), max(b[0] for b in blocks) + 1
    j_lo, j_hi = min(b[1] for b in blocks), max(b[1] for b in blocks) + 1
    roads = []
    stems = list(ROAD_STEMS)
    rng.shuffle(stems)
    for axis, lo, hi, other_lo, other_hi in (("ew", j_lo, j_hi, i_lo, i_hi), ("ns", i_lo, i_hi, j_lo, j_hi)):
        for k in range(lo, hi + 1):
            a, b = (other_lo, k), (other_hi, k)
            if axis == "ns":
                a, b = (k, other_lo), (k, other_hi)
            line = shapely.LineString([(cx + a[0] * size, cy + a[1] * size), (cx + b[0] * size, cy + b[1] * size)])
            clipped = _rounded(line.intersection(district.polygon))
            if clipped.is_empty or clipped.geom_type not in ("LineString", "MultiLineString"):
                continue
            name = f"{stems[(k - lo) % len(stems)]}{'路' if axis == 'ew' else '街'}"
            if axis == "ew" and k - lo >= len(stems):
                name = f"{stems[(k - lo) % len(stems)]}{(k - lo) // len(stems) + 1}路"
            roads.append({"layer_code": "road", "feature_key": f"{district.code}-{axis}{k - lo:03d}",
                          "name": f"{district.name}{name}", "region_code": district.code, "geom": clipped,
                          "attributes": {"grade": "主干路" if (k - lo) % 4 == 0 else "支路",
                                         "direction": "东西" if axis == "ew" else "南北"}})
    return roads


def _pois(rng: random.Random, parcel: dict[str, Any], count: int) -> list[dict[str, Any]]:
    x0, y0, x1, y1 = parcel["geom"].bounds
    pois = []
    for k in range(count):
        kind, label = rng.choice(POI_KINDS)
        point = _rounded(Point(_r(rng.uniform(x0, x1)), _r(rng.uniform(y0, y1))))
        pois.append({"layer_code": "poi", "feature_key": f"{parcel['feature_key'][:12]}P{k:02d}",
                     "name": f"{parcel['name'][:-4]}{label}{k + 1}", "region_code": parcel["region_code"],
                     "geom": point, "attributes": {"category": kind, "category_label": label}})
    return pois


def _spread(total: int, weights: list[float]) -> list[int]:
    """Split `total` over `weights` exactly (largest remainders), so the head count is the scale's."""
    if not weights or sum(weights) == 0:
        return [0] * len(weights)
    whole = sum(weights)
    raw = [total * w / whole for w in weights]
    counts = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda k: (-(raw[k] - counts[k]), k))
    for k in order[: total - sum(counts)]:
        counts[k] += 1
    return counts


def _entities(city: DemoCity, rng: random.Random) -> None:
    hosts = [b for b in city.buildings if b["use"] != "residential"] or city.buildings
    used_codes: set[str] = set()
    used_names: set[str] = set()
    industries = sorted(people.INDUSTRY_WORDS)
    for _ in range(city.scale.entities):
        building = rng.choice(hosts)
        kind = people.entity_type(rng)
        code = people.credit_code(kind, building["region_code"], rng)
        while code in used_codes:
            code = people.credit_code(kind, building["region_code"], rng)
        used_codes.add(code)
        industry = rng.choice(industries)
        established = date(rng.randint(1990, 2024), rng.randint(1, 12), rng.randint(1, 28))
        roll = rng.random()
        city.entities.append({
            "uscc": code, "name": people.entity_name(rng, kind, industry, used_names), "entity_type": kind,
            "legal_representative": people.person_name(rng, rng.random() < 0.6),
            "registered_capital": round(10 ** rng.uniform(0.5, 5), 2), "currency": "CNY",
            "established_on": established, "industry_code": industry,
            "status": "active" if roll < 0.9 else ("revoked" if roll < 0.94 else ("cancelled" if roll < 0.99
                                                                                  else "moved_out")),
            "registered_address": f"{building['address']}{rng.randint(1, 30)}层",
            "building_code": building["building_code"], "region_code": building["region_code"],
        })
        if building["owner_uscc"] is None and kind != "individual_business":
            building["owner_uscc"] = code


def _economy(city: DemoCity, rng: random.Random) -> None:
    from basebases.economy import Period, period_range

    for ind in INDICATORS:
        city.indicators.append({"code": ind.code, "name": ind.name, "unit": ind.unit, "frequency": ind.frequency,
                                "aggregation": ind.aggregation, "description": ind.description})
    for district_index, district in enumerate(city.districts):
        weight = 0.6 + 0.08 * district_index  # districts differ in size
        for ind in INDICATORS:
            per_year = {"month": 12, "quarter": 4, "year": 1}[ind.frequency]
            first = Period(FIRST_YEAR, ind.frequency, 1)
            last = Period(LAST_YEAR, ind.frequency, per_year)
            for period in period_range(first, last):
                if (ind.code, district.code, period.label) in GAPS:
                    continue
                years = period.year - FIRST_YEAR + (period.index - 1) / per_year
                season = math.sin(2 * math.pi * (period.index - 1) / per_year) if per_year > 1 else 0.0
                level = ind.base * (1 if ind.code == "CPI" else weight) * (1 + ind.growth) ** years
                value = level * (1 + ind.seasonal * season) * (1 + rng.uniform(-0.02, 0.02) * (ind.code != "CPI"))
                if ind.code == "CPI":
                    value = ind.base + rng.uniform(-1.5, 1.5)
                city.observations.append({
                    "indicator_code": ind.code, "region_code": district.code, "period": period.label,
                    "period_start": period.start, "value": round(value, 2),
                    "status": "p" if period.year == LAST_YEAR else "", "source": "南京市统计局 (demo)",
                    "revision": 0,
                })


def generate(seed: int = 20240601, scale: Scale | str = "small") -> DemoCity:
    """Everything but the people, who are generated lazily by `DemoCity.persons()`."""
    scale = SCALES[scale] if isinstance(scale, str) else scale
    city = DemoCity(seed=seed, scale=scale, districts=_districts())
    rng = random.Random(f"{seed}:city")
    city_polygon = _rounded(shapely.union_all([d.polygon for d in city.districts]))
    known = regions()
    city.features.append({"layer_code": "admin_division", "feature_key": CITY[0], "name": CITY[1],
                          "region_code": CITY[0], "geom": city_polygon,
                          "attributes": {"level": "prefecture", "parent_code": known[CITY[0]].parent_code}})
    for district in city.districts:
        city.features.append({"layer_code": "admin_division", "feature_key": district.code, "name": district.name,
                              "region_code": district.code, "geom": district.polygon,
                              "attributes": {"level": "county", "parent_code": CITY[0]}})
    for district in city.districts:
        wanted_blocks = max(1, math.ceil(scale.parcels_per_district / 1.5))
        size, blocks = _blocks(district, wanted_blocks)
        roads = _roads(district, size, blocks, rng)
        city.features.extend(roads)
        for seq, (i, j, cell) in enumerate(blocks):
            road_name = roads[seq % len(roads)]["name"] if roads else district.name
            for parcel in _parcels(rng, district, seq, i, j, cell, size):
                city.features.append(parcel)
                city.buildings.extend(_buildings_in(rng, parcel, scale, road_name, len(city.buildings) * 2))
                city.features.extend(_pois(rng, parcel, rng.randint(0, 2)))
    weights = [b["floors_above"] * b["footprint"].area if b["use"] in ("residential", "mixed") else 0.0
               for b in city.buildings]
    city.residents = _spread(scale.persons, weights)
    _entities(city, rng)
    _economy(city, rng)
    return city
