"""人口基础信息 (persons): 公民身份号码 validity and its consistency with birth date, sex and region."""

from __future__ import annotations

from basebases import codes
from basebases.models import Person, table_of
from quality.suites import TODAY, Kind, Rule, Suite, not_null

POPULATION = Suite(
    resource="population",
    table=table_of(Person),
    key=("id_number",),
    description="人口基础信息: 公民身份号码 (GB 11643), consistency with birth date and sex, GB/T 2260 regions",
    upper_case=("id_number",),
    rules=(
        *not_null("id_number", "name", "sex", "birth_date", "hukou_region_code", "status"),
        Rule("id_number.unique", Kind.unique, ("id_number",), "one record per 公民身份号码"),
        Rule("id_number.valid", Kind.ric_valid, ("id_number",),
             "a valid 公民身份号码: 17 digits, GB 11643 check character, a calendar birth date"),
        Rule("id_number.region", Kind.ric_region, ("id_number",),
             "the ID number's region is a GB/T 2260 code in use in its birth year"),
        Rule("birth_date.matches_id_number", Kind.ric_birth_date, ("id_number", "birth_date"),
             "birth_date equals the birth date in the ID number", on="birth_date"),
        Rule("sex.matches_id_number", Kind.ric_sex, ("id_number", "sex"),
             "sex agrees with the ID number's sequence digit (odd 男, even 女)", on="sex"),
        Rule("birth_date.not_future", Kind.not_after, ("birth_date",), "birth_date is not in the future",
             {"latest": TODAY}),
        Rule("sex.code", Kind.in_set, ("sex",), "sex is a GB/T 2261.1 code (1 男, 2 女)",
             {"values": sorted(codes.SEX.labels)}),
        Rule("ethnicity.code", Kind.in_set, ("ethnicity",), "ethnicity is a GB 3304 code",
             {"values": sorted(codes.ETHNICITIES)}),
        Rule("status.code", Kind.in_set, ("status",), "status is normal, moved_out or deceased",
             {"values": sorted(codes.PERSON_STATUS.labels)}),
        Rule("hukou_region_code.gbt2260", Kind.gbt2260, ("hukou_region_code",),
             "hukou_region_code is a GB/T 2260 code in use today", {"current_only": True}),
        Rule("phone.format", Kind.cn_phone, ("phone",), "phone is a mobile (1xxxxxxxxxx) or landline number"),
    ),
)

SUITES = (POPULATION,)
