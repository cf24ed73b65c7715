"""Synthetic people and organisations for the demo city: names, valid 公民身份号码 and 统一社会信用代码.

Every number is valid by construction (GB 11643 check digit and a GB/T 2260 region in use in the birth year;
GB 32100 and GB 11714 check characters), and tests re-check them with python-stdnum.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from stdnum.cn import ric, uscc

from basebases import codes

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟"
    "谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方")
MALE_CHARS = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林欢阳建国文博志成"
FEMALE_CHARS = "芳娜敏静丽艳娟霞秀燕玲桂丹萍红琳雪梅婷慧莹颖倩洁晶月琴云佳怡欣悦雅思涵璐"
BRAND_CHARS = "鑫达恒信盛华泰安瑞祥宏德嘉诚博源新创优汇金丰通远天宇中科联兴卓越星辰智慧绿洲"
INDUSTRY_WORDS = {
    "I65": "软件科技", "I64": "网络科技", "F52": "商贸", "F51": "贸易", "C39": "电子", "C26": "化工材料",
    "C34": "机械制造", "H62": "餐饮管理", "K70": "房地产开发", "M75": "技术服务", "L72": "商务咨询",
    "E47": "建筑工程", "G54": "物流", "J66": "投资", "R88": "文化传媒", "O80": "家政服务",
}
TYPE_SUFFIX = {
    "limited_company": "有限公司", "joint_stock_company": "股份有限公司", "sole_proprietorship": "经营部",
    "partnership": "企业管理合伙企业（有限合伙）", "individual_business": "商行",
    "farmer_cooperative": "农民专业合作社",
    "public_institution": "服务中心", "social_organization": "协会",
}
ENTITY_TYPE_WEIGHTS = (
    ("limited_company", 60), ("individual_business", 18), ("joint_stock_company", 5),
    ("sole_proprietorship", 5), ("partnership", 3), ("public_institution", 4), ("social_organization", 3),
    ("farmer_cooperative", 2),
)
ETHNIC_MINORITIES = ("03", "11", "02", "08", "10", "06", "15", "04", "05", "07")

# Where 流动人口 come from: county-level codes of neighbouring and populous provinces.
MIGRANT_PROVINCES = ("34", "32", "41", "37", "51", "36", "33", "43")

# Codes a Nanjing-born person's number carries when the district did not yet exist in the birth year.
PREDECESSORS = {
    "320115": ("320121",), "320116": ("320123",), "320117": ("320124",), "320118": ("320125",),
}
CITY_CODE = "320100"


def person_name(rng: random.Random, male: bool) -> str:
    surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.01 else rng.choice(SURNAMES)
    chars = MALE_CHARS if male else FEMALE_CHARS
    given = rng.choice(chars) + (rng.choice(chars) if rng.random() < 0.7 else "")
    return surname + given


def phone_number(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


def id_number(region: str, birth: date, sequence: int) -> str:
    """A 公民身份号码: region + birth date + 3-digit sequence (odd for men) + MOD 11-2 check character."""
    body = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return body + ric.calc_check_digit(body + "0")


def org_code(rng: random.Random) -> str:
    """A GB 11714 组织机构代码: eight digits and its check character."""
    body = f"{rng.randrange(10**8):08d}"
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    check = 11 - sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def credit_code(entity_type: str, region: str, rng: random.Random) -> str:
    """A 统一社会信用代码 (GB 32100) for an entity of `entity_type` registered in `region`."""
    body = codes.ENTITY_TYPE_USCC_PREFIX[entity_type] + region + org_code(rng)
    return body + uscc.calc_check_digit(body)


def migrant_regions() -> list[str]:
    """County codes of the migrant provinces that are current and were never renamed (valid any birth year)."""
    found = [r.code for r in codes.regions().values()
             if r.level == "county" and r.code[:2] in MIGRANT_PROVINCES and r.valid_from is None
             and r.valid_to is None and not r.code.endswith("01")]
    return sorted(found)[::7][:60]


class IdentityFactory:
    """Hands out unique, valid ID numbers for people of a given home district and birth date."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()
        self.migrants = migrant_regions()

    def region_for(self, district: str, birth: date, migrant: bool) -> str:
        if migrant:
            for _ in range(10):
                code: str = self.rng.choice(self.migrants)
                if codes.id_region_valid(code, birth.year):
                    return code
        for code in (district, *PREDECESSORS.get(district, ())):
            if codes.id_region_valid(code, birth.year):
                return code
        return CITY_CODE

    def issue(self, region: str, birth: date, male: bool) -> str:
        sequence = self.rng.randrange(500) * 2 + (1 if male else 0)
        for _ in range(1000):
            number = id_number(region, birth, sequence)
            if number not in self.used:
                self.used.add(number)
                return number
            sequence = (sequence + 2) % 1000
        raise RuntimeError(f"no free ID sequence left for {region} {birth}")


def birth_date(rng: random.Random, today: date) -> date:
    # An urban age pyramid, coarsely: few under 5, a bulge at working age, a tail to 95.
    age = min(int(abs(rng.gauss(38, 18))), 95)
    return today - timedelta(days=age * 365 + rng.randrange(365))


def entity_type(rng: random.Random) -> str:
    kinds = [k for k, _w in ENTITY_TYPE_WEIGHTS]
    return rng.choices(kinds, weights=[w for _k, w in ENTITY_TYPE_WEIGHTS])[0]


def entity_name(rng: random.Random, kind: str, industry: str, used: set[str]) -> str:
    for _ in range(50):
        brand = rng.choice(BRAND_CHARS) + rng.choice(BRAND_CHARS)
        name = f"南京{brand}{INDUSTRY_WORDS[industry]}{TYPE_SUFFIX[kind]}"
        if kind in ("public_institution", "social_organization"):
            name = f"南京市{brand}{INDUSTRY_WORDS[industry]}{TYPE_SUFFIX[kind]}"
        if name not in used:
            used.add(name)
            return name
    name = f"{name[:-len(TYPE_SUFFIX[kind])]}{len(used)}{TYPE_SUFFIX[kind]}"
    used.add(name)
    return name
