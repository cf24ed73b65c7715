"""Rebuild gbt2260.csv from python-stdnum's `cn/loc.dat` (GB/T 2260 codes with the years each was in use).

The CSV is the reference data the 0003 migration seeds; it is rebuilt by hand (never at migration time) so a
database's code list does not change with the installed stdnum version:

    .venv/bin/python basebases/data/build_gbt2260.py
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import stdnum

LINE = re.compile(r'^(\s*)(\d+)\s+\w+="(.*)"')
PERIOD = re.compile(r"^\[(\d*)-(\d*)\](.*)$")


def build(source: Path, target: Path) -> int:
    rows: list[tuple[str, str, str, str, str, str]] = []
    province = ""
    for line in source.read_text(encoding="utf-8").splitlines():
        match = LINE.match(line)
        if line.startswith("#") or match is None:
            continue
        indent, digits, value = match.groups()
        if not indent:
            province = digits
            continue
        code = province + digits
        starts: list[int | None] = []
        ends: list[int | None] = []
        name = value
        # A code reused over time lists each name with its years; the newest name wins, the span is their union.
        for part in value.split(","):
            period = PERIOD.match(part)
            if period:
                starts.append(int(period.group(1)) if period.group(1) else None)
                ends.append(int(period.group(2)) if period.group(2) else None)
                name = period.group(3)
            else:
                starts.append(None)
                ends.append(None)
                name = part
        valid_from = "" if None in starts else str(min(s for s in starts if s is not None))
        valid_to = "" if None in ends else str(max(e for e in ends if e is not None))
        level = "province" if code.endswith("0000") else "prefecture" if code.endswith("00") else "county"
        parent = "" if level == "province" else code[:2] + "0000" if level == "prefecture" else code[:4] + "00"
        rows.append((code, name, level, parent, valid_from, valid_to))
    rows.sort()
    with target.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["code", "name", "level", "parent_code", "valid_from", "valid_to"])
        writer.writerows(rows)
    return len(rows)


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    count = build(Path(stdnum.__file__).parent / "cn" / "loc.dat", here / "gbt2260.csv")
    print(f"wrote {count} codes to {here / 'gbt2260.csv'}")
