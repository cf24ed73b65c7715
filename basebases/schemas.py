"""What the read services return (pydantic), shared by REST and GraphQL.

Personal fields a viewer may only see masked are strings (a masked birth date is no longer a date), so the
same schema serves both the provider and other departments.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last")
    limit: int
    # The natural keys of personal records on the page, unmasked, for the access audit; never serialised.
    _subject_ids: list[str] = PrivateAttr(default_factory=list)

    @property
    def subject_ids(self) -> list[str]:
        return self._subject_ids


class PersonOut(BaseModel):
    id_number: str
    name: str
    sex: str
    birth_date: str
    ethnicity: str | None
    hukou_region_code: str
    residence_address: str | None
    building_code: str | None
    phone: str | None
    status: str
    updated_at: datetime
    masked: bool = Field(description="Whether personal fields were masked for this caller")


class LegalEntityOut(BaseModel):
    uscc: str
    name: str
    entity_type: str
    entity_type_label: str | None
    legal_representative: str | None
    registered_capital: float | None
    currency: str | None
    established_on: date | None
    industry_code: str | None
    status: str
    registered_address: str | None
    building_code: str | None
    region_code: str
    updated_at: datetime


class BuildingOut(BaseModel):
    building_code: str
    address: str | None
    footprint: dict[str, Any] = Field(description="GeoJSON geometry (RFC 7946, WGS84 longitude/latitude)")
    bbox: list[float]
    floors_above: int | None
    floors_below: int | None
    height_m: float | None
    use: str | None
    structure: str | None
    year_built: int | None
    region_code: str
    parcel_code: str | None
    owner_uscc: str | None
    updated_at: datetime


class NearBuildingOut(BaseModel):
    distance_m: float = Field(description="Approximate ground distance from the point to the footprint")
    building: BuildingOut


class RegionLevel(BaseModel):
    code: str
    name: str
    level: str


class RegionOut(BaseModel):
    code: str
    name: str
    level: str
    path: list[RegionLevel] = Field(description="Province, prefecture, county (GB/T 2260)")


class FeatureOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    type: str = "Feature"
    id: str
    geometry: dict[str, Any]
    properties: dict[str, Any]


class FeatureCollectionOut(BaseModel):
    type: str = "FeatureCollection"
    features: list[FeatureOut]
    next_cursor: str | None = None
    limit: int


class LayerOut(BaseModel):
    code: str
    name: str
    geometry_kinds: list[str]
    description: str | None


class IndicatorOut(BaseModel):
    code: str
    name: str
    unit: str
    frequency: str
    aggregation: str
    description: str | None


class SeriesPoint(BaseModel):
    period: str
    value: float | None = Field(description="Null when a constituent period is missing (see `missing`)")
    status: str
    expected: int = Field(description="Source periods that make up this period")
    available: int
    missing: list[str]


class Completeness(BaseModel):
    expected_periods: int
    present_periods: int
    missing_periods: list[str]
    complete: bool


class SeriesOut(BaseModel):
    indicator: IndicatorOut
    region_code: str
    frequency: str = Field(description="The frequency of the points (the indicator's own, or coarser)")
    start: str
    end: str
    points: list[SeriesPoint]
    completeness: Completeness = Field(description="Against the indicator's own frequency over start–end")
