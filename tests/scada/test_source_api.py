"""Contract tests of the Fonte stand-in (seed-systems.md §C.3–C.4) over real HTTP, on the
embedded DuckDB and on a throwaway PostgreSQL database.

The served data is a hand-made table (values are functions of the minute number), so every
expected answer below is computed here independently of the server.
"""

from __future__ import annotations

import csv
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._support import PG_URL, samples
from wattlake.sims.scada_data import COLUMNS, generate_turbine
from wattlake.sims.scada_source import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    ScadaSourceSim,
    load_csv,
    load_rows,
)

T0 = datetime(2024, 5, 20)
N = 10 * 24 * 60  # the original: 14,400 one-minute rows from 2024-05-20


def ws(i: int) -> float:
    return (i % 300) / 10 + 0.125  # 0.125 … 29.925


def pw(i: int) -> float:
    return (i * 7 % 1000) / 10 + 1 / 3  # full binary precision


def temp(i: int) -> float:
    return -20 + (i % 600) / 10


def rows(n: int = N, shift: float = 0.0) -> list[dict[str, Any]]:
    return [
        {
            "timestamp": T0 + timedelta(minutes=i),
            "wind_speed": ws(i) + shift,
            "power": pw(i) + shift,
            "ambient_temperature": temp(i),
        }
        for i in range(n)
    ]


def iso(i: int) -> str:
    return (T0 + timedelta(minutes=i)).isoformat()


# -- databases ---------------------------------------------------------------------------------


@contextmanager
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database with a random name, dropped afterwards."""
    import psycopg

    name = f"wl_scada_src_{secrets.token_hex(4)}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield PG_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path_factory.mktemp('scada') / 'fonte.duckdb'}"
        return
    request.getfixturevalue("pg_available")
    with pg_database() as url:
        yield url


@pytest.fixture(scope="module")
def sim(db_url: str) -> Iterator[ScadaSourceSim]:
    """The stand-in serving the hand-made table (default turbine) and a second turbine."""
    s = ScadaSourceSim(db_url, generate=False)
    s.load_rows(rows())
    s.load_rows(rows(2 * 1440, shift=1000.0), turbine="WTG02")
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def http(sim: ScadaSourceSim) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, timeout=30) as c:
        yield c


def day(d: int = 0) -> dict[str, str]:
    return {"start_timestamp": iso(d * 1440), "end_timestamp": iso((d + 1) * 1440)}


# -- GET /data: range ----------------------------------------------------------------------------


def test_a_day_is_half_open_and_in_table_order(http: httpx.Client) -> None:
    r = http.get("/data", params={**day(1), "columns": ["wind_speed", "power"]})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert len(body) == 1440
    assert body[0]["timestamp"] == "2024-05-21T00:00:00"  # start included
    assert body[-1]["timestamp"] == "2024-05-21T23:59:00"  # end (2024-05-22T00:00) excluded
    assert [b["timestamp"] for b in body] == [iso(i) for i in range(1440, 2880)]
    assert [b["wind_speed"] for b in body] == [ws(i) for i in range(1440, 2880)]
    assert [b["power"] for b in body] == [pw(i) for i in range(1440, 2880)]  # exact floats


def test_the_body_is_compact_json_like_fastapi(http: httpx.Client) -> None:
    r = http.get("/data", params={**day(), "columns": ["power"]})
    expected = f'[{{"timestamp":"2024-05-20T00:00:00","power":{pw(0)!r}}},'
    assert r.text.startswith(expected)


@pytest.mark.parametrize(
    ("params", "first", "count"),
    [
        ({}, 0, N),  # no bounds: the whole table, unpaginated
        ({"start_timestamp": iso(N - 5)}, N - 5, 5),
        ({"end_timestamp": iso(3)}, 0, 3),
        ({"start_timestamp": iso(10), "end_timestamp": iso(10)}, 10, 0),  # empty range
        ({"start_timestamp": "2024-05-20T00:00:30", "end_timestamp": "2024-05-20T00:02:30"}, 1, 2),
        ({"start_timestamp": "2024-05-20", "end_timestamp": "2024-05-21"}, 0, 1440),  # dates
        ({"start_timestamp": "2024-06-01T00:00:00"}, 0, 0),
    ],
)
def test_bounds(http: httpx.Client, params: dict[str, str], first: int, count: int) -> None:
    body = http.get("/data", params={**params, "columns": "id"}).json()
    assert [b["id"] for b in body] == list(range(first + 1, first + count + 1))


def test_a_bound_with_a_zone_is_taken_in_utc(http: httpx.Client) -> None:
    params = {"start_timestamp": "2024-05-20T02:00:00+02:00", "end_timestamp": "2024-05-20T00:05Z"}
    body = http.get("/data", params={**params, "columns": "id"}).json()
    assert [b["id"] for b in body] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("bad", ["yesterday", "2024-13-01T00:00:00", "2024-05-20T25:00"])
def test_an_unparseable_bound_is_422(http: httpx.Client, bad: str) -> None:
    r = http.get("/data", params={"start_timestamp": bad, "columns": "power"})
    assert r.status_code == 422


# -- GET /data: columns --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "keys"),
    [
        (["wind_speed", "power"], ["timestamp", "wind_speed", "power"]),
        (["power", "wind_speed"], ["timestamp", "power", "wind_speed"]),
        (["ambient_temperature"], ["timestamp", "ambient_temperature"]),
        (["id"], ["timestamp", "id"]),  # any real column, id included
        (["nope", "power", "also_nope"], ["timestamp", "power"]),  # unknown names dropped
        (["power", "power"], ["timestamp", "power", "power__1"]),  # SQLAlchemy 2's labels
        (["power", "timestamp", "id", "timestamp"], ["power", "timestamp", "id", "timestamp__1"]),
        (["timestamp"], ["timestamp"]),
        (["power", "timestamp"], ["power", "timestamp"]),  # listed: where the caller put it
        (["POWER", "power"], ["timestamp", "power"]),  # names are case-sensitive
    ],
)
def test_columns(http: httpx.Client, asked: list[str], keys: list[str]) -> None:
    body = http.get("/data", params={"end_timestamp": iso(3), "columns": asked}).json()
    assert len(body) == 3
    assert all(list(b) == keys for b in body)
    if "ambient_temperature" in keys:
        assert [b["ambient_temperature"] for b in body] == [temp(i) for i in range(3)]
    for b, i in zip(body, range(3), strict=True):
        for k in keys:
            want = {"timestamp": iso(i), "power": pw(i), "id": i + 1}.get(k.split("__")[0])
            assert want is None or b[k] == want


def test_columns_is_a_repeated_key_on_the_wire(http: httpx.Client) -> None:
    r = http.get(f"/data?end_timestamp={iso(2)}&columns=power&columns=wind_speed")
    assert list(r.json()[0]) == ["timestamp", "power", "wind_speed"]


@pytest.mark.parametrize("asked", [["nope"], ["Power", "wind"], [""]])
def test_no_valid_column_is_400(http: httpx.Client, asked: list[str]) -> None:
    r = http.get("/data", params={**day(), "columns": asked})
    assert r.status_code == 400
    assert r.json() == {"detail": "Invalid column names"}


def test_without_columns_full_rows(http: httpx.Client) -> None:
    body = http.get("/data", params={"end_timestamp": iso(2)}).json()
    assert body == [
        {
            "timestamp": iso(i),
            "wind_speed": ws(i),
            "power": pw(i),
            "ambient_temperature": temp(i),
            "id": i + 1,
        }
        for i in range(2)
    ]


# -- GET /data/{data_id} -------------------------------------------------------------------------


def test_data_by_id(http: httpx.Client) -> None:
    r = http.get("/data/1441")
    assert r.status_code == 200
    assert r.json() == {
        "timestamp": "2024-05-21T00:00:00",
        "wind_speed": ws(1440),
        "power": pw(1440),
        "ambient_temperature": temp(1440),
        "id": 1441,
    }
    assert list(r.json()) == ["timestamp", "wind_speed", "power", "ambient_temperature", "id"]


@pytest.mark.parametrize("absent", [0, -1, N + 1, 2**31, 10**30])
def test_data_by_id_absent_is_404(http: httpx.Client, absent: int) -> None:
    r = http.get(f"/data/{absent}")
    assert r.status_code == 404
    assert r.json() == {"detail": "Data not found"}


def test_data_by_id_not_a_number_is_422(http: httpx.Client) -> None:
    assert http.get("/data/abc").status_code == 422


# -- docs ------------------------------------------------------------------------------------


def test_openapi_docs(http: httpx.Client) -> None:
    assert "swagger" in http.get("/docs").text.lower()
    spec = http.get("/openapi.json").json()
    params = {p["name"]: p for p in spec["paths"]["/data"]["get"]["parameters"]}
    assert {"start_timestamp", "end_timestamp", "columns"} <= set(params)
    assert all(not p.get("required", False) for p in params.values())
    assert params["columns"]["schema"]["anyOf"][0]["type"] == "array"
    assert "400" in spec["paths"]["/data"]["get"]["responses"]
    by_id = spec["paths"]["/data/{data_id}"]["get"]
    assert by_id["parameters"][0]["name"] == "data_id"
    assert "404" in by_id["responses"]


# -- additions: turbine, pagination ------------------------------------------------------------


def test_turbines_listed(http: httpx.Client) -> None:
    assert http.get("/turbines").json()[:2] == [
        {"name": "WTG01", "default": True},
        {"name": "WTG02", "default": False},
    ]


def test_turbine_filter(http: httpx.Client) -> None:
    params = {**day(1), "columns": ["wind_speed"]}
    other = http.get("/data", params={**params, "turbine": "WTG02"}).json()
    assert [b["wind_speed"] for b in other] == [ws(i) + 1000.0 for i in range(1440, 2880)]
    default = http.get("/data", params=params).json()
    assert http.get("/data", params={**params, "turbine": "WTG01"}).json() == default
    assert http.get("/data", params={**day(2), "turbine": "WTG02", "columns": "id"}).json() == []
    assert http.get("/data/5", params={"turbine": "WTG02"}).json()["power"] == pw(4) + 1000.0
    assert http.get("/data/2881", params={"turbine": "WTG02"}).status_code == 404


def test_unknown_turbine_is_404(http: httpx.Client) -> None:
    r = http.get("/data", params={**day(), "columns": "power", "turbine": "WTG99"})
    assert (r.status_code, r.json()) == (404, {"detail": "Turbine not found"})
    assert http.get("/data/1", params={"turbine": "WTG99"}).status_code == 404


def test_pages_follow_the_link_header(http: httpx.Client) -> None:
    url: str | None = http.get(
        "/data", params={**day(), "columns": ["power", "wind_speed"], "limit": 500}
    ).request.url.__str__()
    got: list[dict[str, Any]] = []
    pages = 0
    while url:
        r = http.get(url)
        assert r.status_code == 200
        got += r.json()
        pages += 1
        url = r.links.get("next", {}).get("url")
    assert pages == 3  # 500 + 500 + 440, the last page without a Link
    assert got == http.get("/data", params={**day(), "columns": ["power", "wind_speed"]}).json()


def test_offset_and_limit(http: httpx.Client) -> None:
    body = http.get("/data", params={"columns": "id", "offset": 10, "limit": 3})
    assert [b["id"] for b in body.json()] == [11, 12, 13]
    assert "offset=13" in body.headers["link"] and "limit=3" in body.headers["link"]
    assert "link" not in http.get("/data", params={"columns": "id", "limit": N}).headers
    for bad in ({"limit": 0}, {"limit": MAX_LIMIT + 1}, {"offset": -1}):
        assert http.get("/data", params={"columns": "id", **bad}).status_code == 422


def test_the_original_period_is_one_page() -> None:
    assert DEFAULT_LIMIT >= N  # so /data without limit answers all 10 days at once


# -- the database ------------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_table_is_the_originals(pg_available: None) -> None:
    import psycopg

    with pg_database() as url:
        with ScadaSourceSim(url, turbines=2, days=1):
            pass
        with psycopg.connect(url) as conn:
            cols = conn.execute(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_name = 'data' ORDER BY ordinal_position"
            ).fetchall()
            idx = {
                r[0]
                for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'data'")
            }
            count = conn.execute("SELECT count(*), min(id), min(timestamp) FROM data").fetchone()
        assert cols == [
            ("id", "integer", "NO"),
            ("timestamp", "timestamp without time zone", "YES"),
            ("wind_speed", "double precision", "YES"),
            ("power", "double precision", "YES"),
            ("ambient_temperature", "double precision", "YES"),
        ]
        assert {"ix_data_id", "ix_data_timestamp"} <= idx
        assert count is not None and 1400 < count[0] <= 1440 and count[1] == 1
        assert count[2] == T0


def test_filled_on_first_start_only(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'fonte.duckdb'}"
    with ScadaSourceSim(url, days=1, turbines=2) as first:
        assert first.turbines == ["WTG01", "WTG02"]
        first.load_rows(rows(3))
    with ScadaSourceSim(url, days=1, seed=99, turbines=4) as again, httpx.Client() as c:
        body = c.get(again.base_url + "/data", params={"columns": "power"}).json()
        assert [b["power"] for b in body] == [pw(i) for i in range(3)]  # not regenerated
        assert again.turbines == ["WTG01", "WTG02"]


# -- the real sample --------------------------------------------------------------------------


def test_load_the_public_sample_csv(db_url: str) -> None:
    path = samples("scada", "crestanigabriel_teste-data-eng-delfos", "data.csv")
    with path.open(newline="") as f:
        expected = list(csv.DictReader(f))
    assert load_csv(path, db_url, turbine="SAMPLE") == len(expected) == 14_400
    with ScadaSourceSim(db_url) as s, httpx.Client(base_url=s.base_url) as c:
        params = {
            "start_timestamp": "2024-01-01T00:00:00",
            "end_timestamp": "2024-01-02T00:00:00",
            "columns": ["wind_speed", "power", "ambient_temperature"],
            "turbine": "SAMPLE",
        }
        body = c.get("/data", params=params).json()
    first_day = [e for e in expected if e["timestamp"].startswith("2024-01-01")]
    assert len(body) == len(first_day) == 1350  # from 01:30
    for got, want in zip(body, first_day, strict=True):
        assert got["timestamp"] == want["timestamp"].replace(" ", "T")
        for col in ("wind_speed", "power", "ambient_temperature"):
            assert got[col] == float(want[col])  # full precision, exactly


def test_nan_is_served_as_null(db_url: str) -> None:
    bad = [
        (T0, float("nan"), 1.5, None),
        (T0 + timedelta(minutes=1), float("inf"), -0.0, 2.0),
    ]
    assert load_rows(db_url, bad, turbine="ODD") == 2
    with ScadaSourceSim(db_url) as s, httpx.Client(base_url=s.base_url) as c:
        r = c.get("/data", params={"turbine": "ODD", "columns": list(COLUMNS)})
        assert r.status_code == 200
        assert r.json() == [
            {"timestamp": iso(0), "id": 1, "wind_speed": None, "power": 1.5,
             "ambient_temperature": None},
            {"timestamp": iso(1), "id": 2, "wind_speed": None, "power": -0.0,
             "ambient_temperature": 2.0},
        ]  # fmt: skip


def test_cli_serves_until_stopped(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("wattlake")
    cmd = [str(exe), "sim", "scada-source", "--port", "0", "--days", "1", "--turbines", "2"]
    cmd += ["--database-url", f"duckdb:///{tmp_path / 'cli.duckdb'}", "--seed", "3"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"}
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(2)]
        found = re.search(r"(http://127\.0\.0\.1:\d+)/data", "".join(lines))
        assert found, lines
        body = httpx.get(found.group(1) + "/data", params={"columns": "power"}, timeout=30).json()
        want = generate_turbine(3, 0, T0, 1).table.column("power").to_pylist()
        assert [b["power"] for b in body] == want
    finally:
        proc.terminate()
        proc.wait(timeout=20)
