"""Shared set-up for the Green Button fetch tests: a client config pointing at the stand-ins."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattlake.engines import connect
from wattlake.lake import Lake
from wattlake.pipeline import Runner
from wattlake.sims.green_button import GreenButtonSim
from wattlake.sources.espi.config import ClientConfig, load_config


def write_config(
    tmp: Path,
    sim: GreenButtonSim,
    monkeypatch: pytest.MonkeyPatch,
    *,
    storage: str | None = None,
    extra: str = "",
    datastore: str | None = None,
) -> ClientConfig:
    monkeypatch.setenv("T_GB_ID", sim.client_id)
    monkeypatch.setenv("T_GB_SECRET", sim.client_secret)
    monkeypatch.setenv("T_AUTH", sim.auth_service.token)
    monkeypatch.setenv("T_DS", "tokstr")
    ds = (
        f'[datastore]\nurl = "{datastore}"\ntoken_env = "T_DS"\nproject_owner = 1\nbatch_size = 700\n'
        if datastore else ""
    )  # fmt: skip
    text = f"""
[client]
name = "test-client"
timezone = "America/Los_Angeles"
custodian = "sim"

[storage]
url = "{storage or (tmp / "bucket").as_posix()}"
{extra}
[espi]
resource_url = "{sim.resource_url}"
token_url = "{sim.token_url}"
client_id_env = "T_GB_ID"
client_secret_env = "T_GB_SECRET"
availability_lag_days = 2
overlap_days = 3
min_interval_s = 0.0
backoff_s = 0.05

[auth_service]
url = "{sim.auth_service.url}"
token_env = "T_AUTH"
client_id = "1"

{ds}"""
    path = tmp / "client.toml"
    path.write_text(text)
    return load_config(path)


def duck_runner(tmp: Path) -> Runner:
    from wattlake.config import Settings

    return Runner(
        connect("duckdb:///:memory:"), Lake(str(tmp / "lake")), Settings(home=tmp / "home")
    )
