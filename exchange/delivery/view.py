"""The one enforcement point of every data path (REST, GraphQL, export, change feed, open data).

A `View` is what one grant lets its holder see of one resource: which fields, which masked and how, which
rows. Queries are built from it so that a column outside the grant is never even selected, and rows outside
its region scope never leave the database; masking is applied to every value before it is returned. The
HTTP layers only call `page()`/`batches()`/`render()`, so no query shape (GraphQL aliases, fragments, field
lists) can reach data the view does not contain.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import Column, Connection, Date, DateTime, Integer, Select, select
from sqlalchemy.orm import Session

from basebases.geometry import as_geojson
from catalogue.domains import OpenType
from cpip.errors import BadRequest, ValidationFailed
from exchange.errors import FieldNotGranted, ResourceNotFound
from exchange.grants.models import Grant
from exchange.resources import Resource, Source
from security.masking import MaskingRule, mask


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]
    next_cursor: str | None
    # Natural keys (e.g. ID numbers) of the records delivered, for the audit log only: never sent.
    subject_keys: list[str] = field(default_factory=list)


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, pk: Column[Any], name: str = "after") -> Any:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return int(text) if isinstance(pk.type, Integer) else text
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"{name} is not a cursor this API returned", errors=[
            {"field": f"query.{name}", "message": "not a valid cursor", "rule": "cursor"}]) from exc


def plain(value: Any) -> Any:
    """A stored value as JSON: dates ISO 8601, geometries GeoJSON (WGS84)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, BaseGeometry):
        return as_geojson(value)
    return value


@dataclass(frozen=True)
class View:
    resource: Resource
    source: Source
    fields: tuple[str, ...]
    masking: Mapping[str, MaskingRule]
    region_prefix: str | None
    grant: Grant | None = None

    # ------------------------------------------------------------------------------------------ building

    @classmethod
    def for_grant(cls, resource: Resource, grant: Grant) -> View:
        source = resource.require_source()
        # Fields the entry no longer lists, or the table no longer has, are dropped here and never read.
        known = set(resource.field_keys())
        fields = tuple(f for f in grant.fields if f in known and f in source.fields)
        masking = {f: MaskingRule(rule) for f, rule in grant.masking.items() if f in fields}
        return cls(resource, source, fields, masking, grant.region_prefix, grant)

    @classmethod
    def for_open_data(cls, resource: Resource) -> View:
        """无条件开放 resources: their public (level 1) fields, no masking, every row."""
        if resource.open_type != OpenType.unconditional or not resource.published:
            raise ResourceNotFound(f"no open-data resource {resource.code!r}", resource=resource.code)
        source = resource.require_source()
        fields = tuple(f for f in resource.field_keys()
                       if source.fields[f].sensitivity <= 1 and int(resource.items[f].get("sensitivity", 1)) <= 1)
        return cls(resource, source, fields, {}, None, None)

    def narrowed(self, requested: Sequence[str] | None) -> View:
        """The same view limited to `requested` fields; a field outside it is an error, never silently dropped."""
        if not requested:
            return self
        outside = [f for f in requested if f not in self.fields]
        if outside:
            raise FieldNotGranted(
                f"field(s) {', '.join(outside)} are not part of "
                + (f"grant {self.grant.id}" if self.grant else "this open resource")
                + f"; granted: {', '.join(self.fields)}", fields=outside,
                grant_id=self.grant.id if self.grant else None)
        ordered = tuple(dict.fromkeys(requested))
        return replace(self, fields=ordered, masking={f: r for f, r in self.masking.items() if f in ordered})

    @property
    def grant_id(self) -> str | None:
        return self.grant.id if self.grant else None

    # ------------------------------------------------------------------------------------------ querying

    def _columns(self) -> list[Column[Any]]:
        table = self.source.table
        wanted = dict.fromkeys([self.source.pk.name, *self.source.key_columns, *self.fields])
        return [table.c[name] for name in wanted]

    def scoped(self, query: Select[Any]) -> Select[Any]:
        """Rows outside the grant's region never leave the database."""
        if self.region_prefix is None:
            return query
        column = self.source.region_column
        if column is None:  # approvals refuse such scopes; never widen a scope by ignoring it
            raise ValidationFailed(f"resource {self.resource.code} has no region column to scope rows by")
        return query.where(self.source.table.c[column].startswith(self.region_prefix, autoescape=True))

    def filtered(self, query: Select[Any], filters: Mapping[str, str]) -> Select[Any]:
        """Equality filters, on granted fields delivered in clear only: filtering on a masked field would
        let a caller test guesses of the hidden value."""
        for name, value in filters.items():
            if name not in self.fields:
                raise FieldNotGranted(f"cannot filter on {name}: it is not part of the grant", fields=[name])
            if name in self.masking:
                raise ValidationFailed(f"cannot filter on {name}: it is delivered masked", errors=[
                    {"field": f"query.filter.{name}", "message": "masked fields cannot be filtered on",
                     "rule": "masked_filter"}])
            query = query.where(self.source.table.c[name] == value)
        return query

    def statement(self, after: Any = None, limit: int | None = None,
                  filters: Mapping[str, str] | None = None) -> Select[Any]:
        pk = self.source.pk
        query = self.scoped(select(*self._columns()))
        if filters:
            query = self.filtered(query, filters)
        if after is not None:
            query = query.where(pk > after)
        query = query.order_by(pk)
        return query.limit(limit) if limit is not None else query

    def count_statement(self) -> Select[Any]:
        from sqlalchemy import func

        return self.scoped(select(func.count()).select_from(self.source.table))

    # ------------------------------------------------------------------------------------------ rendering

    def render(self, row: Mapping[Any, Any]) -> dict[str, Any]:
        """A stored record (a mapping of field → value, e.g. a change-feed snapshot) as the view delivers it."""
        out: dict[str, Any] = {}
        for name in self.fields:
            value = row.get(name)
            rule = self.masking.get(name)
            if rule is not None and value is not None:
                value = mask(value if isinstance(value, str) else str(plain(value)), rule)
            else:
                value = plain(value)
            out[name] = value
        return out

    def json_renderer(self) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
        """A fast `render` for snapshots that already hold JSON values (the change feed's)."""
        fields = self.fields
        masked = [(name, rule) for name in fields if (rule := self.masking.get(name)) is not None]

        # The change feed's hot path: one dict comprehension per record, then only the masked fields revisited.
        def render(data: Mapping[str, Any]) -> dict[str, Any]:
            get = data.get
            out = {name: get(name) for name in fields}
            for name, rule in masked:
                value = out[name]
                if value is not None:
                    out[name] = mask(value if isinstance(value, str) else str(value), rule)
            return out

        return render

    def _converter(self, name: str) -> Callable[[Any], Any] | None:
        """How one column's value becomes what the view delivers (None: as stored)."""
        rule = self.masking.get(name)
        column_type = self.source.table.c[name].type
        if rule is not None:
            return lambda v: None if v is None else mask(v if isinstance(v, str) else str(plain(v)), rule)
        if self.source.fields[name].geometry:
            return lambda v: None if v is None else as_geojson(v)
        if isinstance(column_type, Date | DateTime) or isinstance(getattr(column_type, "impl", None), DateTime):
            return lambda v: None if v is None else v.isoformat()
        return None

    def row_renderer(self) -> Callable[[Sequence[Any]], dict[str, Any]]:
        """A fast renderer for rows of `statement()` (tuples in its column order): the export's hot path."""
        positions = {c.name: i for i, c in enumerate(self._columns())}
        plan = [(name, positions[name], self._converter(name)) for name in self.fields]

        def render(row: Sequence[Any]) -> dict[str, Any]:
            return {name: row[pos] if convert is None else convert(row[pos]) for name, pos, convert in plan}

        return render

    def key_of(self) -> Callable[[Sequence[Any]], str]:
        """The natural key (e.g. an ID number) of a `statement()` row, for the audit log only."""
        positions = [i for i, c in enumerate(self._columns()) if c.name in self.source.key_columns]
        if len(positions) == 1:
            only = positions[0]
            return lambda row: str(row[only])
        return lambda row: "/".join(str(row[i]) for i in positions)

    def page(self, session: Session, *, after: str | None = None, limit: int = 100,
             filters: Mapping[str, str] | None = None) -> Page:
        start = decode_cursor(after, self.source.pk) if after else None
        rows = session.execute(self.statement(start, limit + 1, filters)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        # Column 0 of statement() is the primary key.
        nxt = encode_cursor(rows[-1][0]) if more and rows else None
        render, key = self.row_renderer(), self.key_of()
        return Page([render(r) for r in rows], nxt, [key(r) for r in rows])

    def batches(self, conn: Connection | Session, batch_size: int = 5000) -> Iterator[Sequence[Sequence[Any]]]:
        """Every row of the view (tuples in statement() order), a batch at a time, by keyset pagination."""
        after: Any = None
        while True:
            rows = conn.execute(self.statement(after, batch_size)).all()
            if not rows:
                return
            yield rows
            if len(rows) < batch_size:
                return
            after = rows[-1][0]
