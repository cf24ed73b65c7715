"""What one expectation found, in plain Python (no GX types), as runs store it and the gate reads it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any


@dataclass
class Outcome:
    rule: str
    kind: str
    columns: tuple[str, ...]
    expectation_type: str
    success: bool | None                    # None: not evaluated (see error/note)
    element_count: int = 0
    unexpected_count: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)  # failing keys (or values), at most a few
    failing_rows: list[int] = field(default_factory=list)         # batch row numbers (the gate only)
    error: str | None = None
    note: str | None = None

    @property
    def unexpected_percent(self) -> float:
        return 100.0 * self.unexpected_count / self.element_count if self.element_count else 0.0

    def merge(self, other: Outcome, sample_limit: int) -> None:
        """Add another chunk's findings for the same rule."""
        self.element_count += other.element_count
        self.unexpected_count += other.unexpected_count
        self.samples.extend(other.samples[: max(0, sample_limit - len(self.samples))])
        self.failing_rows.extend(other.failing_rows)
        if other.error and not self.error:
            self.error = other.error
        if self.error:
            self.success = None
        elif self.success is None:
            self.success = other.success
        elif other.success is not None:
            self.success = self.success and other.success


def plain(value: Any) -> Any:
    """A JSON-storable form of what pandas, numpy or a driver hands back."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return plain(item())
    isoformat = getattr(value, "isoformat", None)  # pandas Timestamp
    if callable(isoformat):
        return str(isoformat())
    return str(value)
