"""The SCADA demo step: with no PostgreSQL it says so and fills a second DuckDB file; a second
run fetches nothing and changes nothing in the target."""

from __future__ import annotations

import io

import duckdb
import pytest
from rich.console import Console

from wattlake.pipeline import Runner
from wattlake.sources.scada import demo


@pytest.mark.parametrize("engine", ["duckdb"], indirect=True)
def test_demo_without_postgres_uses_a_duckdb_target(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "LOCAL_PG", "postgresql://postgres@127.0.0.1:9")
    monkeypatch.setattr(demo, "DAYS", 2)
    out = io.StringIO()
    paths = demo.run(runner, Console(file=out, soft_wrap=True))
    text = out.getvalue()
    assert "6 turbine-days fetched" in text and "no local PostgreSQL" in text and "duckdb" in text
    assert paths[0] == "/v1/scada/turbines"
    path = runner.settings.home / "scada_target.duckdb"
    with duckdb.connect(str(path)) as con:
        names = [r[0] for r in con.execute("SELECT name FROM signal ORDER BY id").fetchall()]
        n = con.execute("SELECT count(*) FROM data").fetchone()
    assert names[:2] == ["wind_speed_mean", "wind_speed_min"] and len(names) == 24
    assert "WTG02/power_std" in names and n is not None and n[0] > 3 * 2 * 144 * 7
    out = io.StringIO()
    demo.run(runner, Console(file=out, soft_wrap=True))
    assert "0 turbine-days fetched, 6 already loaded" in out.getvalue()
    assert "0 inserted or changed" in out.getvalue()
