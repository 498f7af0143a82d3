"""Shared fixtures: sample files, warehouses (DuckDB always; PostgreSQL when reachable,
required in CI), runners on temporary lakes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._support import IN_CI, PG_URL, pg_unreachable_reason
from wattlake.config import Settings
from wattlake.engines import Engine, connect
from wattlake.lake import Lake
from wattlake.pipeline import Runner


@pytest.fixture(scope="session")
def pg_available() -> None:
    reason = pg_unreachable_reason()
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"CI requires PostgreSQL: {reason}")
    pytest.skip(reason)


def make_engine(kind: str) -> Engine:
    if kind == "duckdb":
        return connect("duckdb:///:memory:")
    return connect(PG_URL, schema=f"wl_test_{secrets.token_hex(4)}")


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The same test on DuckDB and on PostgreSQL (in a throwaway schema)."""
    if request.param == "postgres":
        request.getfixturevalue("pg_available")
    eng = make_engine(request.param)
    yield eng
    drop = getattr(eng, "drop_schema", None)
    if drop:
        drop()
    eng.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.fixture
def runner(engine: Engine, tmp_path: Path, settings: Settings) -> Runner:
    return Runner(engine, Lake(str(tmp_path / "lake")), settings)
