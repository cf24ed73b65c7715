"""Fixtures for the base databases: one generated demo city per session, written per test as needed."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from basebases.demo import write_city
from basebases.demo_city import DemoCity, generate

SEED = 7


@pytest.fixture(scope="session")
def small_city() -> DemoCity:
    return generate(SEED, "small")


@pytest.fixture
def seeded(sync_engine: Engine, small_city: DemoCity) -> DemoCity:
    """The whole small city in the database."""
    write_city(sync_engine, small_city)
    return small_city


@pytest.fixture
def with_buildings(sync_engine: Engine, small_city: DemoCity) -> DemoCity:
    """Only the city's spatial features and buildings, so files of persons and entities have homes."""
    write_city(sync_engine, small_city, tables=("spatial_features", "buildings"))
    return small_city
