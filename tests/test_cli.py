"""The command line, run in-process with typer's runner against a temporary WATTLAKE_HOME."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wattlake.cli import app
from wattlake.config import get_settings
from wattlake.sources.meter_files.schema import LP

cli = CliRunner()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WATTLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WATTLAKE_WAREHOUSE", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def write_lp(path: Path) -> Path:
    path.write_text(
        ",".join(LP.header) + "\n"
        "5,5,P,01/01/2025 00:15:00,Import Wh Total,1.5,kwh,\n"
        "5,5,P,01/01/2025 00:30:00,Import Wh Total,2.5,kwh,\n"
        "5,5,P,01/01/2025 00:45:00,Import Wh Total,oops,kwh,\n"
    )
    return path


def test_ingest_then_sql_json_and_runs(tmp_path: Path) -> None:
    f = write_lp(tmp_path / "LP_5.csv")
    r = cli.invoke(app, ["ingest", "meter-files", str(f)])
    assert r.exit_code == 0, r.output
    assert "LP_5.csv" in r.output
    r = cli.invoke(
        app, ["sql", "SELECT avg_value, n_readings FROM meter_daily", "--format", "json"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == [{"avg_value": 2.0, "n_readings": 2}]
    r = cli.invoke(app, ["runs", "--format", "json"])
    assert r.exit_code == 0, r.output
    (run,) = json.loads(r.stdout)
    assert (run["pipeline"], run["status"], run["rows_read"], run["rows_rejected"]) == (
        "meter-files",
        "ok",
        3,
        1,
    )
    r = cli.invoke(app, ["runs", run["run_id"], "--rejects", "-f", "json"])
    assert [(x["line"], x["rule"]) for x in json.loads(r.stdout)] == [(4, "bad_number")]


def test_sql_is_read_only(tmp_path: Path) -> None:
    cli.invoke(app, ["ingest", "meter-files", str(write_lp(tmp_path / "LP_5.csv"))])
    r = cli.invoke(app, ["sql", "DELETE FROM meter_reads"])
    assert r.exit_code != 0
    r = cli.invoke(app, ["sql", "SELECT count(*) AS n FROM meter_reads", "-f", "csv"])
    assert r.stdout.splitlines() == ['"n"', "2"]


def test_help_teaches() -> None:
    r = cli.invoke(app, ["ingest", "meter-files", "--help"])
    assert r.exit_code == 0 and "layout detected from the header" in r.output
