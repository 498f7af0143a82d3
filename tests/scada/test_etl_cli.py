"""`wattlake run scada` and `wattlake push scada-target` in-process, against the source stand-in
and a real PostgreSQL target database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.scada.etl_support import pg_database, target_rows, target_signals
from wattlake.cli import app
from wattlake.config import get_settings
from wattlake.sims.scada_source import ScadaSourceSim

cli = CliRunner()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("WATTLAKE_HOME", str(tmp_path / "home"))
    for var in ("WATTLAKE_WAREHOUSE", "WATTLAKE_SCADA_TARGET", "WATTLAKE_SCADA_TIMEZONE"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.mark.usefixtures("pg_available")
def test_run_then_push(monkeypatch: pytest.MonkeyPatch) -> None:
    with ScadaSourceSim(turbines=1, days=2) as sim, pg_database() as target:
        r = cli.invoke(
            app,
            ["run", "scada", "--date", "2024-05-20", "--columns", "wind_speed", "power",
             "--source-url", sim.base_url, "--target", target],
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        assert "1 fetched" in r.output and "0 rejected" in r.output
        assert [n for _i, n in target_signals(target)][:2] == ["wind_speed_mean", "wind_speed_min"]
        first = target_rows(target)
        r = cli.invoke(app, ["run", "scada", "--date", "2024-05-20", "--source-url", sim.base_url])
        assert r.exit_code == 0 and "1 already loaded" in r.output and "nothing pushed" in r.output
        r = cli.invoke(app, ["runs", "--format", "json"])
        assert [x["status"] for x in json.loads(r.stdout)] == ["ok", "ok"]
    # The source is gone; the warehouse still has the day: push it to a second target.
    with pg_database() as second:
        monkeypatch.setenv("WATTLAKE_SCADA_TARGET", second)
        get_settings.cache_clear()
        r = cli.invoke(app, ["push", "scada-target", "--date", "2024-05-20"])
        assert r.exit_code == 0, r.output
        assert "default" in r.output and target_rows(second) == first


def test_bad_arguments_are_refused() -> None:
    r = cli.invoke(app, ["run", "scada"])
    assert r.exit_code == 2 and "--date" in r.output
    r = cli.invoke(app, ["run", "scada", "--date", "2024-05-20", "--columns", "x;drop"])
    assert r.exit_code != 0
    r = cli.invoke(app, ["run", "scada", "--date", "2024-05-20", "power"])
    assert r.exit_code == 2 and "--columns" in r.output


def test_source_down_exits_nonzero() -> None:
    r = cli.invoke(
        app, ["run", "scada", "--date", "2024-05-20", "--source-url", "http://127.0.0.1:9"]
    )
    assert r.exit_code == 1, r.output
    assert "fetch" in r.output and "failed after" in r.output
