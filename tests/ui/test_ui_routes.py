"""The dashboard's HTTP side without a browser: pages, static files, the policy that keeps them
offline and free of data-built markup, and the two list routes the pages need."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from wattlake.api.app import create_app
from wattlake.api.ui import PAGES, STATIC
from wattlake.pipeline import Runner
from wattlake.registry import get_pipeline
from wattlake.sources.hosting_capacity.pipeline import landing_folder

OWN_FILES = sorted(
    p for p in STATIC.iterdir() if p.suffix in (".js", ".css") and "chart" not in p.name
)
METER_FILE = (
    "MeterPoint Code,Serial Number,Plant Code,Date/Time,Data Type,Data Value,Units,Status\n"
    "100,100,P1,01/09/2025 00:15:00,Import Wh Total,1.0,kwh,\n"
    "100,100,P1,01/09/2025 00:30:00,Import Wh Total,3.0,kwh,\n"
    "100,100,P1,02/09/2025 00:15:00,Export Wh Total,2.0,kwh,\n"
    "200,201,P2,03/09/2025 00:15:00,Import Wh Total,5.0,kwh,\n"
)
CIRCUITS = (
    "Master_CDF,feeder_voltage,feeder_max_hc,feeder_min_hc,feeder_dg_connected_since_refresh,"
    "hca_refresh_date,color,shape_length\n"
    "F1,13.2,2.5,0.5,0,2022/10/01,blue,1\nF2,13.2,6,1,0,2022/10/01,blue,1\n"
)


@pytest.fixture
def client(runner: Runner, tmp_path: Path) -> Iterator[TestClient]:
    meter = tmp_path / "LP_100_20250908T000000.csv"
    meter.write_text(METER_FILE)
    runner.ingest_files(get_pipeline("meter-files"), [meter])
    folder = landing_folder(runner) / "utility2"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "utility2_circuits.csv").write_text(CIRCUITS)
    with TestClient(create_app(runner)) as c:
        assert c.post("/v1/refresh/hosting-capacity").json()["status"] == "ok"
        yield c


def test_pages_are_served_with_a_strict_policy(client: TestClient) -> None:
    assert client.get("/").text == "Root Loaded \n"  # the seed's clients depend on it
    for path in ["/ui", *(f"/ui/{p.slug}" for p in PAGES)]:
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        csp = r.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "connect-src 'self'" in csp
        scripts = re.findall(r'<script src="([^"]+)"', r.text)
        assert "/ui/static/chart.umd.min.js" in scripts
        for src in scripts:
            assert client.get(src).status_code == 200, src
        assert "<script>" not in r.text  # no inline script: the policy would block it
    assert "/ui" not in str(client.get("/openapi.json").json()["paths"])


def test_static_files_ship_the_licence_and_stay_offline() -> None:
    assert (STATIC / "chart.js.LICENSE.md").read_text().startswith("The MIT License")
    assert "Chart.js v4" in (STATIC / "chart.umd.min.js").read_text()[:200]
    for path in OWN_FILES:
        text = path.read_text()
        assert not re.search(r"https?://", text), f"{path.name} refers to another site"
        # data reach the DOM as text only
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, f"{path.name} uses {sink}"
    assert {f"{p.slug}.js" for p in PAGES} <= {p.name for p in OWN_FILES}


def test_meter_list(client: TestClient) -> None:
    items = client.get("/v1/meters").json()["items"]
    assert items == [
        {"meter_code": "100", "serial": "100", "first_date": "2025-09-01",
         "last_date": "2025-09-02", "n_data_types": 2},
        {"meter_code": "200", "serial": "201", "first_date": "2025-09-03",
         "last_date": "2025-09-03", "n_data_types": 1},
    ]  # fmt: skip
    page = client.get("/v1/meters?limit=1").json()
    assert page["total"] == 2 and page["next"] is not None
    header = client.get("/v1/meters?format=csv").text.splitlines()[0]
    assert header.replace('"', "") == "meter_code,serial,first_date,last_date,n_data_types"


def test_der_counts_without_der_are_zero(client: TestClient) -> None:
    rows = client.get("/v1/feeders/der-counts?limit=10000").json()["items"]
    assert {r["feeder_uid"] for r in rows} == {"utility2:F1", "utility2:F2"}
    for r in rows:  # no DER in this data set: zero, not null
        assert (r["installed_count"], r["planned_count"]) == (0, 0)
        assert (r["installed_kw"], r["planned_kw"]) == (0, 0)
    assert client.get("/v1/feeders/der-counts?utility=coned").json()["total"] == 0
    assert client.get("/v1/feeders/der-counts?utility=BAD!").status_code == 422


def test_der_counts_match_the_ders_rows(runner: Runner) -> None:
    from wattlake.sources.hosting_capacity.generate import generate
    from wattlake.sources.hosting_capacity.pipeline import refresh

    generate(landing_folder(runner), scale=0.02)
    assert refresh(runner).status == "ok"
    ders = runner.engine.query(
        "SELECT feeder_uid, status, der_type, native_id, nameplate_kw FROM ders "
        "WHERE feeder_uid IS NOT NULL"
    ).to_pylist()
    projects: dict[tuple[str, str], set[tuple[object, object]]] = {}
    kw: dict[tuple[str, str], float] = {}
    for d in ders:  # distinct projects per type, summed over types; kW summed over rows
        k = (d["feeder_uid"], d["status"])
        projects.setdefault(k, set()).add((d["der_type"], d["native_id"]))
        kw[k] = kw.get(k, 0.0) + (d["nameplate_kw"] or 0.0)
    with TestClient(create_app(runner)) as c:
        page = c.get("/v1/feeders/der-counts?limit=10000").json()
    assert page["total"] == len(page["items"]) > 0
    checked = 0
    for r in page["items"]:
        for status in ("installed", "planned"):
            k = (r["feeder_uid"], status)
            assert r[f"{status}_count"] == len(projects.get(k, ())), k
            assert r[f"{status}_kw"] == pytest.approx(kw.get(k, 0.0)), k
            checked += k in projects
    assert checked == len(projects)  # every feeder with DER is listed


@pytest.mark.parametrize("serve", [True, False])
def test_demo_prints_the_dashboard_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, serve: bool
) -> None:
    import io

    import uvicorn
    from rich.console import Console

    from wattlake import demo
    from wattlake.config import get_settings

    monkeypatch.setenv("WATTLAKE_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    monkeypatch.setattr(demo, "DEMO_STEPS", ())
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: None)  # no server in this test
    out = io.StringIO()
    try:
        demo.run_demo(Console(file=out, width=200), serve_api=serve, port=8123)
    finally:
        get_settings.cache_clear()
    assert "http://127.0.0.1:8123/ui" in out.getvalue()
