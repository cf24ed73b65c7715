"""Pydantic shapes of catalogue metadata. Every value domain and cross-field rule of the 编制指南 is checked
here, so a bad entry is refused with the name of the field at fault before any service sees it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from basebases.codes import region_exists
from catalogue.domains import (
    DEPARTMENT_CODE_PATTERN,
    REGION_CODE_PATTERN,
    RESOURCE_CODE_PATTERN,
    Category,
    DataGrade,
    DataType,
    EntrySource,
    EntryStatus,
    FormatCategory,
    OpenType,
    ShareChannel,
    ShareMode,
    ShareType,
    UpdateCycle,
)

ResourceCode = Annotated[str, Field(pattern=RESOURCE_CODE_PATTERN, description="信息资源代码, e.g. 101001/000001")]


def _known_region(code: str) -> str:
    if not region_exists(code):
        raise ValueError(f"{code} is not a GB/T 2260 行政区划代码")
    return code


RegionCode = Annotated[str, Field(pattern=REGION_CODE_PATTERN, description="GB/T 2260 行政区划代码"),
                       AfterValidator(_known_region)]
DepartmentCode = Annotated[str, Field(pattern=DEPARTMENT_CODE_PATTERN, description="Department code, e.g. psb")]
Text200 = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    # Unknown fields are refused, not dropped: a misspelt field must not silently lose its value.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Classification(Strict):
    """信息资源分类: 类 (1 digit) / 项 (2) / 目 (3) / 细目 (optional, up to 6 digits)."""

    category: Category = Field(description="类: 1 基础, 2 主题, 3 部门")
    item: str = Field(pattern=r"^\d{2}$", description="项, 2 digits")
    catalog: str = Field(pattern=r"^\d{3}$", description="目, 3 digits")
    detail: str | None = Field(default=None, pattern=r"^\d{1,6}$", description="细目, 1–6 digits")

    @property
    def code(self) -> str:
        return f"{self.category.value}{self.item}{self.catalog}{self.detail or ''}"


class InfoItem(Strict):
    """信息项: one field of the resource, with its data type, length and sensitivity level (1–4)."""

    name: Text200
    key: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]{0,62}$",
                            description="Machine name of the field (column), when the resource has one")
    data_type: DataType
    length: int | None = Field(default=None, ge=1, le=1_000_000)
    sensitivity: int = Field(ge=1, le=4, description="Data level 1 (public) … 4 (most sensitive)")
    description: str | None = Field(default=None, max_length=500)


class ResourceFormat(Strict):
    category: FormatCategory
    detail: str | None = Field(default=None, max_length=50, description="Concrete format, e.g. CSV, JSON, SHP")


class ShareMethod(Strict):
    channel: ShareChannel
    mode: ShareMode | None = None


class Temporal(Strict):
    start: date | None = None
    end: date | None = None

    @field_validator("end")
    @classmethod
    def _ordered(cls, end: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("start")
        if end is not None and start is not None and end < start:
            raise ValueError("the end of the temporal coverage is before its start")
        return end


def _required_when(value: Any, info: ValidationInfo, field: str, trigger: object, what: str) -> Any:
    if info.data.get(field) == trigger and (value is None or (isinstance(value, str) and not value.strip())):
        raise ValueError(f"{what} is required when {field} is {trigger}")
    return value


class EntryMetadata(Strict):
    """The core metadata a provider fills in. Field order matters: rules read the fields declared before."""

    classification: Classification
    name: Text200 = Field(description="信息资源名称")
    abstract: str = Field(min_length=1, max_length=4000, description="信息资源摘要")
    formats: list[ResourceFormat] = Field(min_length=1, max_length=20, description="信息资源格式")
    items: list[InfoItem] = Field(min_length=1, max_length=500, description="信息项")
    share_type: ShareType = Field(description="共享类型")
    share_conditions: str | None = Field(default=None, max_length=2000, validate_default=True,
                                         description="共享条件 (required for 有条件共享)")
    share_method: ShareMethod | None = Field(default=None, validate_default=True,
                                             description="共享方式 (required unless 不予共享)")
    no_share_basis: str | None = Field(default=None, max_length=2000, validate_default=True,
                                       description="不予共享依据: the law or policy (required for 不予共享)")
    open_type: OpenType = Field(default=OpenType.none, validate_default=True, description="开放类型")
    open_conditions: str | None = Field(default=None, max_length=2000, validate_default=True,
                                        description="开放条件 (required for 有条件开放)")
    update_cycle: UpdateCycle = Field(description="更新周期")
    related_codes: list[ResourceCode] = Field(default_factory=list, max_length=100, description="关联资源代码")
    maintainer: str | None = Field(default=None, max_length=200, description="维护方 (person or unit)")
    maintainer_contact: str | None = Field(default=None, max_length=200)
    keywords: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(default_factory=list,
                                                                              max_length=30)
    temporal: Temporal | None = Field(default=None, description="时间范围 of the data")
    spatial: RegionCode | None = Field(default=None, description="空间范围: GB/T 2260 code")
    grade: DataGrade = Field(default=DataGrade.general, description="数据分级")
    license: str | None = Field(default=None, max_length=500, pattern=r"^https?://\S+$",
                                description="Licence URL of open data (platform default when empty)")
    access_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://\S+$")
    download_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://\S+$")

    @field_validator("share_conditions")
    @classmethod
    def _share_conditions(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _required_when(value, info, "share_type", ShareType.conditional, "share_conditions")  # type: ignore[no-any-return]

    @field_validator("share_method")
    @classmethod
    def _share_method(cls, value: ShareMethod | None, info: ValidationInfo) -> ShareMethod | None:
        share_type = info.data.get("share_type")
        if value is None and share_type is not None and share_type != ShareType.none:
            raise ValueError(f"share_method is required for {share_type}")
        return value

    @field_validator("no_share_basis")
    @classmethod
    def _no_share_basis(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _required_when(value, info, "share_type", ShareType.none, "no_share_basis (不予共享依据)")  # type: ignore[no-any-return]

    @field_validator("open_type")
    @classmethod
    def _open_type(cls, value: OpenType, info: ValidationInfo) -> OpenType:
        if info.data.get("share_type") == ShareType.none and value != OpenType.none:
            raise ValueError("a 不予共享 resource cannot be opened to the public; open_type must be 不予开放")
        return value

    @field_validator("open_conditions")
    @classmethod
    def _open_conditions(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _required_when(value, info, "open_type", OpenType.conditional, "open_conditions")  # type: ignore[no-any-return]

    @field_validator("items")
    @classmethod
    def _unique_items(cls, items: list[InfoItem]) -> list[InfoItem]:
        names = [i.name for i in items]
        keys = [i.key for i in items if i.key]
        for label, values in (("name", names), ("key", keys)):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"信息项 {label}s must be unique; repeated: {', '.join(dupes)}")
        return items


class EntryCreate(EntryMetadata):
    department: DepartmentCode | None = Field(default=None, description="Provider; defaults to the caller's")


class EntryPatch(Strict):
    """A partial change: the merged result is validated as a whole (EntryMetadata)."""

    name: Text200 | None = None
    abstract: str | None = None
    formats: list[ResourceFormat] | None = None
    items: list[InfoItem] | None = None
    share_type: ShareType | None = None
    share_conditions: str | None = None
    share_method: ShareMethod | None = None
    no_share_basis: str | None = None
    open_type: OpenType | None = None
    open_conditions: str | None = None
    update_cycle: UpdateCycle | None = None
    related_codes: list[ResourceCode] | None = None
    maintainer: str | None = None
    maintainer_contact: str | None = None
    keywords: list[str] | None = None
    temporal: Temporal | None = None
    spatial: RegionCode | None = None
    grade: DataGrade | None = None
    license: str | None = None
    access_url: str | None = None
    download_url: str | None = None
    classification: Classification | None = None


class Census(Strict):
    """普查 counters (bytes and records)."""

    storage_bytes: int = Field(default=0, ge=0, description="数据存储总量")
    record_count: int = Field(default=0, ge=0, description="结构化信息记录总数")
    shared_bytes: int = Field(default=0, ge=0, description="已共享存储量")
    shared_records: int = Field(default=0, ge=0, description="已共享记录数")
    open_bytes: int = Field(default=0, ge=0, description="已开放存储量")
    open_records: int = Field(default=0, ge=0, description="已开放记录数")


class CensusUpdate(Strict):
    storage_bytes: int | None = Field(default=None, ge=0)
    record_count: int | None = Field(default=None, ge=0)
    shared_bytes: int | None = Field(default=None, ge=0)
    shared_records: int | None = Field(default=None, ge=0)
    open_bytes: int | None = Field(default=None, ge=0)
    open_records: int | None = Field(default=None, ge=0)


class EntryOut(EntryMetadata):
    # Output is built from stored rows; being lenient here keeps old rows readable if a rule tightens.
    model_config = ConfigDict(extra="ignore")

    id: int
    code: str
    metadata_id: str
    department: str
    department_name: str | None = None
    status: EntryStatus
    version: int
    source: EntrySource
    published_on: date | None = None
    census: Census
    quality_score: float | None = Field(default=None, description=(
        "质量评分, 0–100: the share of rows passing the resource's quality rules in its latest whole-table "
        "quality run; null until a run has scored it"))
    quality_scored_at: datetime | None = Field(default=None, description="When that run computed the score")
    created_at: datetime
    updated_at: datetime


class Transition(Strict):
    action: str = Field(pattern=r"^(submit|approve|reject|withdraw|reopen)$",
                        description="submit · approve · reject · withdraw · reopen")
    note: str | None = Field(default=None, max_length=2000, description="Reason; required to reject or withdraw")


class VersionOut(BaseModel):
    version: int
    action: str
    actor: str
    actor_department: str | None
    at: datetime
    changes: dict[str, dict[str, Any]]
    note: str | None = None


class VersionDetail(VersionOut):
    snapshot: dict[str, Any]


class DepartmentIn(Strict):
    code: DepartmentCode
    name: Text200
    parent: DepartmentCode | None = None
    region: RegionCode
    credit_code: str | None = Field(default=None, pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$",
                                    description="统一社会信用代码 of the agency (提供方代码)")


class DepartmentOut(BaseModel):
    code: str
    name: str
    parent: str | None
    region: str
    credit_code: str | None


class FacetValueOut(BaseModel):
    value: str
    count: int
    label: str | None = None


class SearchHitOut(BaseModel):
    code: str
    name: str
    abstract: str
    department: str
    department_name: str | None
    status: EntryStatus
    share_type: ShareType
    open_type: OpenType
    update_cycle: UpdateCycle
    score: float | None
    highlights: dict[str, str] = Field(description="name/abstract, HTML-escaped, matches in <em>…</em>")


class SearchPageOut(BaseModel):
    total: int = Field(description="Entries you may see that match; never counts the ones you may not")
    page: int
    size: int
    backend: str
    hits: list[SearchHitOut]
    facets: dict[str, list[FacetValueOut]]


class EntryList(BaseModel):
    total: int
    page: int
    size: int
    entries: list[EntryOut]
