"""Static checks of the Dockerfile (no container engine is needed, or available, to run them)."""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
DOCKERIGNORE = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
CHART_VALUES = (REPO / "helm" / "cpip" / "values.yaml").read_text(encoding="utf-8")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    out: list[tuple[str, str]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(DOCKERFILE):
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def test_multi_stage_on_python_311_slim() -> None:
    builder, runtime = stages()
    assert builder[0][1].endswith("AS builder")
    assert runtime[0][1].endswith("AS runtime")
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE
    assert any(k == "RUN" and "pip wheel" in rest for k, rest in builder)


def test_runtime_has_no_build_tools_and_runs_as_10001() -> None:
    runtime = stages()[-1]
    text = " ".join(rest for _, rest in runtime)
    for tool in ("build-essential", "gcc", "apt-get install"):
        assert tool not in text, tool
    assert ("USER", "10001:10001") in runtime
    assert "--no-index" in text
    chart_uid = re.search(r"^\s*runAsUser:\s*(\d+)", CHART_VALUES, re.MULTILINE)
    assert chart_uid is not None
    assert chart_uid.group(1) == "10001", "the chart and the image must agree on the uid"


def test_entrypoint_and_default_command() -> None:
    runtime = dict(stages()[-1])
    assert json.loads(runtime["ENTRYPOINT"]) == ["cpip"]
    assert json.loads(runtime["CMD"]) == ["serve", "--host", "0.0.0.0", "--port", "8000"]
    assert runtime["EXPOSE"] == "8000"


def test_build_context_leaves_out_local_state() -> None:
    for entry in (".git", ".venv", ".env", "var", "tests", "idp"):
        assert entry in DOCKERIGNORE, entry
