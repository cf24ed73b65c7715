"""The API contracts we commit (docs/openapi.json, docs/schema.graphql), so a change to them shows in review."""

from __future__ import annotations

import json
from pathlib import Path

from cpip.settings import PROJECT_ROOT, Environment, Settings

OPENAPI_PATH = PROJECT_ROOT / "docs" / "openapi.json"
GRAPHQL_PATH = PROJECT_ROOT / "docs" / "schema.graphql"


def openapi_text() -> str:
    from gateway.app import create_app

    # A fixed environment and an in-memory database, so the document does not depend on local settings.
    app = create_app(Settings(env=Environment.test, database_url="sqlite+aiosqlite:///:memory:"))
    return json.dumps(app.openapi(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def graphql_text() -> str:
    from gateway.graphql.schema import schema

    return schema.as_str() + "\n"


def write_all(openapi_path: Path = OPENAPI_PATH, graphql_path: Path = GRAPHQL_PATH) -> list[Path]:
    openapi_path.parent.mkdir(parents=True, exist_ok=True)
    openapi_path.write_text(openapi_text(), encoding="utf-8")
    graphql_path.write_text(graphql_text(), encoding="utf-8")
    return [openapi_path, graphql_path]
