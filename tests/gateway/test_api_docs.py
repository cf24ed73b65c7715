from __future__ import annotations

from gateway.apidocs import GRAPHQL_PATH, OPENAPI_PATH, graphql_text, openapi_text


def test_committed_openapi_is_current() -> None:
    assert OPENAPI_PATH.read_text(encoding="utf-8") == openapi_text(), "run `cpip api-docs` and commit docs/"


def test_committed_graphql_schema_is_current() -> None:
    assert GRAPHQL_PATH.read_text(encoding="utf-8") == graphql_text(), "run `cpip api-docs` and commit docs/"
