"""脱敏: masking rules per field sensitivity.

Every rule is positional and keeps the value's shape where the shape itself is not the secret (ID numbers,
phone numbers, names keep their length, so a masked table still lines up); free text and the detail part of
an address are replaced by a fixed-length marker, because their length would say something about them.
All rules are idempotent: masking a masked value changes nothing, so a value masked upstream can pass
through again safely. No rule raises on any string.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import overload

MASK = "*"
# Free text and address details: a fixed marker, so the hidden part's length is not disclosed either.
OPAQUE = MASK * 4
FREE_TEXT_MARKER = MASK * 6


class MaskingRule(StrEnum):
    id_number = "id-number"      # 公民身份号码: keep region (6) and the last 4 → 110101********1234
    phone = "phone"              # keep the first 3 and last 4 digits → 138****5678
    name = "name"                # keep the surname (复姓 for names of 3+ chars) → 张*, 张**, 欧阳**
    address = "address"          # keep the administrative prefix down to the street/town → 北京市东城区****
    free_text = "free-text"      # fully masked (or the first N characters, see `keep_first`)
    generic = "generic"          # a quarter kept at each end (at most 3 characters), the rest masked
    full = "full"                # every character masked, length kept


# 复姓: treated as the surname only when the name has at least three characters, since a two-character
# name starting with one (欧阳) is as likely to be surname 欧 with given name 阳.
COMPOUND_SURNAMES = frozenset({
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯",
    "轩辕", "令狐", "端木", "独孤", "南宫", "西门", "万俟", "闻人", "澹台", "公冶", "宗政", "濮阳", "淳于",
    "单于", "太叔", "申屠", "钟离", "呼延", "百里", "东郭", "拓跋", "赫连", "司空", "第五",
})

# Administrative levels of a Chinese address, each an optional component ending in its level's suffix.
# Digits, whitespace and the mask character end a component, so house numbers are never part of the prefix.
_COMPONENT = r"[^\d\s*]{1,%d}?"
_ADDRESS_PREFIX = re.compile(
    rf"(?:{_COMPONENT % 8}(?:特别行政区|自治区|省))?"
    rf"(?:{_COMPONENT % 9}(?:自治州|地区|市|盟|州))?"
    rf"(?:{_COMPONENT % 9}(?:自治县|区|县|旗|市))?"
    rf"(?:{_COMPONENT % 9}(?:街道|镇|乡))?"
)

_COUNTRY_CODE = re.compile(r"(?:\+|00)86[\s-]*")

_NAME_FIELDS = ("姓名", "名字", "联系人", "法定代表人", "负责人", "name")
_ID_FIELDS = ("身份号码", "身份证", "证件号", "id_number", "idnumber", "id_card", "ric")
_PHONE_FIELDS = ("电话", "手机", "联系方式", "phone", "mobile", "tel")
_ADDRESS_FIELDS = ("地址", "住址", "住所", "户籍地", "address", "addr")
_TEXT_FIELDS = ("备注", "说明", "描述", "remark", "note", "comment", "description")


def _keep_ends(value: str, head: int, tail: int) -> str:
    n = len(value)
    if head + tail >= n:
        return MASK * n
    return value[:head] + MASK * (n - head - tail) + value[n - tail :]


def _generic(value: str) -> str:
    keep = min(len(value) // 4, 3)
    return _keep_ends(value, keep, keep)


def _id_number(value: str) -> str:
    # 18 characters today, 15 for first-generation cards; anything shorter would reveal too much by keeping 10.
    if len(value) >= 15:
        return _keep_ends(value, 6, 4)
    return _generic(value)


def _phone(value: str) -> str:
    # The country code is not part of the number: +86 138****5678, not +86 1**-****-5678.
    country = _COUNTRY_CODE.match(value)
    start = country.end() if country else 0
    # Already-masked digits count as digits, so masking a masked number gives the same number.
    slots = [i for i, ch in enumerate(value) if i >= start and (ch.isdigit() or ch == MASK)]
    if len(slots) < 8:
        return _generic(value)
    hidden = set(slots[3:-4])
    return "".join(MASK if i in hidden else ch for i, ch in enumerate(value))


def _name(value: str) -> str:
    if len(value) <= 1:
        return MASK * len(value)
    surname = 2 if len(value) >= 3 and value[:2] in COMPOUND_SURNAMES else 1
    return value[:surname] + MASK * (len(value) - surname)


def _address(value: str) -> str:
    match = _ADDRESS_PREFIX.match(value)
    prefix = match.group(0) if match else ""
    return prefix + (OPAQUE if len(value) > len(prefix) else "")


def _free_text(value: str, keep_first: int) -> str:
    if not value:
        return ""
    if 0 < keep_first < len(value) and value != FREE_TEXT_MARKER:
        return value[:keep_first] + FREE_TEXT_MARKER
    return FREE_TEXT_MARKER


@overload
def mask(value: str, rule: MaskingRule, *, keep_first: int = 0) -> str: ...
@overload
def mask(value: None, rule: MaskingRule, *, keep_first: int = 0) -> None: ...
def mask(value: str | None, rule: MaskingRule, *, keep_first: int = 0) -> str | None:
    """Mask `value` by `rule`; `keep_first` applies to free text only (0 = fully masked)."""
    if value is None:
        return None
    if rule is MaskingRule.id_number:
        return _id_number(value)
    if rule is MaskingRule.phone:
        return _phone(value)
    if rule is MaskingRule.name:
        return _name(value)
    if rule is MaskingRule.address:
        return _address(value)
    if rule is MaskingRule.free_text:
        return _free_text(value, max(keep_first, 0))
    if rule is MaskingRule.full:
        return MASK * len(value)
    return _generic(value)


def rule_for_field(field_name: str) -> MaskingRule:
    """A default rule from a 信息项's name, for fields whose catalogue entry names no rule of its own."""
    lowered = field_name.lower()
    for needles, rule in (
        (_ID_FIELDS, MaskingRule.id_number),
        (_PHONE_FIELDS, MaskingRule.phone),
        (_ADDRESS_FIELDS, MaskingRule.address),
        (_NAME_FIELDS, MaskingRule.name),
        (_TEXT_FIELDS, MaskingRule.free_text),
    ):
        if any(needle in lowered for needle in needles):
            return rule
    return MaskingRule.generic
