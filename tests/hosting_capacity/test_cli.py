"""`wattlake ingest hosting-capacity` and `wattlake run hosting-capacity`, in-process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wattlake.cli import app
from wattlake.config import get_settings

cli = CliRunner()
CIRCUITS = (
    "Master_CDF,feeder_voltage,feeder_max_hc,feeder_min_hc,feeder_dg_connected_since_refresh,"
    "hca_refresh_date,color,shape_length\n"
)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("WATTLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WATTLAKE_WAREHOUSE", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # wide enough for rich tables not to wrap names
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def sql(query: str) -> list[dict[str, object]]:
    r = cli.invoke(app, ["sql", query, "--format", "json"])
    assert r.exit_code == 0, r.output
    out: list[dict[str, object]] = json.loads(r.stdout)
    return out


def test_run_loads_changed_files_only_and_reports(home: Path) -> None:
    folder = home / "landing" / "hosting_capacity" / "utility2"
    folder.mkdir(parents=True)
    f = folder / "utility2_circuits.csv"
    f.write_text(CIRCUITS + "F1,13.2,1,0,0,,blue,1\nF2,13.2,x,0,0,,blue,1\n")
    r = cli.invoke(app, ["run", "hosting-capacity"])
    assert r.exit_code == 0, r.output
    assert "utility2/utility2_circuits.csv" in r.output and "loaded" in r.output
    assert "--rejects" in r.output  # where to see the bad row
    r = cli.invoke(app, ["run", "hosting-capacity"])
    assert r.exit_code == 0 and "silver unchanged" in r.output
    f.write_text(CIRCUITS + "F3,13.2,1,0,0,,blue,1\n")
    assert cli.invoke(app, ["run", "hosting-capacity"]).exit_code == 0
    assert sql("SELECT feeder_uid FROM feeders") == [{"feeder_uid": "utility2:F3"}]


def test_run_exits_1_when_a_file_fails(home: Path) -> None:
    folder = home / "landing" / "hosting_capacity" / "utility2"
    folder.mkdir(parents=True)
    (folder / "utility2_circuits.csv").write_text("Master_CDF\nF1\n")
    r = cli.invoke(app, ["run", "hosting-capacity"])
    assert r.exit_code == 1
    assert "silver utility2/utility2_circuits.csv" in r.output and "feeder_voltage" in r.output


def test_run_with_an_empty_landing_folder_says_where_files_go(home: Path) -> None:
    r = cli.invoke(app, ["run", "hosting-capacity"])
    assert r.exit_code == 0 and "landing/hosting_capacity/<utility>/" in r.output


def test_ingest_files_by_path(tmp_path: Path) -> None:
    f = tmp_path / "utility2_circuits.csv"
    f.write_text(CIRCUITS + "F1,13.2,1,0,0,,blue,1\n")
    r = cli.invoke(app, ["ingest", "hosting-capacity", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert sql("SELECT feeder_uid, max_hc_mw FROM feeders") == [
        {"feeder_uid": "utility2:F1", "max_hc_mw": 1.0}
    ]
    assert sql("SELECT count(*) AS n FROM feeder_summary") == [{"n": 1}]
