"""Reading load files: CSV (UTF-8, UTF-8 with BOM, GB18030/GBK), NDJSON and GeoJSON (RFC 7946).

A reader yields `(row_number, record)`: row N is the N-th record of the file (a CSV header is not counted;
in GeoJSON, the N-th feature). Problems with the file as a whole (an encoding that is none of the accepted
ones, a missing key column, a GeoJSON that is not a FeatureCollection) raise `LoadFileError` before any row
is loaded; problems with one record become a `BadRecord`, which the loader rejects like any invalid row.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from basebases.geometry import GeometryError, srid_from_crs_name
from cpip.errors import ValidationFailed

SAMPLE_BYTES = 1 << 20
FORMATS = ("csv", "ndjson", "geojson")


class LoadFileError(ValidationFailed):
    slug, title = "load-file-invalid", "The file cannot be loaded"


@dataclass(frozen=True)
class BadRecord:
    """A record the reader could not even turn into fields (malformed JSON line, wrong CSV column count)."""

    rule: str
    message: str
    raw: dict[str, Any]


@dataclass
class Source:
    path: Path
    format: str
    encoding: str | None = None
    srid: int = 4490
    ignored_columns: list[str] = field(default_factory=list)


def detect_format(path: Path, given: str | None) -> str:
    if given:
        if given not in FORMATS:
            raise LoadFileError(f"format {given!r} is not one of {', '.join(FORMATS)}")
        return given
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".ndjson", ".jsonl"):
        return "ndjson"
    if suffix in (".geojson", ".json"):
        return "geojson"
    raise LoadFileError(f"cannot tell the format of {path.name!r} from its extension; pass --format "
                        f"({', '.join(FORMATS)})")


def detect_encoding(path: Path) -> str:
    """utf-8-sig, utf-8 or gb18030 (which reads GBK too), judged on the first megabyte; else a clear error."""
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
        complete = not fh.read(1)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise LoadFileError(f"{path.name} is UTF-16; save it as UTF-8 (or GB18030) and load it again")
    for encoding in ("utf-8", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            # A sample cut mid-character is fine; only a truly invalid byte sequence rules an encoding out.
            decoder.decode(sample, final=complete)
        except UnicodeDecodeError:
            continue
        if encoding == "gb18030" and _gbk_compatible(sample):
            return "gbk"
        return encoding
    raise LoadFileError(f"{path.name} is not UTF-8, UTF-8 with BOM, GB18030 or GBK; re-save it in UTF-8")


def _gbk_compatible(sample: bytes) -> bool:
    try:
        sample.decode("gbk")
    except UnicodeDecodeError:
        return False
    return True


def _text_stream(path: Path, encoding: str) -> io.TextIOWrapper:
    # GBK is a subset of GB18030: decoding as GB18030 also accepts a GBK file that uses a rarer character late.
    codec = "gb18030" if encoding == "gbk" else encoding
    return io.TextIOWrapper(path.open("rb"), encoding=codec, errors="strict", newline="")


def _decode_error(path: Path, encoding: str, line: int, exc: UnicodeDecodeError) -> LoadFileError:
    return LoadFileError(f"{path.name}: text near line {line} is not valid {encoding} ({exc.reason}); "
                         "the file mixes encodings — re-save it in UTF-8")


@dataclass(frozen=True)
class CsvLayout:
    """What a CSV header says: the columns as written, and which positions fill which field."""

    header: list[str]
    keep: list[tuple[int, str]]  # (position in the row, field name) for every column the base reads

    @property
    def width(self) -> int:
        return len(self.header)


def csv_layout(source: Source, header: list[str], aliases: Mapping[str, str], required: tuple[str, ...],
               keep_unknown: bool = False) -> CsvLayout:
    """Map a header to fields through the base's aliases; a missing key column is a file-level error."""
    header = [h.strip().lstrip("\ufeff") for h in header]
    names = [aliases.get(h, h) for h in header]
    missing = [r for r in required if r not in names]
    if missing:
        raise LoadFileError(f"{source.path.name} has no column {', '.join(missing)}; its header is "
                            f"{', '.join(header)}")
    known = set(aliases.values()) | (set(names) if keep_unknown else set())
    source.ignored_columns = [h for h, n in zip(header, names, strict=True) if n not in known]
    return CsvLayout(header=header, keep=[(i, n) for i, n in enumerate(names) if n in known])


def read_csv_header(source: Source) -> list[str]:
    """The first CSV record of the file (detecting the encoding if none was given)."""
    encoding = source.encoding or detect_encoding(source.path)
    source.encoding = encoding
    with _text_stream(source.path, encoding) as fh:
        return _header(csv.reader(fh), source, encoding)


def _header(rows: Iterator[list[str]], source: Source, encoding: str) -> list[str]:
    try:
        return next(rows)
    except StopIteration:
        raise LoadFileError(f"{source.path.name} is empty") from None
    except csv.Error as exc:
        raise LoadFileError(f"{source.path.name}: the header is not CSV ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise _decode_error(source.path, encoding, 1, exc) from exc


def read_csv(source: Source, aliases: Mapping[str, str], required: tuple[str, ...],
             keep_unknown: bool = False) -> Iterator[tuple[int, Any]]:
    encoding = source.encoding or detect_encoding(source.path)
    source.encoding = encoding
    with _text_stream(source.path, encoding) as fh:
        rows = csv.reader(fh)
        layout = csv_layout(source, _header(rows, source, encoding), aliases, required, keep_unknown)
        header, keep, width = layout.header, layout.keep, layout.width
        number = 0
        while True:
            try:
                values = next(rows)
            except StopIteration:
                return
            except csv.Error as exc:
                number += 1
                yield number, BadRecord("csv_syntax", f"line {rows.line_num}: {exc}", {"line": rows.line_num})
                continue
            except UnicodeDecodeError as exc:
                raise _decode_error(source.path, encoding, rows.line_num + 1, exc) from exc
            if not values:
                continue  # blank lines are not records
            number += 1
            if len(values) != width:
                yield number, BadRecord("csv_columns", f"the row has {len(values)} fields, the header {width}",
                                        dict(zip(header, values, strict=False)))
                continue
            yield number, {n: values[i] for i, n in keep}


def read_ndjson(source: Source, aliases: Mapping[str, str]) -> Iterator[tuple[int, Any]]:
    encoding = source.encoding or detect_encoding(source.path)
    source.encoding = encoding
    number = 0
    with _text_stream(source.path, encoding) as fh:
        lines = iter(fh)
        while True:
            try:
                line = next(lines)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise _decode_error(source.path, encoding, number + 1, exc) from exc
            text = line.strip().lstrip("\ufeff")
            if not text:
                continue
            number += 1
            yield number, _json_record(text, aliases)


def _json_record(text: str, aliases: Mapping[str, str]) -> Any:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return BadRecord("json_syntax", f"not JSON: {exc.msg} at column {exc.colno}", {"line": text})
    if not isinstance(record, dict):
        return BadRecord("json_object", "each line must be a JSON object", {"line": text})
    return {aliases.get(k, k): v for k, v in record.items()}


def read_geojson(source: Source, aliases: Mapping[str, str], geometry_field: str,
                 key_field: str) -> Iterator[tuple[int, Any]]:
    encoding = source.encoding or detect_encoding(source.path)
    source.encoding = encoding
    try:
        with _text_stream(source.path, encoding) as fh:
            document = json.load(fh)
    except json.JSONDecodeError as exc:
        raise LoadFileError(f"{source.path.name} is not JSON: {exc.msg} (line {exc.lineno})") from exc
    except UnicodeDecodeError as exc:
        raise LoadFileError(f"{source.path.name} is not valid {encoding}") from exc
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise LoadFileError(f"{source.path.name} is not a GeoJSON FeatureCollection")
    crs = document.get("crs")
    if crs is not None:
        # RFC 7946 dropped `crs`, but CGCS2000 data still names EPSG:4490 this way; honour it.
        try:
            name = crs["properties"]["name"]
            source.srid = srid_from_crs_name(str(name))
        except (KeyError, TypeError) as exc:
            raise LoadFileError("the crs member must be {\"type\": \"name\", \"properties\": {\"name\": ...}}") \
                from exc
        except GeometryError as exc:
            raise LoadFileError(exc.message) from exc
    features = document.get("features")
    if not isinstance(features, list):
        raise LoadFileError(f"{source.path.name}: features must be a list")
    for number, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            yield number, BadRecord("geojson_feature", "not a GeoJSON Feature", {"feature": feature})
            continue
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            yield number, BadRecord("geojson_feature", "properties must be an object", {"feature": feature})
            continue
        record = {aliases.get(k, k): v for k, v in properties.items()}
        if record.get(key_field) in (None, "") and feature.get("id") is not None:
            record[key_field] = str(feature["id"])
        record[geometry_field] = feature.get("geometry")
        yield number, record

