"""HTTP API for CAISO LMPs on each engine: /v1/lmp and /v1/lmp/daily with validation, and the
seed's endpoints with its response shapes. Data come from the OASIS stand-in through the
pipeline; expected figures from the stand-in's price model."""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from tests.caiso.conftest import SIM_RATE_S
from wattlake.api.app import create_app
from wattlake.pipeline import Runner
from wattlake.sims.oasis import OasisSim, generate_csv, zip_one
from wattlake.sources.caiso.client import operating_day_utc
from wattlake.sources.caiso.pipeline import backfill, ingest
from wattlake.sources.caiso.schema import Market

PACIFIC = ZoneInfo("America/Los_Angeles")
NP15, SP15 = "TH_NP15_GEN-APND", "TH_SP15_GEN-APND"
START, END = date(2025, 10, 27), date(2025, 11, 3)  # Monday .. Sunday (fall-back), end exclusive


@pytest.fixture
def client(runner: Runner, sim: OasisSim, tmp_path: object) -> Iterator[TestClient]:
    backfill(
        runner, START, END, "DAM", [NP15, SP15], base_url=sim.base_url,
        min_interval_s=2 * SIM_RATE_S,
    )  # fmt: skip
    # An RTPD hour as well: the seed's endpoints must show day-ahead prices only.
    t0 = datetime(2025, 10, 28, 16, tzinfo=UTC)
    rtpd = generate_csv("RTPD", t0, t0 + timedelta(hours=1), [NP15, "DLAP_SCE-APND"])
    path = runner.settings.home / "rtpd.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(zip_one("rtpd.csv", rtpd, t0))
    ingest(runner, [path])
    with TestClient(create_app(runner)) as c:
        yield c


def hourly(sim: OasisSim, node: str, day: date) -> list[tuple[datetime, float]]:
    lo, hi = operating_day_utc(day)
    n = int((hi - lo).total_seconds() // 3600)
    times = [lo + timedelta(hours=i) for i in range(n)]
    return [(t, sim.model.components(Market.DAM, node, t)["LMP"]) for t in times]


def test_intervals_filter_paginate_and_csv(client: TestClient, sim: OasisSim) -> None:
    base = f"/v1/lmp?node={NP15}&market=DAM&start=2025-11-02&end=2025-11-02"
    page = client.get(f"{base}&limit=10").json()
    assert page["total"] == 25 and len(page["items"]) == 10 and page["next"]
    rest = client.get(page["next"]).json()
    assert rest["offset"] == 10 and len(rest["items"]) == 10
    last = client.get(f"{base}&limit=10&offset=20").json()
    assert len(last["items"]) == 5 and last["next"] is None
    items = page["items"] + rest["items"] + last["items"]
    want = hourly(sim, NP15, date(2025, 11, 2))
    assert [i["interval_start_utc"] for i in items] == [t.isoformat() for t, _ in want]
    assert [i["lmp"] for i in items] == pytest.approx([p for _, p in want], abs=1e-9)
    assert [i["opr_hour"] for i in items] == [1, 2, 25, *range(3, 25)]
    first = items[0]
    assert first["market"] == "DAM" and first["interval_end_utc"] == "2025-11-02T08:00:00+00:00"
    assert first["lmp"] == pytest.approx(
        first["energy"] + first["congestion"] + first["loss"] + (first["ghg"] or 0), abs=1e-5
    )
    both = client.get("/v1/lmp?node=TH_SP15_GEN-APND&node=TH_NP15_GEN-APND&limit=1").json()
    assert both["total"] == 2 * (6 * 24 + 25) + 4  # + NP15's four RTPD intervals
    assert client.get("/v1/lmp?market=RTPD").json()["total"] == 8
    text = client.get(f"{base}&format=csv")
    assert text.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(text.text)))
    assert len(table) == 25 and table[0]["node"] == NP15 and "lmp" in table[0]


def test_daily_figures(client: TestClient, sim: OasisSim) -> None:
    page = client.get(f"/v1/lmp/daily?node={NP15}&market=DAM").json()
    assert page["total"] == 7
    by_day = {i["opr_date"]: i for i in page["items"]}
    assert list(by_day) == [str(START + timedelta(days=i)) for i in range(7)]
    for day in (date(2025, 10, 27), date(2025, 11, 2)):
        prices = [p for _, p in hourly(sim, NP15, day)]
        row = by_day[str(day)]
        assert row["n_intervals"] == len(prices)
        assert row["avg_lmp"] == pytest.approx(statistics.fmean(prices), abs=1e-9)
        assert (row["min_lmp"], row["max_lmp"]) == pytest.approx((min(prices), max(prices)))
    monday, sunday = by_day["2025-10-27"], by_day["2025-11-02"]
    on = [
        p for t, p in hourly(sim, NP15, date(2025, 10, 27)) if 6 <= t.astimezone(PACIFIC).hour <= 21
    ]
    assert monday["on_peak_avg_lmp"] == pytest.approx(statistics.fmean(on), abs=1e-9)
    assert (monday["on_peak_intervals"], monday["off_peak_intervals"]) == (16, 8)
    assert sunday["on_peak_avg_lmp"] is None and sunday["off_peak_intervals"] == 25
    one = client.get(f"/v1/lmp/daily?node={SP15}&start=2025-10-30&end=2025-10-31").json()
    assert [i["opr_date"] for i in one["items"]] == ["2025-10-30", "2025-10-31"]
    rtpd = client.get("/v1/lmp/daily?market=RTPD").json()
    assert {(i["node"], i["n_intervals"]) for i in rtpd["items"]} == {
        (NP15, 4),
        ("DLAP_SCE-APND", 4),
    }
    csv_text = client.get(f"/v1/lmp/daily?node={NP15}&format=csv&limit=3").text
    assert csv_text.splitlines()[0].startswith('"market","node","opr_date","avg_lmp"')
    assert len(csv_text.splitlines()) == 4


@pytest.mark.parametrize("path", ["/v1/lmp", "/v1/lmp/daily"])
@pytest.mark.parametrize(
    "query",
    [
        "start=2025-13-01",
        "start=2025-11-03&end=2025-11-01",
        "market=dam",
        "market=XYZ",
        "node=bad%20node",
        "node=x%27;drop%20table%20lmp;--",
        "limit=0",
        "limit=10001",
        "offset=-1",
        "format=xml",
        "&".join(f"node=N{i}" for i in range(101)),
    ],
)
def test_bad_parameters_are_problem_json(client: TestClient, path: str, query: str) -> None:
    r = client.get(f"{path}?{query}")
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 422 and r.json()["detail"]


def test_seed_endpoints_keep_their_shapes(client: TestClient, sim: OasisSim) -> None:
    dam_rows = 2 * (6 * 24 + 25)
    assert client.get("/row-count").json() == {"row-count": dam_rows}
    assert client.get("/time-ranges").json() == {
        "oldest timestamp": "2025-10-27 07:00:00+00:00",
        "newest timestamp": "2025-11-03 07:00:00+00:00",
    }
    assert client.get("/lmp").json() == {"regions": [[NP15], [SP15]]}
    records = client.get(f"/lmp/{NP15}").json()
    assert len(records) == dam_rows // 2 and set(records[0]) == {"time", "node", "mw"}
    first = hourly(sim, NP15, START)[0]
    assert records[0] == {"time": "2025-10-27 07:00:00+00:00", "node": NP15, "mw": first[1]}
    assert client.get("/lmp/NOT_A_NODE").json() == []


@pytest.mark.parametrize("weekday", ["monday", "sunday"])
def test_seed_mean_is_the_real_pacific_weekday_mean(
    client: TestClient, sim: OasisSim, weekday: str
) -> None:
    day = START if weekday == "monday" else date(2025, 11, 2)
    pacific = [p for _, p in hourly(sim, NP15, day)]
    r = client.get(f"/lmp/mean/{NP15}/{weekday}")
    assert r.status_code == 200
    assert r.json() == {
        "region": NP15,
        "day": weekday,
        "mean_lmp": round(statistics.fmean(pacific), 2),
    }
    # The seed's UTC-weekday grouping would have given another figure.
    utc = [
        p
        for d in range(7)
        for t, p in hourly(sim, NP15, START + timedelta(days=d))
        if t.weekday() == day.weekday()
    ]
    assert round(statistics.fmean(utc), 2) != r.json()["mean_lmp"]


def test_seed_mean_validation_and_missing(client: TestClient) -> None:
    r = client.get(f"/lmp/mean/{NP15}/funday")
    assert r.status_code == 422
    assert client.get("/lmp/mean/{region}/{day_of_week}").status_code == 422
    # The seed's own test: GET /lmp/ is a 404 (no redirect to /lmp).
    assert client.get("/lmp/", follow_redirects=False).status_code == 404
    r = client.get("/lmp/mean/NOT_A_NODE/monday")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


def test_empty_warehouse_serves_empty_answers(runner: Runner) -> None:
    with TestClient(create_app(runner)) as c:
        assert c.get("/v1/lmp/daily").json()["total"] == 0
        assert c.get("/v1/lmp").json()["items"] == []
        assert c.get("/row-count").json() == {"row-count": 0}
        assert c.get("/time-ranges").json() == {"oldest timestamp": None, "newest timestamp": None}
        assert c.get("/lmp").json() == {"regions": []}
