"""Pages in one statement, the hand-built page JSON, /health without a query, /ready (issue 10 §4)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from wattlake.api.app import create_app
from wattlake.api.tabular import Filters, Format, Owner, Page, fetch_rows, json_page, query_page
from wattlake.engines import Engine
from wattlake.errors import WarehouseError
from wattlake.pipeline import Runner
from wattlake.tables import Column, TableSpec

SPEC = TableSpec(
    "_wl_test_pages",
    (
        Column("k", pa.int64(), "key"),
        Column("name", pa.string(), "text"),
        Column("day", pa.date32(), "a date"),
        Column("seen_at", pa.timestamp("us", tz="UTC"), "a UTC time"),
        Column("v", pa.float64(), "a number"),
    ),
    ("k",),
)


def _request(query: str = "") -> Request:
    scope = {
        "type": "http", "method": "GET", "path": "/x", "query_string": query.encode(),
        "headers": [(b"host", b"testserver")], "scheme": "http", "server": ("testserver", 80),
    }  # fmt: skip
    return Request(scope)


def _rows(n: int) -> pa.Table:
    return pa.table(
        {
            "k": pa.array(range(n), pa.int64()),
            "name": pa.array([f'n{i} é "q" \\ {"=" if i % 2 else ""}' for i in range(n)]),
            "day": pa.array([date(2025, 1, 1 + i % 28) for i in range(n)], pa.date32()),
            "seen_at": pa.array(
                [None if i == 3 else datetime(2025, 1, 1, i % 24, tzinfo=UTC) for i in range(n)],
                pa.timestamp("us", tz="UTC"),
            ),
            "v": pa.array(
                [math.nan if i == 1 else math.inf if i == 2 else i / 3 for i in range(n)]
            ),
        }
    )


def test_page_json_is_what_the_page_model_sends() -> None:
    """The page is serialized by hand; its bytes equal FastAPI's response_model path
    (pydantic's JSON of ``Page``): ISO dates and times, NaN and inf as null, non-ASCII as is."""
    table = _rows(7)
    rows = list(zip(*(c.to_pylist() for c in table.columns), strict=True))
    got = json_page(_request("limit=7"), table.column_names, rows, 20, 7, 0)
    items = [
        {k: v.isoformat() if isinstance(v, date) else v for k, v in row.items()}
        for row in table.to_pylist()
    ]
    nxt = str(_request("limit=7").url.include_query_params(offset=7, limit=7))
    want = Page(items=items, total=20, limit=7, offset=0, next=nxt)
    assert got.body == want.model_dump_json().encode()
    assert got.media_type == "application/json"
    assert b'"v":null' in got.body and b'"seen_at":"2025-01-01T00:00:00+00:00"' in got.body


@pytest.fixture
def engine_with_rows(engine: Engine) -> Iterator[Engine]:
    engine.ensure(SPEC)
    engine.upsert(SPEC, _rows(25))
    yield engine
    engine.execute(f'DROP TABLE IF EXISTS "{SPEC.name}"')


@pytest.mark.parametrize(
    ("min_k", "limit", "offset", "keys", "total"),
    [
        (None, 10, 0, list(range(10)), 25),
        (None, 10, 20, list(range(20, 25)), 25),
        (5, 3, 4, [9, 10, 11], 20),
        (5, 10, 20, [], 20),  # past the end: no row carries the total, a count is asked
        (100, 10, 0, [], 0),  # nothing matches
        (100, 10, 30, [], 0),
    ],
)
def test_query_page_total_and_keys(
    engine_with_rows: Engine,
    min_k: int | None,
    limit: int,
    offset: int,
    keys: list[int],
    total: int,
) -> None:
    page = query_page(
        _request(), engine_with_rows, table=SPEC.name, columns="k, name, day, seen_at, v", order="k",
        filters=Filters().add("k", ">=", min_k), limit=limit, offset=offset, fmt=Format.json,
    )  # fmt: skip
    import json

    body: dict[str, Any] = json.loads(page.body)  # type: ignore[union-attr]
    assert [r["k"] for r in body["items"]] == keys
    assert body["total"] == total
    assert list(body["items"][0]) == ["k", "name", "day", "seen_at", "v"] if keys else True
    assert (body["next"] is not None) == (offset + limit < total)
    csv = query_page(
        _request(), engine_with_rows, table=SPEC.name, columns="k, name", order="k",
        filters=Filters().add("k", ">=", min_k), limit=limit, offset=offset, fmt=Format.csv,
    )  # fmt: skip
    lines = csv.body.decode().splitlines()  # type: ignore[union-attr]
    assert lines[0] == '"k","name"'  # the total column never reaches the output
    assert [int(line.split(",")[0]) for line in lines[1:]] == keys


def test_engine_rows_are_the_values_query_gives(engine_with_rows: Engine) -> None:
    """``rows`` (the API's JSON path) gives the Python values of ``query`` (its CSV path),
    including a 128-bit sum (a decimal through Arrow) and UTC times."""
    sql = (
        "SELECT k, name, day, seen_at, v, sum(k) OVER (ORDER BY k) AS running "
        f"FROM {SPEC.name} WHERE k >= $lo ORDER BY k"
    )
    names, rows = fetch_rows(engine_with_rows, sql, {"lo": 2})
    want = engine_with_rows.query(sql, {"lo": 2})
    assert names == want.column_names
    got = [dict(zip(names, r, strict=True)) for r in rows]
    for g, w in zip(got, want.to_pylist(), strict=True):
        assert {k: v for k, v in g.items() if k != "v"} == {k: v for k, v in w.items() if k != "v"}
        assert type(g["running"]) is type(w["running"])
        assert g["v"] == w["v"] or (math.isnan(g["v"]) and math.isnan(w["v"]))


@pytest.mark.parametrize(
    ("owner_k", "offset", "status"), [(3, 0, 200), (3, 50, 200), (99, 0, 404), (99, 50, 404)]
)
def test_query_page_owner_is_checked_in_the_same_statement(
    engine_with_rows: Engine, owner_k: int, offset: int, status: int
) -> None:
    """A page of an unknown owner is its 404, whether the page has rows or is past the end;
    a known owner's empty page is an empty page."""
    from wattlake.errors import NotFoundError

    owner = Owner(SPEC.name, Filters(prefix="o").add("k", "=", owner_k), NotFoundError("no such k"))
    call = lambda: query_page(  # noqa: E731
        _request(), engine_with_rows, table=SPEC.name, columns="k", order="k",
        filters=Filters().add("k", ">=", 0), limit=10, offset=offset, fmt=Format.json, owner=owner,
    )  # fmt: skip
    if status == 404:
        with pytest.raises(NotFoundError):
            call()
        return
    import json

    body = json.loads(call().body)
    assert body["total"] == 25
    assert [r["k"] for r in body["items"]] == (list(range(10)) if offset == 0 else [])


class _Down:
    """An engine whose warehouse stopped answering."""

    dialect = "duckdb"

    def query(self, sql: str, params: Any = None) -> pa.Table:
        raise WarehouseError("query failed: connection lost")


def test_health_runs_no_query_and_ready_checks_the_warehouse(runner: Runner) -> None:
    with TestClient(create_app(runner)) as client:
        assert client.get("/ready").json()["status"] == "ok"
        real = runner.engine
        runner.engine = _Down()  # type: ignore[assignment]
        try:
            r = client.get("/health")
            assert r.status_code == 200 and r.json()["status"] == "ok"
            r = client.get("/ready")
            assert r.status_code == 503
            assert r.headers["content-type"] == "application/problem+json"
            assert "connection lost" in r.json()["detail"]
        finally:
            runner.engine = real


@pytest.mark.postgres
def test_postgres_indexes_the_ders_of_a_feeder() -> None:
    """``TableSpec.indexes`` become PostgreSQL indexes (the DER of one feeder is a lookup,
    not a scan of every DER); ensuring twice is harmless."""
    import os
    import uuid

    from wattlake.engines.postgres import PostgresEngine
    from wattlake.sources.hosting_capacity.schema import DERS

    url = os.environ.get("WATTLAKE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    engine = PostgresEngine(url, schema=f"wl_idx_{uuid.uuid4().hex[:8]}")
    try:
        engine.ensure(DERS)
        engine.ensure(DERS)
        got = engine.rows(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'ders' AND schemaname = $s "
            "ORDER BY indexname",
            {"s": engine.schema},
        )[1]
        defs = " ".join(r[0] for r in got)
        assert "(feeder_uid)" in defs and "(native_feeder_id)" in defs
        assert len(got) == 3  # the primary key and the two lookups
    finally:
        engine.drop_schema()
        engine.close()
