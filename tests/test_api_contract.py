"""API behaviour shared by every route: page bounds (issue 7 item 10), CSV injection (13), the
seed routes' trailing slash (16), 405 with Allow (17)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from wattlake.api.app import create_app
from wattlake.csvsafe import neutralise_formulas
from wattlake.pipeline import Runner
from wattlake.sources.hosting_capacity.pipeline import landing_folder

# A valid value for every path parameter of the /v1 routes.
PATH_EXAMPLES = {
    "meter_code": "210095893",
    "feeder_uid": "utility2:F1",
    "run_id": "20260101T000000-abcdef",
    "usage_point_id": "6345172663",
    "turbine": "WTG01",
}
CIRCUITS = (
    "Master_CDF,feeder_voltage,feeder_max_hc,feeder_min_hc,feeder_dg_connected_since_refresh,"
    "hca_refresh_date,color,shape_length\n"
    "F1,13.2,2.5,-0.5,0,2022/10/01,=cmd|' /C calc'!A0,1\n"
    "F2,4.16,0.1,0,0,2022/10/01,@SUM(A1),1\n"
    "F3,13.2,6,1,0,2022/10/01,+1-2,1\n"
    "F4,13.2,6,1,0,2022/10/01,-3.5,1\n"
    'F5,13.2,6,1,0,2022/10/01,"\tx",1\n'
    "F6,13.2,6,1,0,2022/10/01,blue=ok,1\n"
)


@pytest.fixture
def client(runner: Runner) -> Iterator[TestClient]:
    folder = landing_folder(runner) / "utility2"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "utility2_circuits.csv").write_text(CIRCUITS)
    with TestClient(create_app(runner)) as c:
        assert c.post("/v1/refresh/hosting-capacity").json()["status"] == "ok"
        yield c


def paginated_routes(client: TestClient) -> list[str]:
    """Every GET route that takes ``offset``, with its path parameters filled in."""
    spec = client.get("/openapi.json").json()
    out = []
    for path, ops in spec["paths"].items():
        params = {p["name"] for p in ops.get("get", {}).get("parameters", [])}
        if "offset" in params:
            for name, value in PATH_EXAMPLES.items():
                path = path.replace("{" + name + "}", value)
            assert "{" not in path, f"add an example for {path}"
            out.append(path)
    return out


def test_every_paginated_route_is_found(client: TestClient) -> None:
    routes = paginated_routes(client)
    assert {"/v1/lmp", "/v1/lmp/daily", "/v1/feeders", "/v1/meters/210095893/daily"} <= set(routes)
    assert "/v1/runs/20260101T000000-abcdef/rejects" in routes


@pytest.mark.parametrize(
    "query",
    [
        "offset=9223372036854775808",
        "offset=9223372036854775807",
        "offset=1e23",
        "offset=1000000000001",
        "limit=9223372036854775808",
        "limit=1e23",
        "offset=-9223372036854775809",
    ],
)
def test_huge_page_bounds_are_422(client: TestClient, query: str) -> None:
    for path in paginated_routes(client):
        r = client.get(f"{path}?{query}")
        assert r.status_code == 422, (path, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"


def test_largest_offset_still_answers(client: TestClient) -> None:
    for path in paginated_routes(client):
        r = client.get(f"{path}?offset=1000000000000&limit=10000")
        assert r.status_code in (200, 404), (path, r.text)  # 404: the example feeder/run/turbine


def test_csv_cells_that_start_a_formula_are_quoted(client: TestClient) -> None:
    text = client.get("/v1/feeders?format=csv").text
    rows = {r["native_feeder_id"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows["F1"]["map_color"] == "'=cmd|' /c calc'!a0"  # the parser lower-cases colours
    assert rows["F2"]["map_color"] == "'@sum(a1)"
    assert rows["F3"]["map_color"] == "'+1-2"
    assert rows["F4"]["map_color"] == "'-3.5"  # text column: quoted even when it looks numeric
    assert rows["F6"]["map_color"] == "blue=ok"  # only the first character counts
    assert rows["F1"]["min_hc_mw"] == "-0.5"  # numeric column: a negative number, untouched
    # JSON keeps the data as it is; every CSV text cell is the JSON value, quoted if risky.
    items = {i["native_feeder_id"]: i for i in client.get("/v1/feeders").json()["items"]}
    assert items["F1"]["map_color"] == "=cmd|' /c calc'!a0" and items["F1"]["min_hc_mw"] == -0.5
    for fid, item in items.items():
        color = item["map_color"]
        want = "'" + color if color[:1] in ("=", "+", "-", "@", "\t", "\r") else color
        assert rows[fid]["map_color"] == want


def test_neutralise_formulas_by_type() -> None:
    t = pa.table(
        {
            "s": ["=1+1", "+1", "-1", "@a", "\tb", "\rc", "ok", None, ""],
            "big": pa.array(["=x"] * 9, pa.large_string()),
            "d": pa.array(["@d"] * 9).dictionary_encode(),
            "n": [-3.5] * 9,
            "i": [-3] * 9,
        }
    )
    out = neutralise_formulas(t).to_pydict()
    assert out["s"] == ["'=1+1", "'+1", "'-1", "'@a", "'\tb", "'\rc", "ok", None, ""]
    assert set(out["big"]) == {"'=x"} and set(out["d"]) == {"'@d"}
    assert out["n"] == [-3.5] * 9 and out["i"] == [-3] * 9


@pytest.mark.parametrize("path", ["/lmp/", "/row-count/", "/time-ranges/", "/getFeeders/"])
def test_seed_routes_do_not_redirect_a_trailing_slash(client: TestClient, path: str) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 404, r.headers


def test_v1_routes_still_redirect_a_trailing_slash(client: TestClient) -> None:
    r = client.get("/v1/feeders/?limit=1", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"].endswith("/v1/feeders?limit=1")
    assert client.get("/health/", follow_redirects=False).status_code == 307


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("post", "/v1/lmp", "GET"),
        ("delete", "/lmp", "GET"),
        ("get", "/v1/refresh/hosting-capacity", "POST"),
    ],
)
def test_405_carries_allow(client: TestClient, method: str, path: str, allow: str) -> None:
    r = client.request(method.upper(), path)
    assert r.status_code == 405
    assert r.headers["allow"] == allow
    assert r.headers["content-type"] == "application/problem+json"


def test_openapi_documents_problems_and_get_data(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    ops = {(m.upper(), p): op for p, item in doc["paths"].items() for m, op in item.items()}
    get_data = ops[("GET", "/get-data")]
    assert {p["name"] for p in get_data["parameters"]} == {"meter_code", "serial_code", "date_time"}
    assert "text/html" in get_data["responses"]["400"]["content"]
    for key, op in ops.items():
        if op.get("parameters"):
            assert list(op["responses"]["422"]["content"]) == ["application/problem+json"], key
        assert "application/problem+json" in op["responses"]["503"]["content"], key
    for key in [
        ("GET", "/v1/feeders/{feeder_uid}"),
        ("GET", "/v1/feeders/{feeder_uid}/ders"),
        ("GET", "/v1/runs/{run_id}"),
        ("GET", "/lmp/mean/{region}/{day_of_week}"),
    ]:
        assert list(ops[key]["responses"]["404"]["content"]) == ["application/problem+json"], key
    for key in [
        ("GET", "/load-data"),
        ("GET", "/refreshData"),
        ("POST", "/v1/refresh/hosting-capacity"),
    ]:
        assert "401" in ops[key]["responses"], key
    assert "HTTPValidationError" not in doc["components"]["schemas"]


@pytest.mark.parametrize("value", ["0", "1700000000", "2025-9-1", "01/09/2015"])
def test_date_parameters_are_iso_only(client: TestClient, value: str) -> None:
    for path in ["/v1/lmp", "/v1/lmp/daily", "/v1/meters/210095893/daily"]:
        r = client.get(f"{path}?start={value}")
        assert r.status_code == 422, (path, r.text)
    assert client.get("/v1/lmp?start=2025-09-01").status_code == 200
