"""Indicator definitions are versioned data files (definitions/*.yaml); this module loads and checks them.

A file is one indicator set: a tree scored like GB/T 33356-2016 — a leaf's score is weight × ratio × 100, a node
that `aggregate: weighted` scores weight × Σ children (its children's weights sum to 100 %), a node that
`aggregate: sum` scores Σ children (its children's weights sum to its own weight) — plus unscored measures.
Every indicator says whether its formula is verified against an official text, and cites its source.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from cpip.errors import NotFound
from exchange.indicators.counts import COUNTS

DEFINITIONS_DIR = Path(__file__).parent / "definitions"


def _decimal(value: object) -> object:
    # YAML reads 0.1 as a float; its decimal text is what the author wrote.
    return Decimal(str(value)) if isinstance(value, int | float | str) else value


Weight = Annotated[Decimal, BeforeValidator(_decimal), Field(ge=0, le=1)]


class Names(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Indicator(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,31}$")
    name: Names
    parent: str | None = None
    weight: Weight
    aggregate: Literal["sum", "weighted"] | None = None
    numerator: str | None = None
    denominator: str | None = None
    description: str | None = None
    verified: bool = False
    source: str = Field(min_length=1, description="Citation of the formula and weight")
    frameworks: dict[str, str] = Field(default_factory=dict)

    @property
    def is_leaf(self) -> bool:
        return self.numerator is not None


class Measure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str
    name: Names
    count: str
    unit: str
    verified: bool = False
    source: str
    frameworks: dict[str, str] = Field(default_factory=dict)


class DefinitionSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    set: str = Field(pattern=r"^[a-z0-9][a-z0-9\-]{0,63}$")
    version: str
    title: Names
    official: bool = Field(description="False unless every formula and weight is the official text")
    notice: str | None = None
    method: str
    indicators: list[Indicator]
    measures: list[Measure] = Field(default_factory=list)

    @model_validator(mode="after")
    def _tree(self) -> DefinitionSet:
        codes = [i.code for i in self.indicators] + [m.code for m in self.measures]
        if len(codes) != len(set(codes)):
            raise ValueError(f"indicator codes repeat: {sorted({c for c in codes if codes.count(c) > 1})}")
        by_code = {i.code: i for i in self.indicators}
        roots = [i for i in self.indicators if i.parent is None]
        if len(roots) != 1:
            raise ValueError(f"a set has exactly one root indicator, found {[r.code for r in roots]}")
        for ind in self.indicators:
            if ind.parent is not None and ind.parent not in by_code:
                raise ValueError(f"{ind.code}: parent {ind.parent!r} is not an indicator of this set")
            if ind.is_leaf != (ind.denominator is not None):
                raise ValueError(f"{ind.code}: a leaf names both a numerator and a denominator")
            if ind.is_leaf == (ind.aggregate is not None):
                raise ValueError(f"{ind.code}: a node either aggregates its children or is a ratio, not both")
            for name in (ind.numerator, ind.denominator):
                if name is not None and name not in COUNTS:
                    raise ValueError(f"{ind.code}: unknown count {name!r}; known: {', '.join(sorted(COUNTS))}")
        for measure in self.measures:
            if measure.count not in COUNTS:
                raise ValueError(f"{measure.code}: unknown count {measure.count!r}")
        for ind in self.indicators:
            children = [c for c in self.indicators if c.parent == ind.code]
            if ind.is_leaf:
                if children:
                    raise ValueError(f"{ind.code}: a ratio indicator has no children")
                continue
            if not children:
                raise ValueError(f"{ind.code}: an aggregate without children")
            total = sum((c.weight for c in children), Decimal(0))
            expected = Decimal(1) if ind.aggregate == "weighted" else ind.weight
            if total != expected:
                raise ValueError(f"{ind.code}: children's weights sum to {total}, must be {expected} "
                                 f"({'100 % under a weighted node' if ind.aggregate == 'weighted' else 'its weight'})")
        seen: set[str] = set()
        stack = [roots[0].code]
        while stack:
            code = stack.pop()
            seen.add(code)
            stack.extend(c.code for c in self.indicators if c.parent == code)
        if len(seen) != len(self.indicators):
            raise ValueError(f"not reachable from the root: {sorted(set(by_code) - seen)}")
        return self

    def children(self, code: str) -> list[Indicator]:
        return [i for i in self.indicators if i.parent == code]

    @property
    def root(self) -> Indicator:
        return next(i for i in self.indicators if i.parent is None)


@dataclass(frozen=True)
class Loaded:
    definitions: DefinitionSet
    digest: str  # sha256 of the file's bytes: results name exactly which text scored them
    path: Path


class DefinitionSetNotFound(NotFound):
    slug, title = "indicator-set-not-found", "No such indicator definition set"


class InvalidDefinitions(ValueError):
    pass


def load_file(path: Path) -> Loaded:
    raw = path.read_bytes()
    try:
        parsed = DefinitionSet.model_validate(yaml.safe_load(raw))
    except (ValidationError, yaml.YAMLError) as exc:
        raise InvalidDefinitions(f"{path.name}: {exc}") from exc
    return Loaded(parsed, hashlib.sha256(raw).hexdigest(), path)


@cache
def _all(directory: Path) -> dict[str, Loaded]:
    found: dict[str, Loaded] = {}
    for path in sorted(directory.glob("*.yaml")):
        loaded = load_file(path)
        found[loaded.definitions.set] = loaded
    return found


def available(directory: Path = DEFINITIONS_DIR) -> dict[str, Loaded]:
    return _all(directory)


def get_set(name: str, directory: Path = DEFINITIONS_DIR) -> Loaded:
    sets = _all(directory)
    if name not in sets:
        raise DefinitionSetNotFound(f"no indicator set {name!r}; available: {', '.join(sorted(sets))}",
                                    errors=[{"field": "query.set", "rule": "unknown_set",
                                             "message": f"choose one of {', '.join(sorted(sets))}"}])
    return sets[name]
