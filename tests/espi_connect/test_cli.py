"""``wattlake run green-button`` and ``wattlake push oeem-datastore`` in-process, against the
stand-ins, with a temporary WATTLAKE_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.espi_connect.helpers import write_config
from wattlake.cli import app, main
from wattlake.config import get_settings
from wattlake.sims.datastore import DatastoreSim
from wattlake.sims.green_button import Customer, GreenButtonSim, UsagePointSpec

cli = CliRunner()
NOW = datetime(2026, 5, 20, 19, tzinfo=UTC)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("WATTLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WATTLAKE_WAREHOUSE", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_run_then_push_then_run_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    customers = [
        Customer("P-[red]1", "501", [UsagePointSpec("71", service_start=date(2026, 5, 1))]),
        Customer("P-2", "502", [UsagePointSpec("72", "gas", service_start=date(2026, 5, 1))]),
    ]
    with GreenButtonSim(customers, now=NOW) as sim, DatastoreSim(tmp_path / "ds.sqlite") as ds:
        cfg = write_config(tmp_path, sim, monkeypatch, datastore=ds.url)
        sim.revoke("P-2")
        r = cli.invoke(app, ["run", "green-button", "--config", str(cfg.path)])
        assert r.exit_code == 0, r.output
        assert "1 fetched, 0 unchanged, 1 revoked, 0 failed" in r.output
        assert "P-[red]1/71" in r.output  # data reaches the terminal escaped, not as markup
        r = cli.invoke(app, ["push", "oeem-datastore", "--config", str(cfg.path)])
        assert r.exit_code == 0, r.output
        # the client asks up to its own clock; the custodian has published May 1..18 by its clock
        assert "1 files uploaded (432 records)" in r.output, r.output
        r = cli.invoke(
            app, ["run", "green-button", "--config", str(cfg.path), "--usage-point", "71"]
        )
        assert r.exit_code == 0 and "0 fetched, 1 unchanged" in r.output, r.output
        assert ds.query("SELECT count(*) FROM consumption_record") == [(432,)]


def test_a_bad_config_names_file_key_and_fix(tmp_path: Path) -> None:
    bad = tmp_path / "acme.toml"
    bad.write_text(
        '[client]\nname = "acme"\n[storage]\nurl = "x"\n[espi]\nresource_url = "ftp://x"\n'
    )
    out = subprocess.run(
        [sys.executable, "-c", "from wattlake.cli import main; main()", "run", "green-button",
         "--config", str(bad)], capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "400"},
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "acme.toml: espi.resource_url" in out.stderr
    assert "— set espi.resource_url" in out.stderr  # the fix, on the same line
    assert "must start with https://" in out.stderr and "Value error" not in out.stderr
    assert "Traceback" not in out.stderr
    assert main  # the entry point the subprocess used
