"""HTTP API for hosting capacity: the seed's endpoints with the real samples' figures, /v1 feeders
with validation, pagination and CSV, and the refresh endpoints (guarded, per-layer report)."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests._support import samples
from wattlake.api.app import create_app
from wattlake.pipeline import Runner
from wattlake.sources.hosting_capacity.pipeline import landing_folder

CIRCUITS = (
    "Master_CDF,feeder_voltage,feeder_max_hc,feeder_min_hc,feeder_dg_connected_since_refresh,"
    "hca_refresh_date,color,shape_length\n"
    "F1,13.2,2.5,0.5,0,2022/10/01,blue,1\n"
    "F2,4.16,0.1,0,0,2022/10/01,brown,1\n"
    "F3,13.2,6,1,0,2022/10/01,dark blue,1\n"
)
INSTALLED = (
    "DER_ID,SERVICE_STREET_ADDRESS,DER_TYPE,DER_NAMEPLATE_RATING,DER_INTERCONNECTION_LOCATION,"
    "INTERCONNECTION_COST\n"
    "10,null,Solar,7.5,F1,0\n9,null,Battery Add-On,5,F1,0\n100,null,Solar,4,F9,0\n"
)
PLANNED = (
    "DER_TYPE,DER_NAMEPLATE_RATING,INVERTER_NAMEPLATE_RATING,PLANNED_INSTALLATION_DATE,"
    "DER_STATUS,DER_STATUS_RATIONALE,TOTAL_MW_FOR_SUBSTATION,INTERCONNECTION_QUEUE_REQUEST_ID,"
    "INTERCONNECTION_QUEUE_POSITION,DER_INTERCONNECTION_LOCATION\n"
    "Solar,2000,null,5/1/2024,null,null,,11,1/1/2023 1:00,F1\n"
)


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


@pytest.fixture
def small(runner: Runner) -> Iterator[TestClient]:
    """A small hand-made utility2 data set in the landing folder, refreshed."""
    folder = landing_folder(runner) / "utility2"
    write(folder, "utility2_circuits.csv", CIRCUITS)
    write(folder, "utility2_install_der.csv", INSTALLED)
    write(folder, "utility2_planned_der.csv", PLANNED)
    with TestClient(create_app(runner)) as c:
        assert c.post("/v1/refresh/hosting-capacity").json()["status"] == "ok"
        yield c


@pytest.fixture
def real(runner: Runner) -> Iterator[TestClient]:
    """The real seed files in the landing folder (not loaded yet)."""
    for path in samples("hosting_capacity", "esource_case_study").glob("*.csv"):
        folder = landing_folder(runner) / path.name.split("_")[0]
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / path.name)
    with TestClient(create_app(runner)) as c:
        yield c


def test_seed_flow_with_real_sample_figures(real: TestClient) -> None:
    assert real.get("/getFeeders?maxHostingCapacity=0").json() == []  # nothing loaded yet
    r = real.get("/refreshData")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert {layer: v["status"] for layer, v in body["layers"].items()} == {
        "bronze": "ok",
        "silver": "ok",
        "gold": "ok",
    }
    assert len(body["datasets"]) == 5
    for threshold, count in (("0", 1_554), ("1", 1_321), ("5", 438), ("9.9", 111), ("10", 0)):
        got = real.get(f"/getFeeders?maxHostingCapacity={threshold}").json()
        assert len(got) == count, threshold
        assert all(isinstance(f, dict) and f["feeder_max_hc"] > float(threshold) for f in got)
    one = [
        f for f in real.get("/getFeeders?maxHostingCapacity=1.2").json()
        if f["circuit_id"] == "36_39_01251"
    ]  # fmt: skip
    assert one == [
        {
            "circuit_id": "36_39_01251", "feeder_voltage": 13.2, "feeder_max_hc": 1.3,
            "feeder_min_hc": 0.0, "map_color": "green", "hca_refresh_date": "2022-10-01",
            "shape_length": 0.803122568, "utility": "utility2", "feeder_uid": "utility2:36_39_01251",
        }
    ]  # fmt: skip
    ders = real.get("/getDERsForFeeder?feederID=36_39_01251").json()
    assert Counter(d["status"] for d in ders) == {"installed": 48, "planned": 54}
    ids = [int(d["der_id"]) for d in ders]
    assert ids == sorted(ids)  # ordered by DER id
    u1 = real.get("/getDERsForFeeder?feederID=0033RO0291").json()
    assert len({d["der_id"] for d in u1 if d["status"] == "installed"}) == 18
    detail = real.get("/v1/feeders/utility1:0033RO0291").json()
    assert detail["der_totals"]["installed"]["projects"] == 18
    assert detail["has_hosting_capacity"] is False  # utility1's circuits file is not public
    # A second refresh finds nothing new.
    again = real.get("/refreshData").json()
    assert {layer: v["status"] for layer, v in again["layers"].items()} == {
        "bronze": "unchanged",
        "silver": "unchanged",
        "gold": "unchanged",
    }


@pytest.mark.parametrize(
    "query", ["", "maxHostingCapacity=", "maxHostingCapacity=abc", "maxHostingCapacity=nan",
              "maxHostingCapacity=inf", "maxHostingCapacity=1;DROP%20TABLE%20feeders"],
)  # fmt: skip
def test_get_feeders_needs_a_number(small: TestClient, query: str) -> None:
    r = small.get(f"/getFeeders?{query}")
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"


def test_get_feeders_is_strictly_greater(small: TestClient) -> None:
    ids = [f["circuit_id"] for f in small.get("/getFeeders?maxHostingCapacity=2.5").json()]
    assert ids == ["F3"]
    ids = [f["circuit_id"] for f in small.get("/getFeeders?maxHostingCapacity=-1").json()]
    assert ids == ["F1", "F2", "F3"]


def test_get_ders_for_feeder(small: TestClient) -> None:
    ders = small.get("/getDERsForFeeder?feederID=F1").json()
    assert [(d["der_id"], d["status"], d["der_type"]) for d in ders] == [
        ("9", "installed", "energy_storage"),
        ("10", "installed", "solar_pv"),
        ("11", "planned", "solar_pv"),
    ]
    assert ders[2]["planned_install_date"] == "2024-05-01" and ders[2]["nameplate_kw"] == 2000
    assert small.get("/getDERsForFeeder?feederID=nope").json() == []
    assert small.get("/getDERsForFeeder").status_code == 422


def test_v1_feeders_filters_pagination_and_csv(small: TestClient) -> None:
    page = small.get("/v1/feeders?limit=2").json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["next"]
    assert small.get(page["next"]).json()["items"][0]["feeder_uid"] == "utility2:F3"
    uids = [f["feeder_uid"] for f in small.get("/v1/feeders?min_max_hc_mw=2.5").json()["items"]]
    assert uids == ["utility2:F1", "utility2:F3"]  # at least 2.5
    uids = [f["feeder_uid"] for f in small.get("/v1/feeders?voltage_kv=4.16").json()["items"]]
    assert uids == ["utility2:F2"]
    assert small.get("/v1/feeders?utility=coned").json()["total"] == 0
    both = small.get("/v1/feeders?utility=utility2&voltage_kv=13.2&min_max_hc_mw=3").json()
    assert [f["feeder_uid"] for f in both["items"]] == ["utility2:F3"]
    csv = small.get("/v1/feeders?format=csv&limit=1")
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0].startswith('"feeder_uid","utility","native_feeder_id"') and len(lines) == 2


@pytest.mark.parametrize(
    "query",
    ["min_max_hc_mw=x", "min_max_hc_mw=nan", "voltage_kv=0", "utility=Bad%20Name",
     "limit=0", "offset=-1", "format=xml"],
)  # fmt: skip
def test_v1_feeders_rejects_bad_parameters(small: TestClient, query: str) -> None:
    r = small.get(f"/v1/feeders?{query}")
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


def test_v1_feeder_detail_and_ders(small: TestClient) -> None:
    f1 = small.get("/v1/feeders/utility2:F1").json()
    assert (f1["max_hc_mw"], f1["voltage_kv"], f1["map_color"]) == (2.5, 13.2, "blue")
    assert f1["has_hosting_capacity"] is True
    assert [
        (t["der_type"], t["installed_count"], t["planned_count"]) for t in f1["der_by_type"]
    ] == [
        ("energy_storage", 1, 0),
        ("solar_pv", 1, 1),
    ]
    assert f1["der_totals"]["installed"] == {"projects": 2, "n_rows": 2, "nameplate_kw": 12.5}
    # A feeder known only from a DER's location: no hosting capacity, but it exists.
    f9 = small.get("/v1/feeders/utility2:F9").json()
    assert f9["has_hosting_capacity"] is False and f9["max_hc_mw"] is None
    ders = small.get("/v1/feeders/utility2:F1/ders").json()
    assert [d["der_uid"] for d in ders["items"]] == [
        "utility2:installed:9",
        "utility2:installed:10",
        "utility2:planned:11",
    ]
    planned = small.get("/v1/feeders/utility2:F1/ders?status=planned&format=csv")
    assert planned.text.count("\n") == 2 and "utility2:planned:11" in planned.text
    assert small.get("/v1/feeders/utility2:F1/ders?status=retired").status_code == 422
    assert small.get("/v1/feeders/utility2:F1/ders?limit=1").json()["next"]


@pytest.mark.parametrize("path", ["/v1/feeders/utility2:nope", "/v1/feeders/coned:F1/ders"])
def test_unknown_feeder_is_404(small: TestClient, path: str) -> None:
    r = small.get(path)
    assert r.status_code == 404 and r.json()["hint"]


def test_bad_feeder_uid_is_422(small: TestClient) -> None:
    assert small.get("/v1/feeders/no-utility-part").status_code == 422


def test_refresh_endpoints_report_and_are_guarded(small: TestClient, runner: Runner) -> None:
    folder = landing_folder(runner) / "utility2"
    write(folder, "utility2_circuits.csv", CIRCUITS.replace("F3,13.2,6,", "F3,13.2,8,"))
    (folder / "utility2_planned_der.csv").unlink()
    runner.settings.api_keys = SecretStr("k1")
    assert small.post("/v1/refresh/hosting-capacity").status_code == 401
    assert small.get("/refreshData").status_code == 401
    r = small.post("/v1/refresh/hosting-capacity", headers={"X-API-Key": "k1"})
    assert r.status_code == 200
    body = r.json()
    files = {f["file"]: (f["bronze"], f["silver"]) for d in body["datasets"] for f in d["files"]}
    assert files == {
        "utility2/utility2_circuits.csv": ("stored", "loaded"),
        "utility2/utility2_install_der.csv": ("unchanged", "unchanged"),
        "utility2/utility2_planned_der.csv": ("gone", "removed"),
    }
    assert body["layers"]["silver"]["rows_deleted"] == 1
    assert small.get("/v1/feeders/utility2:F3").json()["max_hc_mw"] == 8
    assert [d["status"] for d in small.get("/getDERsForFeeder?feederID=F1").json()] == [
        "installed",
        "installed",
    ]
    # Reads stay open.
    assert small.get("/v1/feeders").status_code == 200


def test_openapi_lists_the_endpoints(small: TestClient) -> None:
    paths = small.get("/openapi.json").json()["paths"]
    assert {
        "/v1/feeders",
        "/v1/feeders/{feeder_uid}",
        "/v1/feeders/{feeder_uid}/ders",
        "/v1/refresh/hosting-capacity",
        "/refreshData",
        "/getFeeders",
        "/getDERsForFeeder",
    } <= set(paths)
