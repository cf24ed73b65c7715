"""National codes and the small vocabularies the base databases use.

GB/T 2260 regions come from `data/gbt2260.csv` (the same file the 0003 migration seeds into `gbt2260_regions`),
so validation in a loader and a join in SQL agree. GB 3304 ethnicities and GB/T 4754-2017 sections are short
enough to live here.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumValidationError


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    level: str  # province | prefecture | county
    parent_code: str | None
    valid_from: int | None  # first year the code was in use (None: before the records begin)
    valid_to: int | None  # last year (None: still in use)

    @property
    def current(self) -> bool:
        return self.valid_to is None


def gbt2260_rows() -> list[dict[str, str]]:
    with resources.files("basebases").joinpath("data/gbt2260.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@cache
def regions() -> dict[str, Region]:
    return {
        row["code"]: Region(
            code=row["code"], name=row["name"], level=row["level"], parent_code=row["parent_code"] or None,
            valid_from=int(row["valid_from"]) if row["valid_from"] else None,
            valid_to=int(row["valid_to"]) if row["valid_to"] else None,
        )
        for row in gbt2260_rows()
    }


def region_exists(code: str) -> bool:
    return code in regions()


def region_path(code: str) -> list[Region]:
    """The region and its parents, province first."""
    path: list[Region] = []
    found = regions().get(code)
    while found is not None:
        path.insert(0, found)
        found = regions().get(found.parent_code) if found.parent_code else None
    return path


def region_prefix(code: str) -> str:
    """The significant digits of a region code: 320100 → 3201, 320000 → 32, 320102 → 320102."""
    prefix = code
    while prefix.endswith("00") and len(prefix) > 2:
        prefix = prefix[:-2]
    return prefix


@lru_cache(maxsize=65536)
def id_region_valid(region: str, birth_year: int) -> bool:
    """Whether a 公民身份号码's first six digits name a region in use in its birth year (stdnum's table)."""
    try:
        # Only the region and the birth year matter to the lookup; the rest of the number is filler.
        ric.get_birth_place(f"{region}{birth_year:04d}01010000")
    except StdnumValidationError:
        return False
    return True


@dataclass(frozen=True)
class Vocabulary:
    """A closed list of codes with Chinese labels; input may use either."""

    name: str
    labels: dict[str, str]

    def normalise(self, value: str) -> str | None:
        value = value.strip()
        if value in self.labels:
            return value
        for code, label in self.labels.items():
            if value == label:
                return code
        return None

    def describe(self) -> str:
        return ", ".join(f"{code} ({label})" for code, label in self.labels.items())


SEX = Vocabulary("sex", {"1": "男", "2": "女"})  # GB/T 2261.1; an ID number always implies one of these
PERSON_STATUS = Vocabulary("person status", {"normal": "正常", "moved_out": "迁出", "deceased": "死亡"})
ENTITY_STATUS = Vocabulary("entity status",
                           {"active": "存续", "revoked": "吊销", "cancelled": "注销", "moved_out": "迁出"})
BUILDING_USE = Vocabulary("building use", {
    "residential": "住宅", "commercial": "商业", "office": "办公", "industrial": "工业", "public": "公共服务",
    "mixed": "综合"})
BUILDING_STRUCTURE = Vocabulary("building structure", {
    "steel": "钢结构", "reinforced_concrete": "钢筋混凝土", "masonry": "砖混", "wood": "木结构", "other": "其他"})
FREQUENCY = Vocabulary("frequency", {"month": "月度", "quarter": "季度", "year": "年度"})
AGGREGATION = Vocabulary("aggregation", {"sum": "求和", "mean": "平均", "last": "期末值"})
# Observation status flags (one letter each, combinable): as in SDMX/Eurostat practice.
OBSERVATION_FLAGS = {"p": "初步数", "e": "估计数", "r": "修订数", "b": "口径调整", "c": "保密"}

# 市场主体/组织类型, with the two leading USCC characters (GB 32100 登记管理部门码 + 机构类别码) each may carry.
ENTITY_TYPES = Vocabulary("entity type", {
    "limited_company": "有限责任公司", "joint_stock_company": "股份有限公司", "sole_proprietorship": "个人独资企业",
    "partnership": "合伙企业", "state_owned": "全民所有制企业", "foreign_invested": "外商投资企业",
    "individual_business": "个体工商户", "farmer_cooperative": "农民专业合作社", "government_agency": "机关",
    "public_institution": "事业单位", "social_organization": "社会团体", "private_non_enterprise": "民办非企业单位",
    "foundation": "基金会",
})
ENTITY_TYPE_USCC_PREFIX = {
    "limited_company": "91", "joint_stock_company": "91", "sole_proprietorship": "91", "partnership": "91",
    "state_owned": "91", "foreign_invested": "91", "individual_business": "92", "farmer_cooperative": "93",
    "government_agency": "11", "public_institution": "12", "social_organization": "51",
    "private_non_enterprise": "52", "foundation": "53",
}

# GB 3304-1991 民族名称的罗马字母拼写法和代码 (numeric codes).
ETHNICITIES = {
    "01": "汉族", "02": "蒙古族", "03": "回族", "04": "藏族", "05": "维吾尔族", "06": "苗族", "07": "彝族",
    "08": "壮族", "09": "布依族", "10": "朝鲜族", "11": "满族", "12": "侗族", "13": "瑶族", "14": "白族",
    "15": "土家族", "16": "哈尼族", "17": "哈萨克族", "18": "傣族", "19": "黎族", "20": "傈僳族", "21": "佤族",
    "22": "畲族", "23": "高山族", "24": "拉祜族", "25": "水族", "26": "东乡族", "27": "纳西族", "28": "景颇族",
    "29": "柯尔克孜族", "30": "土族", "31": "达斡尔族", "32": "仫佬族", "33": "羌族", "34": "布朗族",
    "35": "撒拉族", "36": "毛南族", "37": "仡佬族", "38": "锡伯族", "39": "阿昌族", "40": "普米族",
    "41": "塔吉克族", "42": "怒族", "43": "乌孜别克族", "44": "俄罗斯族", "45": "鄂温克族", "46": "德昂族",
    "47": "保安族", "48": "裕固族", "49": "京族", "50": "塔塔尔族", "51": "独龙族", "52": "鄂伦春族",
    "53": "赫哲族", "54": "门巴族", "55": "珞巴族", "56": "基诺族", "97": "其他", "98": "外国血统中国籍人士",
}
ETHNICITY = Vocabulary("ethnicity", ETHNICITIES)

# GB/T 4754-2017 门类 with the range of 大类 (two-digit divisions) each contains.
INDUSTRY_SECTIONS: dict[str, tuple[str, int, int]] = {
    "A": ("农、林、牧、渔业", 1, 5), "B": ("采矿业", 6, 12), "C": ("制造业", 13, 43),
    "D": ("电力、热力、燃气及水生产和供应业", 44, 46), "E": ("建筑业", 47, 50),
    "F": ("批发和零售业", 51, 52), "G": ("交通运输、仓储和邮政业", 53, 60), "H": ("住宿和餐饮业", 61, 62),
    "I": ("信息传输、软件和信息技术服务业", 63, 65), "J": ("金融业", 66, 69), "K": ("房地产业", 70, 70),
    "L": ("租赁和商务服务业", 71, 72), "M": ("科学研究和技术服务业", 73, 75),
    "N": ("水利、环境和公共设施管理业", 76, 79), "O": ("居民服务、修理和其他服务业", 80, 82),
    "P": ("教育", 83, 83), "Q": ("卫生和社会工作", 84, 85), "R": ("文化、体育和娱乐业", 86, 90),
    "S": ("公共管理、社会保障和社会组织", 91, 96), "T": ("国际组织", 97, 97),
}


def industry_problem(code: str) -> str | None:
    """Why `code` is not a GB/T 4754-2017 code (a section letter, optionally followed by 2–4 digits)."""
    if not code or code[0] not in INDUSTRY_SECTIONS:
        return f"{code!r} does not start with a GB/T 4754 section letter A–T"
    digits = code[1:]
    if not digits:
        return None
    if not digits.isdigit() or len(digits) not in (2, 3, 4):
        return f"{code!r}: a section letter must be followed by 2, 3 or 4 digits"
    _name, first, last = INDUSTRY_SECTIONS[code[0]]
    if not first <= int(digits[:2]) <= last:
        return f"{code!r}: division {digits[:2]} is not in section {code[0]} ({first:02d}–{last:02d})"
    return None
