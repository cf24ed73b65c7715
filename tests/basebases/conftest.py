"""Fixtures for the base databases: the demo city written per test as needed (it is generated in tests/conftest.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from basebases.demo import write_city
from basebases.demo_city import DemoCity


@pytest.fixture
def seeded(sync_engine: Engine, small_city: DemoCity) -> DemoCity:
    """The whole small city in the database."""
    write_city(sync_engine, small_city)
    return small_city
