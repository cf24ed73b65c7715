"""法人基础信息 (legal entities): 统一社会信用代码 validity, registered capital and dates."""

from __future__ import annotations

from basebases import codes
from basebases.models import LegalEntity, table_of
from quality.suites import TODAY, Kind, Rule, Suite, not_null

# GB/T 4754-2017: a section letter A–T, optionally a 2–4 digit division/group/class.
INDUSTRY_PATTERN = r"^[A-T](?:[0-9]{2}|[0-9]{3}|[0-9]{4})?$"

LEGAL_ENTITIES = Suite(
    resource="legal_entities",
    table=table_of(LegalEntity),
    key=("uscc",),
    description="法人基础信息: 统一社会信用代码 (GB 32100), registered capital, establishment date, codes",
    upper_case=("uscc", "industry_code"),
    rules=(
        *not_null("uscc", "name", "entity_type", "region_code", "status"),
        Rule("uscc.unique", Kind.unique, ("uscc",), "one record per 统一社会信用代码"),
        Rule("uscc.valid", Kind.uscc_valid, ("uscc",), "a valid 统一社会信用代码 with its GB 32100 check character"),
        Rule("uscc.region", Kind.uscc_region, ("uscc",), "the USCC's characters 3–8 are a GB/T 2260 code"),
        Rule("registered_capital.non_negative", Kind.between, ("registered_capital",),
             "registered_capital is not negative", {"min": 0}),
        Rule("established_on.not_future", Kind.not_after, ("established_on",),
             "established_on is not in the future", {"latest": TODAY}),
        Rule("entity_type.code", Kind.in_set, ("entity_type",), "entity_type is a known 市场主体类型",
             {"values": sorted(codes.ENTITY_TYPES.labels)}),
        Rule("status.code", Kind.in_set, ("status",), "status is a known 登记状态",
             {"values": sorted(codes.ENTITY_STATUS.labels)}),
        Rule("region_code.gbt2260", Kind.gbt2260, ("region_code",), "region_code is a GB/T 2260 code in use today",
             {"current_only": True}),
        Rule("industry_code.gbt4754", Kind.regex, ("industry_code",),
             "industry_code is a GB/T 4754-2017 code (section letter, 2–4 digits)", {"regex": INDUSTRY_PATTERN}),
    ),
)

SUITES = (LEGAL_ENTITIES,)
