"""Fixtures for the hosting-capacity tests: the real samples and a generated data set."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from wattlake.sources.hosting_capacity import generate

from .helpers import SEED, Parsed, parse_path, to_duckdb


@pytest.fixture(scope="session")
def seed_dir() -> Path:
    if not SEED.is_dir():
        pytest.skip(f"real hosting-capacity samples not found at {SEED}")
    return SEED


@pytest.fixture(scope="session")
def seed_parsed(seed_dir: Path) -> dict[str, Parsed]:
    """Every real seed file, parsed once per session."""
    return {p.name: parse_path(p) for p in sorted(seed_dir.glob("*.csv"))}


@pytest.fixture(scope="session")
def seed_db(seed_parsed: dict[str, Parsed]) -> duckdb.DuckDBPyConnection:
    return to_duckdb(seed_parsed.values())


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A small generated data set in every utility's layout."""
    return generate(tmp_path_factory.mktemp("hc_generated"), scale=0.05, seed=7)
