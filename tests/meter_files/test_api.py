"""HTTP API for meter data: the seed's endpoints byte for byte, and /v1 with validation."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests._support import samples

from wattlake.api.app import create_app
from wattlake.pipeline import Runner

SEED_BODY = (
    '{"avg_energy":1.7166666666666668,"date_time":"Tue, 01 Sep 2015 00:00:00 GMT","id":1,'
    '"max_energy":4.2,"meter_code":"210095893","min_energy":0.0,"plant_code":"ED031000001",'
    '"serial_code":"210095893"}\n'
)
HTML_400 = (
    "<!doctype html>\n<html lang=en>\n<title>400 Bad Request</title>\n<h1>Bad Request</h1>\n"
    "<p>{}</p>\n"
)


@pytest.fixture
def client(runner: Runner) -> Iterator[TestClient]:
    landing = runner.settings.landing_dir("meter_files")
    shutil.copytree(samples("meter_files", "backend-energy_2018_variant"), landing)
    with TestClient(create_app(runner)) as c:
        yield c


def test_seed_flow_load_populate_get(client: TestClient, runner: Runner) -> None:
    r = client.get("/load-data")
    assert (r.status_code, r.text) == (200, '{"message":"Load data complete"}\n')
    r = client.get("/populate-view")
    assert (r.status_code, r.text) == (200, '{"message":"Load data in view complete"}\n')
    r = client.get("/get-data?meter_code=210095893&date_time=01%2F09%2F2015&serial_code=210095893")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    if runner.engine.dialect == "duckdb":
        assert r.text == SEED_BODY
    else:  # PostgreSQL may sum in another order: same figures within float rounding
        got, want = json.loads(r.text), json.loads(SEED_BODY)
        assert got.pop("avg_energy") == pytest.approx(want.pop("avg_energy"), abs=1e-12)
        assert got == want
    # Loading again adds nothing (the seed dropped and re-created its tables instead).
    client.get("/load-data")
    assert (
        client.get(
            "/get-data?meter_code=210095893&date_time=1%2F9%2F2015&serial_code=210095893"
        ).json()["max_energy"]
        == 4.2
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("meter_code=1&serial_code=1", "date_time should be in %d/%m/%Y"),
        ("meter_code=1&serial_code=1&date_time=2015-09-01", "date_time should be in %d/%m/%Y"),
        ("meter_code=1&serial_code=1&date_time=31%2F02%2F2015", "date_time should be in %d/%m/%Y"),
        ("date_time=01%2F09%2F2015&serial_code=1", "meter_code is mandatory"),
        ("meter_code=&date_time=01%2F09%2F2015&serial_code=1", "meter_code is mandatory"),
        ("meter_code=1&date_time=01%2F09%2F2015", "serial_code is mandatory"),
        ("serial_code=&date_time=bad", "date_time should be in %d/%m/%Y"),  # date checked first
    ],
)
def test_get_data_validation_order_and_html(client: TestClient, query: str, message: str) -> None:
    r = client.get(f"/get-data?{query}")
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("text/html")
    assert r.text == HTML_400.format(message)


def test_get_data_no_row(client: TestClient) -> None:
    client.get("/load-data")
    r = client.get("/get-data?meter_code=1&serial_code=1&date_time=01%2F09%2F2015")
    assert (r.status_code, r.text) == (200, '{"message":"energy data not present"}\n')


def test_v1_daily_filters_pagination_and_csv(client: TestClient) -> None:
    client.get("/load-data")
    base = "/v1/meters/214612653/daily"
    page = client.get(f"{base}?limit=5").json()
    assert page["total"] == 21 and len(page["items"]) == 5 and page["next"]
    nxt = client.get(page["next"]).json()
    assert nxt["offset"] == 5 and nxt["items"][0] != page["items"][0]
    one = client.get(f"{base}?data_type=Voltage%20Total&start=2018-09-07&end=2018-09-07").json()
    assert one["total"] == 1 and one["items"][0]["n_readings"] == 94
    csv = client.get(f"{base}?format=csv&limit=2")
    assert csv.headers["content-type"].startswith("text/csv")
    assert (
        csv.text.splitlines()[0].startswith('"meter_code","serial"')
        and len(csv.text.splitlines()) == 3
    )


@pytest.mark.parametrize(
    "query",
    ["start=2015-13-01", "start=2015-09-08&end=2015-09-01", "limit=0", "offset=-1", "format=xml"],
)
def test_v1_daily_rejects_bad_parameters_as_problem_json(client: TestClient, query: str) -> None:
    r = client.get(f"/v1/meters/214612653/daily?{query}")
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 422 and r.json()["detail"]


def test_bad_meter_code_is_rejected(client: TestClient) -> None:
    assert client.get("/v1/meters/bad%20code;drop/daily").status_code == 422


def test_api_key_guards_data_changing_endpoints(client: TestClient, runner: Runner) -> None:
    from pydantic import SecretStr

    runner.settings.api_keys = SecretStr("k1,k2")
    assert client.get("/load-data").status_code == 401
    assert client.get("/load-data", headers={"X-API-Key": "nope"}).status_code == 401
    assert client.get("/load-data", headers={"X-API-Key": "k2"}).status_code == 200
    # Reads stay open.
    assert (
        client.get("/get-data?meter_code=1&serial_code=1&date_time=01%2F09%2F2015").status_code
        == 200
    )


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/meters/{meter_code}/daily", "/get-data", "/load-data"} <= set(paths)
