"""Value domains of the catalogue's core metadata (2017 编制指南 / GB/T 21063.3; see shared/reference/standards.md).

Values are the standard's own Chinese terms, so an entry reads the same in the API, the CSV export and the
facets. Where the standard gives a letter code (数据类型) the code is the value and the label is kept beside it.
"""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    """信息资源分类 · 类 (1 digit)."""

    basic = "1"     # 基础信息资源
    thematic = "2"  # 主题信息资源
    department = "3"  # 部门信息资源


CATEGORY_LABELS: dict[str, str] = {"1": "基础信息资源", "2": "主题信息资源", "3": "部门信息资源"}

# 项 under 基础信息资源 as this platform numbers them (the guide names the classes, not their numbers).
BASIC_ITEMS: dict[str, str] = {
    "01": "人口", "02": "法人", "03": "自然资源和空间地理", "04": "社会信用", "05": "电子证照",
    "06": "建筑物", "07": "宏观经济",
}


class ShareType(StrEnum):
    """共享类型."""

    unconditional = "无条件共享"
    conditional = "有条件共享"
    none = "不予共享"


SHARE_TYPE_CODES: dict[str, int] = {"无条件共享": 1, "有条件共享": 2, "不予共享": 3}


class OpenType(StrEnum):
    """开放类型 (是否向社会开放)."""

    unconditional = "无条件开放"
    conditional = "有条件开放"
    none = "不予开放"


class ShareChannel(StrEnum):
    """共享方式 · 渠道."""

    platform = "共享平台"
    offline = "邮件或介质"


class ShareMode(StrEnum):
    """共享方式 · 类型."""

    api = "接口"
    database = "库表"
    file = "文件"


class UpdateCycle(StrEnum):
    """更新周期."""

    realtime = "实时"
    daily = "每日"
    weekly = "每周"
    monthly = "每月"
    quarterly = "每季度"
    semiannual = "每半年"
    yearly = "每年"
    irregular = "不定期"
    never = "不更新"


class FormatCategory(StrEnum):
    """信息资源格式 · 格式大类."""

    electronic_file = "电子文件"
    spreadsheet = "电子表格"
    database = "数据库"
    image = "图形图像"
    streaming = "流媒体"
    self_describing = "自描述格式"
    service = "服务接口"


# One bit per format category: the search index keeps an entry's formats in one integer column.
FORMAT_BITS: dict[str, int] = {fmt.value: 1 << i for i, fmt in enumerate(FormatCategory)}


def formats_mask(categories: list[str]) -> int:
    mask = 0
    for category in categories:
        mask |= FORMAT_BITS[category]
    return mask


def formats_of_mask(mask: int) -> list[str]:
    return [name for name, bit in FORMAT_BITS.items() if mask & bit]


class DataType(StrEnum):
    """信息项 · 数据类型 (letter codes of the 编制指南)."""

    C = "C"
    N = "N"
    Y = "Y"
    D = "D"
    T = "T"
    L = "L"
    M = "M"
    G = "G"
    B = "B"
    I = "I"  # noqa: E741 - the standard's own code
    F = "F"


DATA_TYPE_LABELS: dict[str, str] = {
    "C": "字符型", "N": "数值型", "Y": "货币型", "D": "日期型", "T": "日期时间型", "L": "逻辑型",
    "M": "备注型", "G": "通用型", "B": "双精度型", "I": "整型", "F": "浮点型",
}


class DataGrade(StrEnum):
    """数据分级."""

    general = "一般"
    important = "重要"
    core = "核心"


class EntryStatus(StrEnum):
    draft = "draft"
    under_review = "under_review"
    published = "published"
    withdrawn = "withdrawn"


class EntrySource(StrEnum):
    department = "department"
    basebase = "basebase"


# The sequence part of a resource code (后段码); the guide fixes the separator, this platform the width.
SEQUENCE_DIGITS = 6
CLASSIFICATION_CODE_PATTERN = r"^[1-3]\d{2}\d{3}\d{0,6}$"
RESOURCE_CODE_PATTERN = r"^[1-3]\d{2}\d{3}\d{0,6}/\d{6}$"
REGION_CODE_PATTERN = r"^\d{6}$"
DEPARTMENT_CODE_PATTERN = r"^[a-z][a-z0-9_-]{1,49}$"
