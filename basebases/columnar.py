"""Whole-batch cleaning of person records, for loads of millions of rows.

`validation.clean_person` is the authority on what a person record means. Run once per row it costs about
8 µs, which alone caps a load at ~125k rows/s before the database does anything. This module looks at a
whole Arrow batch of raw CSV strings at once and picks out the rows that are already in canonical form and
valid — for exactly those rows `clean_person` would return the same row — and builds their cleaned columns
with Arrow and NumPy kernels, mapping the labels exports often carry (男, 汉族, 死亡) to their codes. Every
other row goes to `clean_person`, which normalises it (a lower-case x, a mixed date layout, stray spaces) or
names what is wrong. Being stricter than the
authority only costs speed; being looser would be a bug, and `tests/basebases/test_columnar.py` checks with
generated records that a row accepted here is accepted by `clean_person` with the same values.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from basebases import codes
from basebases.readers import CsvLayout, Source

PERSON_COLUMNS = ("id_number", "name", "sex", "birth_date", "ethnicity", "hukou_region_code",
                  "residence_address", "building_code", "phone", "status")
# RE2 syntax. \d in RE2 is ASCII-only, stricter than Python's, which is the safe direction.
_ID = r"^[0-9]{17}[0-9X]$"
_PHONE = r"^(?:1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8}(?:-[0-9]{1,6})?)$"
# Free text goes to the row cleaner when it has anything str.strip() would remove at either end, or a control
# character (NUL cannot be stored by PostgreSQL; the others are never canonical).
_SPACE = r"[\s\p{Z}\x1c-\x1f\x85]"
_ODD_TEXT = rf"^{_SPACE}|{_SPACE}$|[\x00-\x1f\x7f]"
_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


# Arrow parses a block on each core; 8 MB blocks keep a 2-core machine busy without holding much memory.
BLOCK_BYTES = 8 << 20


class NotColumnar(Exception):
    """The file holds something only the row reader treats exactly right: load it row by row instead."""


def csv_batches(source: Source, layout: CsvLayout) -> Iterator[pa.RecordBatch]:
    """The file's records as Arrow batches of strings, with the fields the base reads under their names.

    Arrow's parser agrees with Python's csv module on quoting, embedded newlines, CR/LF and blank lines; for
    what it would treat differently — a row with the wrong number of fields, bytes that are not the file's
    encoding, a header cell with a line break — it raises NotColumnar rather than guess.
    """
    if any("\n" in h or "\r" in h for h in layout.header):
        raise NotColumnar("a header cell holds a line break")
    positions = {f"c{i}": name for i, name in layout.keep}
    if len(set(positions.values())) != len(positions):
        raise NotColumnar("two columns fill the same field")
    encoding = {"utf-8": "utf8", "utf-8-sig": "utf8", "gbk": "gb18030"}.get(source.encoding or "utf-8",
                                                                            source.encoding or "utf8")
    invalid: list[pcsv.InvalidRow] = []

    def on_invalid(row: pcsv.InvalidRow) -> str:
        invalid.append(row)
        return "skip"

    names = [f"c{i}" for i in range(layout.width)]
    try:
        reader = pcsv.open_csv(
            source.path,
            # The header is skipped, not parsed (csv_layout read it); a UTF-8 BOM goes with it.
            read_options=pcsv.ReadOptions(column_names=names, skip_rows=1, block_size=BLOCK_BYTES,
                                          encoding=encoding),
            parse_options=pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
            convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                include_columns=list(positions), strings_can_be_null=False,
                                                quoted_strings_can_be_null=False))
        for batch in reader:
            if invalid:
                raise NotColumnar(f"a row has {invalid[0].actual_columns} fields, the header {layout.width}")
            yield batch.rename_columns([positions[n] for n in batch.schema.names])
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise NotColumnar(str(exc)) from exc
    if invalid:
        raise NotColumnar(f"a row has {invalid[0].actual_columns} fields, the header {layout.width}")


@dataclass(frozen=True)
class Classified:
    """One batch split in two: rows cleaned here, and the positions the row cleaner must see."""

    cleaned: pa.Table  # PERSON_COLUMNS as strings, None where the field is empty; one row per `cleaned_rows`
    cleaned_rows: np.ndarray  # positions in the batch
    other_rows: np.ndarray  # positions for `clean_person`


class PersonClassifier:
    """Holds the value sets a batch is checked against (built once per load, not once per batch)."""

    def __init__(self, building_codes: Collection[str], today: date) -> None:
        self._buildings = pa.array(sorted(building_codes), type=pa.string())
        self._regions = pa.array(sorted(c for c, r in codes.regions().items() if r.current), type=pa.string())
        self._vocabularies = {name: _Vocabulary(vocab) for name, vocab in (
            ("ethnicity", codes.ETHNICITY), ("sex", codes.SEX), ("status", codes.PERSON_STATUS))}
        self._today = today.year * 10_000 + today.month * 100 + today.day

    def classify(self, batch: pa.RecordBatch | pa.Table) -> Classified:
        n = batch.num_rows
        names = set(batch.schema.names)

        def column(name: str) -> pa.Array:
            if name not in names:
                return pa.array([""] * n, type=pa.string())
            values = batch.column(name)
            return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values

        raw = {name: column(name) for name in PERSON_COLUMNS}
        empty = {name: pc.equal(values, "") for name, values in raw.items()}
        # Codes, or the labels 男 / 汉族 / 死亡 that exports often carry, as their codes (null: neither).
        coded = {name: vocab.code_of(raw[name]) for name, vocab in self._vocabularies.items()}
        ok = _all(pc.match_substring_regex(raw["id_number"], _ID),
                  pc.invert(empty["name"]), pc.less_equal(pc.utf8_length(raw["name"]), 50),
                  pc.invert(pc.match_substring_regex(raw["name"], _ODD_TEXT)),
                  pc.is_in(raw["hukou_region_code"], value_set=self._regions),
                  pc.or_(empty["ethnicity"], pc.is_valid(coded["ethnicity"])),
                  pc.or_(empty["residence_address"], _all(
                      pc.less_equal(pc.utf8_length(raw["residence_address"]), 200),
                      pc.invert(pc.match_substring_regex(raw["residence_address"], _ODD_TEXT)))),
                  pc.or_(empty["building_code"], pc.is_in(raw["building_code"], value_set=self._buildings)),
                  pc.or_(empty["phone"], pc.match_substring_regex(raw["phone"], _PHONE)),
                  pc.or_(empty["status"], pc.is_valid(coded["status"])),
                  pc.or_(empty["sex"], pc.is_valid(coded["sex"])))
        mask = ok.to_numpy(zero_copy_only=False)
        # The number's own checks, on the rows that passed the cheap ones: an (n, 18) matrix of its bytes.
        ids = pc.if_else(ok, raw["id_number"], "110101190001010016")
        id_bytes = _fixed_width(ids, 18)
        digits = id_bytes.astype(np.int64) - ord("0")
        checksum = _CHECK[(digits[:, :17] * _WEIGHTS).sum(axis=1) % 11]
        mask &= checksum == id_bytes[:, 17]
        year = digits[:, 6] * 1000 + digits[:, 7] * 100 + digits[:, 8] * 10 + digits[:, 9]
        month = digits[:, 10] * 10 + digits[:, 11]
        day = digits[:, 12] * 10 + digits[:, 13]
        leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
        month_days = _DAYS[np.clip(month - 1, 0, 11)] + ((month == 2) & leap)
        mask &= (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
        mask &= year * 10_000 + month * 100 + day <= self._today
        region = digits[:, 0] * 100_000 + digits[:, 1] * 10_000 + digits[:, 2] * 1_000 + digits[:, 3] * 100 + \
            digits[:, 4] * 10 + digits[:, 5]
        mask &= _region_in_use(region, year)
        id_sex = np.where(digits[:, 16] % 2 == 1, "1", "2")
        id_birth = pc.binary_join_element_wise(pc.utf8_slice_codeunits(ids, 6, 10),
                                               pc.utf8_slice_codeunits(ids, 10, 12),
                                               pc.utf8_slice_codeunits(ids, 12, 14), "-")
        id_sex_array = pa.array(id_sex, type=pa.string())
        mask &= _all(empty["sex"], pc.equal(coded["sex"], id_sex_array), any_of=True).to_numpy(zero_copy_only=False)
        birth_given = raw["birth_date"]
        compact = pc.utf8_slice_codeunits(ids, 6, 14)
        slashed = pc.replace_substring(id_birth, "-", "/")
        mask &= _all(empty["birth_date"], pc.equal(birth_given, id_birth), pc.equal(birth_given, compact),
                     pc.equal(birth_given, slashed), any_of=True).to_numpy(zero_copy_only=False)

        keep = np.flatnonzero(mask)
        others = np.flatnonzero(~mask)
        take = pa.array(keep)

        def cleaned(name: str, fill: pa.Array | str | None = None) -> pa.Array:
            values = coded.get(name, raw[name])
            if fill is None:
                values = pc.if_else(empty[name], pa.scalar(None, pa.string()), values)
            else:
                values = pc.if_else(empty[name], fill, values)
            return values.take(take)

        table = pa.table({
            "id_number": raw["id_number"].take(take), "name": raw["name"].take(take),
            "sex": cleaned("sex", id_sex_array), "birth_date": id_birth.take(take),
            "ethnicity": cleaned("ethnicity"), "hukou_region_code": raw["hukou_region_code"].take(take),
            "residence_address": cleaned("residence_address"), "building_code": cleaned("building_code"),
            "phone": cleaned("phone"), "status": cleaned("status", "normal"),
        })
        return Classified(cleaned=table, cleaned_rows=keep, other_rows=others)


class _Vocabulary:
    """A code list as Arrow arrays, to map a column of codes or labels to codes (Vocabulary.normalise)."""

    def __init__(self, vocabulary: codes.Vocabulary) -> None:
        self._codes = pa.array(list(vocabulary.labels), type=pa.string())
        self._labels = pa.array(list(vocabulary.labels.values()), type=pa.string())

    def code_of(self, values: pa.Array) -> pa.Array:
        by_label = pc.take(self._codes, pc.index_in(values, value_set=self._labels))
        return pc.if_else(pc.is_in(values, value_set=self._codes), values, by_label)


def _all(*conditions: Any, any_of: bool = False) -> pa.Array:
    combine = pc.or_kleene if any_of else pc.and_kleene  # true OR null is true
    result = conditions[0]
    for condition in conditions[1:]:
        result = combine(result, condition)
    # A null (missing value) never passes: such rows go to the row cleaner.
    return pc.fill_null(result, False)


def _fixed_width(values: pa.Array, width: int) -> np.ndarray:
    """The bytes of an all-ASCII string array whose every value is `width` long, as an (n, width) matrix."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32, count=len(values) + 1,
                            offset=values.offset * 4)
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    return data.reshape(len(values), width)


@lru_cache(maxsize=200_000)
def _in_use(region: int, year: int) -> bool:
    return codes.id_region_valid(f"{region:06d}", year)


def _region_in_use(region: np.ndarray, year: np.ndarray) -> np.ndarray:
    """Whether each ID number's region was a code in use in its birth year (few distinct pairs per batch)."""
    pairs, inverse = np.unique(region * 10_000 + year, return_inverse=True)
    known = np.fromiter((_in_use(int(p) // 10_000, int(p) % 10_000) for p in pairs), dtype=bool, count=len(pairs))
    result: np.ndarray = known[inverse.reshape(-1)]
    return result
