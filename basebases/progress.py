"""How long-running base-database work reports progress; kept apart so the CLI can import it cheaply."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext


class StageProgress:
    """What the CLI passes in to show progress; the default does nothing (tests, jobs)."""

    def stage(self, description: str, total: int | None) -> AbstractContextManager[Callable[[int], None]]:
        return nullcontext(lambda _n: None)
