"""Everything wattlake ships runs on PostgreSQL: the demo (its loads, gold models and queries),
the API paths it advertises, and `wattlake sql` with DuckDB-dialect functions such as
round(double, n) that PostgreSQL lacks (issue 7, item 9)."""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

from tests._support import PG_URL
from wattlake.api.app import create_app
from wattlake.cli import app
from wattlake.config import get_settings
from wattlake.demo import run_demo
from wattlake.engines import transpile

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_home(pg_available: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A throwaway PostgreSQL database as the warehouse, and a temporary WATTLAKE_HOME."""
    name = f"wl_demo_{secrets.token_hex(4)}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    monkeypatch.setenv("WATTLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WATTLAKE_WAREHOUSE", url)
    # The SCADA demo step pushes to a DuckDB file, not to a database left on the test server.
    monkeypatch.setenv("WATTLAKE_SCADA_TARGET", f"duckdb:///{tmp_path / 'scada_target.duckdb'}")
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_demo_and_its_api_examples_run_on_postgres(pg_home: str) -> None:
    out = io.StringIO()
    examples = run_demo(Console(file=out, width=200), serve_api=False)
    text = out.getvalue()
    assert "meter files" in text and "hosting capacity" in text and "CAISO LMP" in text
    assert "avg " in text  # the rounded daily figures were printed
    assert len(examples) >= 8
    with TestClient(create_app()) as client:
        for path in examples:
            r = client.get(path)
            assert r.status_code == 200, (path, r.text[:300])
    # The same through the CLI, as the issue reported it.
    r = CliRunner().invoke(
        app,
        ["sql", "SELECT round(value, 2) AS r, value FROM meter_reads ORDER BY value DESC LIMIT 1",
         "-f", "json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    assert isinstance(row["r"], float) and row["r"] == round(row["value"], 2)


def test_round_is_rewritten_for_postgres_only(pg_available: None) -> None:
    sql = "SELECT round(avg(x), 2) AS a, round(y) AS b, round(round(z, 1), 2) AS c FROM t"
    assert transpile(sql, "duckdb") == sql
    pg = transpile(sql, "postgres")
    assert pg.count("AS DOUBLE PRECISION") == 3  # every round(x, n) answers a float
    assert "ROUND(y)" in pg  # round(x) exists for double precision: untouched
    with psycopg.connect(PG_URL) as conn:
        got = conn.execute(
            transpile(
                "SELECT round(2.345::double, 2) AS r, round(round(1.25::double, 1), 0)", "postgres"
            )
        ).fetchone()
    assert got is not None and got[0] == pytest.approx(2.35) and isinstance(got[0], float)
