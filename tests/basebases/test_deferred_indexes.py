"""Deferring `persons`' indexes and foreign key during a first bulk load: dropped for the load, back identical
after it, and a load that breaks a constraint rolls back to the original table (PostgreSQL only)."""

from __future__ import annotations

from itertools import islice
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from basebases import bulk
from basebases.deferred_indexes import DeferredConstraintViolated, deferred_indexes, lock_if_empty
from basebases.demo_city import DemoCity
from basebases.models import Person, table_of
from cpip.clock import utcnow

PERSONS = table_of(Person)
SECONDARY = {"ix_persons_building_code", "ix_persons_hukou_region_code", "uq_persons_id_number",
             "fk_persons_building_code_buildings"}


@pytest.fixture
def pg(sync_engine: Engine) -> Engine:
    if sync_engine.dialect.name != "postgresql":
        pytest.skip("deferred indexes are PostgreSQL-only (pg_index, pg_constraint, LOCK TABLE); "
                    "set CPIP_TEST_DATABASE_URL to run them")
    return sync_engine


def schema_of(conn: Connection, table: str) -> set[tuple[str, str, str]]:
    """(kind, name, definition) of every index and constraint on `table`."""
    indexes = conn.execute(text("SELECT 'index', indexname, indexdef FROM pg_indexes "
                                "WHERE schemaname = current_schema() AND tablename = :t"), {"t": table})
    constraints = conn.execute(text("SELECT 'constraint', conname, pg_get_constraintdef(oid) FROM pg_constraint "
                                    "WHERE conrelid = to_regclass(:t)"), {"t": table})
    return {(str(k), str(n), str(d)) for k, n, d in [*indexes, *constraints]}


def names(schema: set[tuple[str, str, str]]) -> set[str]:
    return {name for _, name, _ in schema}


def person_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(PERSONS)) or 0)


def write_persons(conn: Connection, rows: list[dict[str, Any]]) -> None:
    bulk.write_rows(conn, PERSONS, rows, stamp=utcnow())


def test_indexes_are_gone_during_the_load_and_back_identical_after(
        pg: Engine, with_buildings: DemoCity, small_city: DemoCity) -> None:
    with pg.connect() as conn:
        before = schema_of(conn, "persons")
    assert names(before) > SECONDARY
    with pg.begin() as conn:
        with deferred_indexes(conn, "persons") as dropped:
            during = schema_of(conn, "persons")
            write_persons(conn, list(small_city.persons()))
        assert {o.name for o in dropped} == SECONDARY
    # The primary key stays; the unique constraint goes with its index, the foreign key with its definition.
    assert names(before) - names(during) == SECONDARY
    assert ("index", "pk_persons", "CREATE UNIQUE INDEX pk_persons ON public.persons USING btree (id)") in during
    with pg.connect() as conn:
        assert schema_of(conn, "persons") == before
    assert person_count(pg) == small_city.person_count


def test_the_rebuilt_unique_constraint_is_enforced(pg: Engine, with_buildings: DemoCity,
                                                   small_city: DemoCity) -> None:
    rows = list(islice(small_city.persons(), 5))
    with pg.begin() as conn, deferred_indexes(conn, "persons"):
        write_persons(conn, rows)
    again = {**rows[0], "created_at": utcnow(), "updated_at": utcnow()}
    with pytest.raises(IntegrityError, match="uq_persons_id_number"), pg.begin() as conn:
        conn.execute(PERSONS.insert(), [again])


def test_a_dangling_building_code_fails_the_rebuild_and_rolls_back(
        pg: Engine, with_buildings: DemoCity, small_city: DemoCity) -> None:
    with pg.connect() as conn:
        before = schema_of(conn, "persons")
    rows = list(islice(small_city.persons(), 20))
    rows[7]["building_code"] = "NO-SUCH-BUILDING"
    with pytest.raises(DeferredConstraintViolated) as caught, pg.begin() as conn, deferred_indexes(conn, "persons"):
        write_persons(conn, rows)
    assert "fk_persons_building_code_buildings" in str(caught.value)
    assert caught.value.extensions["constraint"] == "fk_persons_building_code_buildings"
    with pg.connect() as conn:
        assert schema_of(conn, "persons") == before
    assert person_count(pg) == 0


def test_a_duplicate_id_number_fails_the_rebuild_naming_the_constraint(
        pg: Engine, with_buildings: DemoCity, small_city: DemoCity) -> None:
    with pg.connect() as conn:
        before = schema_of(conn, "persons")
    rows = list(islice(small_city.persons(), 20))
    rows[12]["id_number"] = rows[3]["id_number"]
    with pytest.raises(DeferredConstraintViolated) as caught, pg.begin() as conn, deferred_indexes(conn, "persons"):
        write_persons(conn, rows)
    assert "uq_persons_id_number" in str(caught.value)
    assert caught.value.extensions["constraint"] == "uq_persons_id_number"
    # The duplicated value is a citizen's identity number: it stays out of the message.
    assert rows[3]["id_number"] not in str(caught.value)
    with pg.connect() as conn:
        assert schema_of(conn, "persons") == before
    assert person_count(pg) == 0


def test_an_error_in_the_load_itself_propagates_unchanged(pg: Engine, with_buildings: DemoCity) -> None:
    with pg.connect() as conn:
        before = schema_of(conn, "persons")
    # Trying to rebuild after this would fail on the aborted transaction and hide the real error.
    with pytest.raises(IntegrityError, match="not-null"), pg.begin() as conn, deferred_indexes(conn, "persons"):
        conn.execute(PERSONS.insert().values(id_number="x", name=None, sex="1", birth_date=utcnow().date(),
                                             hukou_region_code="320102", status="normal",
                                             created_at=utcnow(), updated_at=utcnow()))
    with pg.connect() as conn:
        assert schema_of(conn, "persons") == before


def test_a_unique_index_other_tables_reference_stays_in_place(pg: Engine, with_buildings: DemoCity) -> None:
    with pg.connect() as conn:
        before = schema_of(conn, "buildings")
    with pg.begin() as conn, deferred_indexes(conn, "buildings") as dropped:
        during = schema_of(conn, "buildings")
    # persons and legal_entities reference building_code: its unique constraint cannot go.
    assert {"uq_buildings_building_code", "pk_buildings"} <= names(during)
    assert "uq_buildings_building_code" not in {o.name for o in dropped}
    # The other indexes (the GiST footprint index among them) are dropped and come back as they were.
    assert {"ix_buildings_region_code", "ix_buildings_footprint"} <= names(before) - names(during)
    with pg.connect() as conn:
        assert schema_of(conn, "buildings") == before


def test_lock_if_empty(pg: Engine, with_buildings: DemoCity) -> None:
    with pg.begin() as conn:
        assert lock_if_empty(conn, "buildings") is False
        modes = conn.scalars(text("SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() "
                                  "AND relation = 'buildings'::regclass")).all()
        assert "AccessExclusiveLock" not in modes
    with pg.begin() as conn:
        assert lock_if_empty(conn, "persons") is True
        with pg.connect() as other:
            other.execute(text("SET lock_timeout = '200ms'"))
            # Not even a read gets through while the load's transaction holds the lock.
            with pytest.raises(DBAPIError, match="lock timeout"):
                other.execute(text("SELECT count(*) FROM persons"))
            other.rollback()
