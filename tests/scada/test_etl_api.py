"""/v1/scada on each engine: turbines, 10-minute statistics filtered by time and signal, JSON
pages and CSV, validation. Data come from the source stand-in through the pipeline."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient

from wattlake.api.app import create_app
from wattlake.pipeline import Runner
from wattlake.sims.scada_source import ScadaSourceSim
from wattlake.sources.scada.pipeline import plan, run_days


@pytest.fixture
def client(runner: Runner) -> Iterator[TestClient]:
    with ScadaSourceSim(turbines=2, days=2) as sim:
        days = [date(2024, 5, 20), date(2024, 5, 21)]
        run_days(runner, plan(days), base_url=sim.base_url)
        run_days(runner, plan(days[:1], ["power"], ["WTG02"]), base_url=sim.base_url)
    with TestClient(create_app(runner)) as c:
        yield c


def test_turbines(client: TestClient) -> None:
    page = client.get("/v1/scada/turbines").json()
    assert page["total"] == 2 and page["next"] is None
    by = {t["turbine"]: t for t in page["items"]}
    assert by["default"]["signals"] == 2 and by["WTG02"]["signals"] == 1
    assert by["default"]["first_bucket_utc"].startswith("2024-05-20T00:00:00")
    assert by["default"]["last_bucket_utc"].startswith("2024-05-21T23:50:00")
    assert by["WTG02"]["last_bucket_utc"].startswith("2024-05-20T23:50:00")


def test_ten_minutes_filter_paginate_csv(client: TestClient, runner: Runner) -> None:
    base = "/v1/scada/default/10min?start=2024-05-20T01:00:00&end=2024-05-20T02:00:00Z"
    page = client.get(f"{base}&signals=wind_speed&limit=4").json()
    assert page["total"] == 6 and len(page["items"]) == 4 and page["next"]
    rest = client.get(page["next"]).json()
    assert rest["offset"] == 4 and len(rest["items"]) == 2 and rest["next"] is None
    items = page["items"] + rest["items"]
    assert [i["bucket_start_utc"][11:16] for i in items] == [
        "01:00", "01:10", "01:20", "01:30", "01:40", "01:50",
    ]  # fmt: skip
    want = runner.engine.query(
        "SELECT mean, std, count FROM scada_10min WHERE turbine = 'default' AND "
        "signal = 'wind_speed' AND bucket_start_utc >= '2024-05-20 01:00:00+00' AND "
        "bucket_start_utc < '2024-05-20 02:00:00+00' ORDER BY bucket_start_utc"
    ).to_pylist()
    assert [(i["mean"], i["std"], i["count"]) for i in items] == [
        (w["mean"], w["std"], w["count"]) for w in want
    ]
    both = client.get(f"{base}&format=csv").text
    rows = list(csv.DictReader(io.StringIO(both)))
    assert len(rows) == 12 and {r["signal"] for r in rows} == {"power", "wind_speed"}
    assert set(rows[0]) == {
        "turbine", "signal", "bucket_start_utc", "mean", "min", "max", "std", "count",
    }  # fmt: skip


def test_errors(client: TestClient) -> None:
    assert client.get("/v1/scada/WTG09/10min").status_code == 404
    assert client.get("/v1/scada/bad%20id/10min").status_code == 422
    r = client.get("/v1/scada/default/10min?start=2024-05-21&end=2024-05-20")
    assert r.status_code == 422
    assert client.get("/v1/scada/default/10min?signals=drop%20table").status_code == 422
    assert client.get("/v1/scada/default/10min?start=yesterday").status_code == 422
