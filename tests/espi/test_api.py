"""/v1/usage-points on each engine: list, daily (gold), intervals (silver), paging, CSV, 404."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests._support import samples
from wattlake.api.app import create_app
from wattlake.pipeline import Runner
from wattlake.sources.espi.pipeline import ingest


@pytest.fixture
def client(runner: Runner) -> Iterator[TestClient]:
    ingest(runner, [samples("espi", "pge_cmd_electric_hourly_netmetering.xml"),
                    samples("espi", "pge_cmd_gas_daily.xml")])  # fmt: skip
    with TestClient(create_app(runner)) as c:
        yield c


def test_list_and_filters(client: TestClient) -> None:
    body = client.get("/v1/usage-points").json()
    assert body["total"] == 2
    kinds = {i["usage_point_id"]: i["service"] for i in body["items"]}
    assert set(kinds.values()) == {"electricity", "gas"}
    gas = client.get("/v1/usage-points", params={"service_kind": 1}).json()
    assert gas["total"] == 1 and gas["items"][0]["time_zone"].startswith("LTP UTC-08:00")


def test_daily_and_intervals(client: TestClient) -> None:
    up = next(i["usage_point_id"] for i in client.get("/v1/usage-points").json()["items"]
              if i["service"] == "electricity")  # fmt: skip
    day = client.get(f"/v1/usage-points/{up}/daily",
                     params={"start": "2015-11-01", "end": "2015-11-01", "flow": 1}).json()  # fmt: skip
    assert day["total"] == 1
    d = day["items"][0]
    assert d["interval_count"] == 25 and d["day_seconds"] == 90000 and d["unit"] == "kWh"
    iv = client.get(f"/v1/usage-points/{up}/intervals",
                    params={"start": "2015-11-01T07:00:00Z", "end": "2015-11-02T08:00:00Z",
                            "flow": 1, "limit": 10}).json()  # fmt: skip
    assert iv["total"] == 25 and len(iv["items"]) == 10 and iv["next"]
    assert sum(
        i["value"]
        for i in client.get(
            f"/v1/usage-points/{up}/intervals",
            params={"start": "2015-11-01T07:00:00Z", "end": "2015-11-02T08:00:00Z", "flow": 1},
        ).json()["items"]
    ) / 1000 == pytest.approx(d["consumption"])
    rev = client.get(f"/v1/usage-points/{up}/intervals", params={"flow": 19}).json()
    assert rev["total"] == 123
    text = client.get(f"/v1/usage-points/{up}/daily", params={"format": "csv", "flow": 19}).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and all(r["flow_direction"] == "19" and r["export"] for r in rows)


def test_unknown_usage_point_and_bad_params(client: TestClient) -> None:
    assert client.get("/v1/usage-points/nope/daily").status_code == 404
    assert client.get("/v1/usage-points/x/daily", params={"flow": 7}).status_code == 422
    r = client.get("/v1/usage-points/x/daily", params={"start": "2020-02-02", "end": "2020-01-01"})
    assert r.status_code == 422
