"""Masking rules: what each rule hides stays hidden, the promised shape holds, and nothing raises."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from security.masking import COMPOUND_SURNAMES, FREE_TEXT_MARKER, MASK, OPAQUE, MaskingRule, mask, rule_for_field

DIGITS = st.text(alphabet=string.digits, min_size=1, max_size=1)
ID_NUMBERS = st.builds(
    lambda body, check: body + check,
    st.text(alphabet=string.digits, min_size=17, max_size=17),
    st.sampled_from([*list(string.digits), "X"]),
)
MOBILES = st.builds(lambda second, rest: "1" + second + rest, st.sampled_from("3456789"),
                    st.text(alphabet=string.digits, min_size=9, max_size=9))
HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)


def test_the_documented_examples() -> None:
    assert mask("110101199003071234", MaskingRule.id_number) == "110101********1234"
    assert mask("13812345678", MaskingRule.phone) == "138****5678"
    assert mask("张三", MaskingRule.name) == "张*"
    assert mask("张三丰", MaskingRule.name) == "张**"
    assert mask("欧阳娜娜", MaskingRule.name) == "欧阳**"
    assert mask("北京市东城区景山前街4号", MaskingRule.address) == "北京市东城区" + OPAQUE
    assert mask("广东省深圳市南山区粤海街道科技园1栋", MaskingRule.address) == "广东省深圳市南山区粤海街道" + OPAQUE
    assert mask("患者自述近期有高血压病史", MaskingRule.free_text) == FREE_TEXT_MARKER
    assert mask("患者自述近期有高血压病史", MaskingRule.free_text, keep_first=4) == "患者自述" + FREE_TEXT_MARKER
    assert mask(None, MaskingRule.name) is None


@given(ID_NUMBERS)
def test_id_number_hides_birth_date_and_sequence(value: str) -> None:
    masked = mask(value, MaskingRule.id_number)
    assert len(masked) == len(value) == 18
    assert masked[:6] == value[:6]
    assert masked[-4:] == value[-4:]
    assert masked[6:14] == MASK * 8  # the birth date is exactly what is hidden


@given(MOBILES)
def test_mobile_hides_the_middle_four(value: str) -> None:
    masked = mask(value, MaskingRule.phone)
    assert masked == value[:3] + MASK * 4 + value[-4:]


@given(st.sampled_from(["+86 ", "+86-", "0086", "+86"]), MOBILES, st.sampled_from(["", "-", " "]))
def test_phone_keeps_country_code_and_separators(prefix: str, number: str, sep: str) -> None:
    value = prefix + number[:3] + sep + number[3:7] + sep + number[7:]
    masked = mask(value, MaskingRule.phone)
    assert masked == prefix + number[:3] + sep + MASK * 4 + sep + number[7:]


@given(st.text(alphabet=HAN, min_size=1, max_size=1), st.text(alphabet=HAN, min_size=1, max_size=3))
def test_name_keeps_only_the_surname(surname: str, given_name: str) -> None:
    value = surname + given_name
    masked = mask(value, MaskingRule.name)
    kept = 2 if value[:2] in COMPOUND_SURNAMES and len(value) >= 3 else 1
    assert masked == value[:kept] + MASK * (len(value) - kept)


@given(st.sampled_from(sorted(COMPOUND_SURNAMES)), st.text(alphabet=HAN, min_size=1, max_size=2))
def test_compound_surnames_are_kept_whole(surname: str, given_name: str) -> None:
    assert mask(surname + given_name, MaskingRule.name) == surname + MASK * len(given_name)


@given(
    st.sampled_from(["北京市东城区", "上海市浦东新区张江镇", "广东省深圳市南山区粤海街道",
                     "内蒙古自治区呼和浩特市新城区"]),
    st.text(min_size=1, max_size=40).filter(lambda s: not s[0].isspace()),
)
def test_address_hides_everything_after_the_administrative_prefix(prefix: str, detail: str) -> None:
    detail = "1" + detail  # a house number starts the detail, as in real addresses
    masked = mask(prefix + detail, MaskingRule.address)
    assert masked == prefix + OPAQUE
    # Nothing of the detail survives, not even its length.
    assert detail not in masked


@given(st.text(min_size=1, max_size=200), st.integers(min_value=0, max_value=10))
def test_free_text_shows_at_most_the_first_n_characters(value: str, keep: int) -> None:
    masked = mask(value, MaskingRule.free_text, keep_first=keep)
    assert masked.endswith(FREE_TEXT_MARKER)
    shown = masked[: -len(FREE_TEXT_MARKER)]
    assert len(shown) <= keep
    assert value.startswith(shown)
    if len(value) <= keep:
        assert masked == FREE_TEXT_MARKER  # a text as short as the kept part is not shown at all


@given(st.text(max_size=60))
def test_generic_and_full_keep_length_and_hide_the_middle(value: str) -> None:
    generic = mask(value, MaskingRule.generic)
    assert len(generic) == len(value)
    keep = min(len(value) // 4, 3)
    hidden = range(keep, len(value) - keep)
    assert all(generic[i] == MASK for i in hidden)
    assert mask(value, MaskingRule.full) == MASK * len(value)


@given(st.text(max_size=80), st.sampled_from(list(MaskingRule)), st.integers(min_value=-3, max_value=12))
def test_every_rule_is_total_and_idempotent(value: str, rule: MaskingRule, keep: int) -> None:
    once = mask(value, rule, keep_first=keep)
    assert isinstance(once, str)
    assert mask(once, rule, keep_first=keep) == once
    if value:
        assert once != value or set(value) <= {MASK} or rule is MaskingRule.address


@given(st.text(max_size=40), st.sampled_from([MaskingRule.id_number, MaskingRule.phone, MaskingRule.name,
                                               MaskingRule.generic, MaskingRule.full]))
def test_shape_preserving_rules_only_replace_characters(value: str, rule: MaskingRule) -> None:
    masked = mask(value, rule)
    assert len(masked) == len(value)
    assert all(m in (v, MASK) for m, v in zip(masked, value, strict=True))


def test_rule_for_field_names() -> None:
    assert rule_for_field("公民身份号码") is MaskingRule.id_number
    assert rule_for_field("联系电话") is MaskingRule.phone
    assert rule_for_field("姓名") is MaskingRule.name
    assert rule_for_field("户籍地址") is MaskingRule.address
    assert rule_for_field("备注") is MaskingRule.free_text
    assert rule_for_field("建筑面积") is MaskingRule.generic
