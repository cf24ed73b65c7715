"""Scoring by the national method (GB/T 33356-2016): sub-item = weight × ratio × 100, a weighted indicator =
weight × Σ its sub-items, a group = Σ its children; every score kept to 2 decimals (ROUND_HALF_UP), each level
computed from its children's rounded scores as the evaluation's worksheets do."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from exchange.indicators.compute import Evaluator, Value
from exchange.indicators.definitions import DefinitionSet, Indicator

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def two_places(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def json_value(value: Value) -> int | str | None:
    return str(value) if isinstance(value, Decimal) else value


@dataclass
class Scored:
    indicator: Indicator
    depth: int
    score: Decimal
    numerator: Value = None
    denominator: Value = None
    ratio: Decimal | None = None
    status: str = "ok"

    def as_json(self) -> dict[str, Any]:
        ind = self.indicator
        return {
            "code": ind.code, "name_zh": ind.name.zh, "name_en": ind.name.en, "parent": ind.parent,
            "depth": self.depth, "weight": str(ind.weight), "aggregate": ind.aggregate,
            "numerator": {"count": ind.numerator, "value": json_value(self.numerator)} if ind.is_leaf else None,
            "denominator": {"count": ind.denominator, "value": json_value(self.denominator)} if ind.is_leaf else None,
            "ratio": str(self.ratio.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP))
            if self.ratio is not None else None,
            "score": str(self.score), "max_score": str(two_places(ind.weight * HUNDRED)), "status": self.status,
            "verified": ind.verified, "source": ind.source, "frameworks": ind.frameworks,
        }


def score_tree(definitions: DefinitionSet, evaluator: Evaluator) -> list[Scored]:
    """Scores of every indicator, parents before children, in the file's order within a level."""
    out: dict[str, Scored] = {}

    def visit(ind: Indicator, depth: int) -> Scored:
        if ind.is_leaf:
            assert ind.numerator is not None
            assert ind.denominator is not None
            num, den = evaluator.get(ind.numerator).value, evaluator.get(ind.denominator).value
            if num is None or den is None or Decimal(den) == 0:
                scored = Scored(ind, depth, Decimal("0.00"), num, den, None, "no_denominator")
            else:
                ratio = Decimal(num) / Decimal(den)
                status = "ok" if ratio <= 1 else "ratio_above_one"
                scored = Scored(ind, depth, two_places(ind.weight * ratio * HUNDRED), num, den, ratio, status)
            out[ind.code] = scored
            return scored
        children = [visit(c, depth + 1) for c in definitions.children(ind.code)]
        total = sum((c.score for c in children), Decimal(0))
        score = two_places(ind.weight * total) if ind.aggregate == "weighted" else two_places(total)
        out[ind.code] = Scored(ind, depth, score)
        return out[ind.code]

    visit(definitions.root, 0)
    order: list[Scored] = []

    def walk(code: str) -> None:
        order.append(out[code])
        for child in definitions.children(code):
            walk(child.code)

    walk(definitions.root.code)
    return order
