"""Where the composition root learns each package's CLI commands and job handlers."""

from __future__ import annotations

import typer


def register_cli(app: typer.Typer) -> None:
    """Attach each domain package's Typer sub-commands."""


def load_job_handlers() -> None:
    """Import the modules whose `@job_handler` functions the worker runs."""
