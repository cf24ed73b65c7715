"""The five base databases as catalogue resources (政务信息资源目录 entries), derived from the models.

The catalogue registers these itself; the 信息项 come from each column's `info` (label, sensitivity, masking),
so the catalogue, the masking in the gateway and the exchange's field grants cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import JSON, Date, Float, Integer, String, Text

from basebases.geometry import Geometry
from basebases.models import BASE_MODELS, table_of
from cpip.db import UTCDateTime
from security.masking import MaskingRule

RESOURCE_CLASS = "基础信息资源"


@dataclass(frozen=True)
class InfoItem:
    """信息项: one field of a resource."""

    name: str  # the column / API field name
    label: str  # 信息项名称
    data_type: str  # 编制指南 letter code: C 字符型, I 整型, F 浮点型, D 日期型, T 日期时间型, M 备注型, G 通用型
    length: int | None
    sensitivity: int  # 1 公开 · 2 内部 · 3 敏感 · 4 高度敏感
    masking: MaskingRule | None
    key: bool = False  # part of the natural key
    codes: str | None = None  # the code standard the values follow (GB/T 2260, GB 3304, …)


@dataclass(frozen=True)
class BaseResource:
    key: str  # as in basebases.models.BASE_MODELS and the exchange's source_key
    name: str
    department: str  # 提供方 code
    resource_class: str  # 信息资源分类 · 类
    subject: str  # 项 under 基础信息资源 (人口, 法人, …)
    abstract: str
    update_cycle: str
    formats: tuple[str, ...]
    share_type: str  # suggested 共享类型; the provider confirms it in the catalogue
    open_type: str
    items: tuple[InfoItem, ...]


def _data_type(column_type: object) -> tuple[str, int | None]:
    if isinstance(column_type, Geometry):
        return "G", None
    if isinstance(column_type, UTCDateTime):
        return "T", None
    if isinstance(column_type, Date):
        return "D", None
    if isinstance(column_type, Integer):
        return "I", None
    if isinstance(column_type, Float):
        return "F", None
    if isinstance(column_type, JSON | Text):
        return "M", None
    if isinstance(column_type, String):
        return "C", column_type.length
    return "C", None


def info_items(base: str) -> tuple[InfoItem, ...]:
    items = []
    for column in table_of(BASE_MODELS[base]).columns:
        info = column.info
        if "label" not in info:
            continue  # surrogate keys and bbox helpers are storage, not information
        data_type, length = _data_type(column.type)
        items.append(InfoItem(name=column.name, label=str(info["label"]), data_type=data_type, length=length,
                              sensitivity=int(info["sensitivity"]), masking=info.get("masking"),
                              key=bool(info.get("key")), codes=info.get("codes")))
    return tuple(items)


_DESCRIPTIONS = (
    ("population", "人口基础信息", "psb", "人口", "每日", ("数据库", "服务接口"), "有条件共享", "不予开放",
     "本市实有人口的公民身份号码、姓名、性别、出生日期、民族、户籍地、居住地址及居住建筑物、联系电话和人口状态。"
     "身份号码按 GB 11643 校验, 行政区划按 GB/T 2260。"),
    ("legal_entities", "法人基础信息", "samr", "法人", "每日", ("数据库", "服务接口"), "无条件共享", "有条件开放",
     "在本市登记的企业、个体工商户、农民专业合作社及机关、事业单位、社会组织: 统一社会信用代码 (GB 32100)、"
     "名称、类型、法定代表人、注册资本、成立日期、行业 (GB/T 4754-2017)、登记状态、住所。"),
    ("spatial_features", "自然资源和空间地理基础信息", "nrb", "自然资源和空间地理", "每季度",
     ("数据库", "服务接口", "自描述格式"), "无条件共享", "无条件开放",
     "行政区划界线 (GB/T 2260 代码)、道路中心线、兴趣点和土地宗地的几何与属性, CGCS2000 (EPSG:4490)。"),
    ("buildings", "建筑物基础信息", "hurd", "建筑物", "每月", ("数据库", "服务接口", "自描述格式"), "无条件共享",
     "有条件开放",
     "建筑物编码、地址、基底轮廓、地上地下层数、高度、用途、结构、建成年份、所在行政区划、宗地和产权单位。"),
    ("economy_observations", "宏观经济基础信息", "stats", "宏观经济", "每月", ("数据库", "服务接口", "电子表格"),
     "无条件共享", "无条件开放",
     "分区县的月度、季度和年度宏观经济指标 (地区生产总值、社会消费品零售总额、用电量、居民消费价格指数、"
     "人均可支配收入、常住人口、一般公共预算收入等), 含数据状态标识和修订次数。"),
)


def catalogue_resources() -> list[BaseResource]:
    """One entry per base resource, for the catalogue to register (source "basebase", source_key = key)."""
    return [
        BaseResource(key=key, name=name, department=department, resource_class=RESOURCE_CLASS, subject=subject,
                     abstract=abstract, update_cycle=cycle, formats=formats, share_type=share, open_type=opening,
                     items=info_items(key))
        for key, name, department, subject, cycle, formats, share, opening, abstract in _DESCRIPTIONS
    ]


PROVIDERS = {resource[0]: resource[2] for resource in _DESCRIPTIONS}
