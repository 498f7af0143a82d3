"""The API's response cache (``api/cache.py``) on real servers: hits replay the miss's bytes,
writes through the engine (DuckDB) and from another process (PostgreSQL NOTIFY) show on the
next GET, a lost listener bypasses the cache, and only what may be cached is."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pyarrow as pa
import pytest

from tests._support import PG_URL, serve_app
from wattlake.api.app import create_app
from wattlake.api.cache import Cache, Entry, Store, cacheable
from wattlake.config import Settings
from wattlake.engines import Engine, connect
from wattlake.engines.base import Changes
from wattlake.engines.postgres import PostgresEngine
from wattlake.lake import Lake
from wattlake.pipeline import Runner
from wattlake.sources.espi.schema import USAGE_POINTS

CACHED_GETS = {
    "/get-data", "/getDERsForFeeder", "/getFeeders", "/lmp", "/lmp/mean/{region}/{day_of_week}",
    "/lmp/{region}", "/row-count", "/time-ranges", "/v1/feeders", "/v1/feeders/der-counts",
    "/v1/feeders/{feeder_uid}", "/v1/feeders/{feeder_uid}/ders", "/v1/lmp", "/v1/lmp/daily",
    "/v1/meters", "/v1/meters/{meter_code}/daily", "/v1/runs", "/v1/runs/{run_id}",
    "/v1/runs/{run_id}/rejects", "/v1/scada/turbines", "/v1/scada/{turbine}/10min",
    "/v1/usage-points", "/v1/usage-points/{usage_point_id}/daily",
    "/v1/usage-points/{usage_point_id}/intervals",
}  # fmt: skip


def put_point(engine: Engine, custodian: str, up: str, service: str) -> None:
    engine.ensure(USAGE_POINTS)
    engine.upsert(
        USAGE_POINTS,
        pa.table({"custodian": [custodian], "usage_point_id": [up], "service": [service]}),
    )


@dataclass
class Served:
    url: str
    runner: Runner
    cache: Cache


@contextmanager
def served(engine: Engine, tmp_path: Path, **settings: Any) -> Iterator[Served]:
    runner = Runner(engine, Lake(str(tmp_path / "lake")), Settings(home=tmp_path, **settings))
    app = create_app(runner)
    with serve_app(app) as url:
        yield Served(url, runner, app.state.cache)


def raw_get(url: str, target: str) -> bytes:
    """The whole answer to ``GET target`` as bytes (less its ``date`` header, which uvicorn
    stamps on every answer)."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    with socket.create_connection((host, port)) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while data := s.recv(65536):
            chunks.append(data)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = [x for x in head.split(b"\r\n") if not x.lower().startswith(b"date:")]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def services(url: str, query: str = "") -> tuple[list[str], str | None]:
    r = httpx.get(f"{url}/v1/usage-points{query}")
    assert r.status_code == 200, r.text
    return [i["service"] for i in r.json()["items"]], r.headers.get("x-cache")


def wait_for(what: Callable[[], bool]) -> None:
    """Wait for an event another thread or process causes (not a speed check: generous)."""
    deadline = time.monotonic() + 30
    while not what():
        assert time.monotonic() < deadline, "the event never came"
        time.sleep(0.01)


def test_a_hit_replays_the_bytes_of_the_miss_and_of_an_uncached_server(
    engine: Engine, tmp_path: Path
) -> None:
    put_point(engine, "c1", "up1", "electricity")
    target = "/v1/usage-points?limit=1&custodian=c1"
    with served(engine, tmp_path / "on") as on:
        miss, hit = raw_get(on.url, target), raw_get(on.url, target)
        csv = [raw_get(on.url, target + "&format=csv") for _ in range(2)]
    with served(engine, tmp_path / "off", api_cache_bytes=0) as off:
        plain = raw_get(off.url, target)
    assert b"\r\nx-cache: miss\r\n" in miss and b"\r\nx-cache: hit\r\n" in hit
    assert hit.replace(b"x-cache: hit", b"x-cache: miss") == miss
    assert b"x-cache" not in plain
    assert miss.replace(b"\r\nx-cache: miss", b"") == plain
    assert csv[1].replace(b"x-cache: hit", b"x-cache: miss") == csv[0]
    assert b"text/csv" in csv[0] and b"electricity" in csv[0]


def test_a_write_through_the_engine_shows_on_the_next_get(engine: Engine, tmp_path: Path) -> None:
    put_point(engine, "c1", "up1", "electricity")
    with served(engine, tmp_path) as on:
        url, runner = on.url, on.runner
        assert services(url) == (["electricity"], "miss")
        assert services(url) == (["electricity"], "hit")
        put_point(runner.engine, "c1", "up1", "gas")
        assert services(url) == (["gas"], "miss")
        runner.engine.execute("DELETE FROM usage_points WHERE custodian = 'c1'")
        assert services(url) == ([], "miss")
        with pytest.raises(RuntimeError), runner.engine.transaction() as tx:
            tx.upsert(USAGE_POINTS, pa.table({"custodian": ["c1"], "usage_point_id": ["u"]}))
            raise RuntimeError("rolled back")
        assert services(url) == ([], "miss")  # a bump too many: harmless
        assert services(url) == ([], "hit")


def test_two_duckdb_engines_on_one_file_share_their_changes(tmp_path: Path) -> None:
    a = connect(f"duckdb:///{tmp_path / 'w.duckdb'}")
    b = connect(f"duckdb:///{tmp_path / 'w.duckdb'}")
    try:
        changes = a.watch()
        assert changes is not None and changes is b.watch()
        before = changes.generation
        b.ensure(USAGE_POINTS)
        assert changes.generation > before
        assert connect("duckdb:///:memory:").watch() is not changes
    finally:
        a.close()
        b.close()


def test_duckdb_over_parquet_files_is_not_cached(tmp_path: Path) -> None:
    """Spark writes those files from other processes: no change feed, so no cache."""
    engine = connect(f"duckdb:///:memory:?parquet={tmp_path / 'lake'}")
    try:
        assert engine.watch() is None
        with served(engine, tmp_path) as on:
            r = httpx.get(f"{on.url}/row-count")
            assert r.status_code == 200 and "x-cache" not in r.headers
    finally:
        engine.close()


@pytest.mark.postgres
def test_a_write_from_another_process_shows_on_the_next_get(
    pg_available: None, tmp_path: Path
) -> None:
    schema = f"wl_test_cache_{time.time_ns()}"
    engine = connect(PG_URL, schema=schema)
    try:
        with served(engine, tmp_path) as on:
            url = on.url
            put_point(engine, "c1", "up1", "electricity")
            assert services(url) == (["electricity"], "miss")
            assert services(url) == (["electricity"], "hit")
            changes = engine.changes
            before = changes.generation
            code = (
                "import pyarrow as pa, sys\n"
                "from wattlake.engines import connect\n"
                "from wattlake.sources.espi.schema import USAGE_POINTS\n"
                "e = connect(sys.argv[1], schema=sys.argv[2])\n"
                "e.upsert(USAGE_POINTS, pa.table({'custodian': ['c1'], 'usage_point_id': ['up1'],"
                " 'service': ['gas']}))\n"
                "e.close()\n"
            )
            subprocess.run([sys.executable, "-c", code, PG_URL, schema], check=True, timeout=120)
            wait_for(lambda: changes.generation > before)  # the NOTIFY came in
            assert services(url) == (["gas"], "miss")
    finally:
        engine.drop_schema()
        engine.close()


@contextmanager
def pg_served(tmp_path: Path, retry_s: float) -> Iterator[tuple[Served, PostgresEngine]]:
    """A server over a throwaway schema whose listener, once lost, tries again after
    ``retry_s``."""
    engine = connect(PG_URL, schema=f"wl_test_cache_{time.time_ns()}")
    assert isinstance(engine, PostgresEngine)
    try:
        with served(engine, tmp_path) as on:
            assert engine.listener is not None
            engine.listener.RETRY_S = retry_s
            put_point(engine, "c1", "up1", "electricity")
            assert services(on.url) == (["electricity"], "miss")
            assert services(on.url) == (["electricity"], "hit")
            yield on, engine
    finally:
        engine.drop_schema()
        engine.close()


def kill_listener(engine: PostgresEngine) -> int:
    assert engine.listener is not None
    pid = engine.listener.backend_pid
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    assert pid is not None
    return pid


@pytest.mark.postgres
def test_a_lost_listener_bypasses_the_cache(pg_available: None, tmp_path: Path) -> None:
    with pg_served(tmp_path, retry_s=3600) as (on, engine):
        kill_listener(engine)
        wait_for(lambda: not engine.changes.live)
        # A write wattlake is not told of (no NOTIFY) shows at once: nothing is cached.
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'UPDATE "{engine.schema}".usage_points SET service = %s', ["gas"])
        assert services(on.url) == (["gas"], "bypass")
        assert services(on.url) == (["gas"], "bypass")


@pytest.mark.postgres
def test_a_listener_that_listens_again_empties_the_cache(
    pg_available: None, tmp_path: Path
) -> None:
    with pg_served(tmp_path, retry_s=0.05) as (on, engine):
        before = engine.changes.generation
        pid = kill_listener(engine)
        listener = engine.listener
        assert listener is not None
        wait_for(lambda: engine.changes.live and listener.backend_pid != pid)
        assert engine.changes.generation > before  # what committed meanwhile was not heard
        assert services(on.url) == (["electricity"], "miss")
        assert services(on.url) == (["electricity"], "hit")


def test_only_200_answers_of_read_routes_are_stored(engine: Engine, tmp_path: Path) -> None:
    with served(engine, tmp_path) as on:
        url = on.url
        for target in [
            "/v1/usage-points/nope/daily",  # 404
            "/v1/usage-points?limit=0",  # 422
            "/health",
            "/ready",
            "/",
        ]:
            for _ in range(2):
                r = httpx.get(url + target)
                assert "x-cache" not in r.headers, target
        assert len(on.cache.store) == 0
        assert httpx.get(url + "/v1/usage-points").headers["x-cache"] == "miss"
        assert len(on.cache.store) == 1


def test_query_strings_are_keyed_byte_for_byte(engine: Engine, tmp_path: Path) -> None:
    """``custodian=a&service_kind=1`` is not ``custodian=a%26service_kind%3D1``, nor is
    ``%ff`` ``%c3%bf``: each raw query string has its own entry and its own answer."""
    engine.ensure(USAGE_POINTS)
    rows = {"a": 1, "a&service_kind=1": 0, "\xff": 0, "\ufffd": 0}
    engine.upsert(
        USAGE_POINTS,
        pa.table(
            {
                "custodian": list(rows),
                "usage_point_id": [f"up{i}" for i in range(len(rows))],
                "service_kind": pa.array(list(rows.values()), pa.int32()),
                "service": [f"s{i}" for i in range(len(rows))],
            }
        ),
    )
    asks = {
        "?custodian=a&service_kind=1": ["s0"],
        "?custodian=a%26service_kind%3D1": ["s1"],
        "?custodian=a%26service_kind=1": ["s1"],  # the same value spelt otherwise
        "?custodian=%C3%BF": ["s2"],  # UTF-8 for ÿ
        "?custodian=%FF": ["s3"],  # not UTF-8: read as U+FFFD
        "?custodian=%EF%BF%BD": ["s3"],  # U+FFFD spelt out: same answer, its own entry
    }
    with served(engine, tmp_path) as on:
        for _ in range(2):
            for query, want in asks.items():
                assert services(on.url, query)[0] == want, query
        for query, want in reversed(asks.items()):
            assert services(on.url, query) == (want, "hit"), query
        assert len(on.cache.store) == len(asks)


def test_an_answer_over_its_share_of_the_budget_is_not_stored(
    engine: Engine, tmp_path: Path
) -> None:
    engine.ensure(USAGE_POINTS)
    n = 50
    engine.upsert(
        USAGE_POINTS,
        pa.table({"custodian": ["c"] * n, "usage_point_id": [f"u{i:03}" for i in range(n)]}),
    )
    with served(engine, tmp_path, api_cache_bytes=16 * 1024) as on:  # 1 KiB per entry
        big = [httpx.get(f"{on.url}/v1/usage-points").headers["x-cache"] for _ in range(2)]
        small = [
            httpx.get(f"{on.url}/v1/usage-points?limit=1").headers["x-cache"] for _ in range(2)
        ]
    assert big == ["miss", "miss"] and small == ["miss", "hit"]


def test_a_zero_budget_turns_the_cache_off(engine: Engine, tmp_path: Path) -> None:
    put_point(engine, "c1", "up1", "electricity")
    with served(engine, tmp_path, api_cache_bytes="0") as off:
        for _ in range(2):
            assert services(off.url) == (["electricity"], None)
        assert off.cache.changes is None
        assert getattr(engine, "listener", None) is None  # PostgreSQL: nobody listens


def test_the_cached_routes_and_their_documented_header() -> None:
    app = create_app()
    cached = {
        path
        for path, ops in app.openapi()["paths"].items()
        for method, op in ops.items()
        if "X-Cache" in op["responses"].get("200", {}).get("headers", {}) and method == "get"
    }
    assert cached == CACHED_GETS
    from wattlake.api.app import DATA
    from wattlake.api.routes import health

    assert {r.path for r in cacheable(DATA, read_only=False)} == CACHED_GETS
    # A read-only log shows dead runs as failed, by the clock: asked afresh there.
    assert {r.path for r in cacheable(DATA, read_only=True)} == CACHED_GETS - {"/v1/runs"}
    assert {r.path for r in cacheable([health.router], read_only=False)} == {"/health", "/ready"}
    assert not CACHED_GETS & {"/health", "/ready"}  # not in DATA: always answered afresh


# -- the store on its own ---------------------------------------------------------------


def entry(size: int, born: float = 0.0) -> Entry:
    return Entry({}, {}, born, size)


def test_store_evicts_least_recently_used_by_bytes() -> None:
    store = Store(max_bytes=1600, max_age_s=60)  # entries up to 100 bytes
    keys = [f"k{i}" for i in range(16)]
    for k in keys:
        store.put(k, entry(100), 0, 0)
    assert store.bytes == 1600
    assert store.get("k0", 0, 1) is not None  # k0 is now the most recent
    store.put("new", entry(100), 0, 0)
    assert store.get("k1", 0, 1) is None  # the least recent went
    assert all(store.get(k, 0, 1) for k in ["k0", *keys[2:], "new"])
    assert store.bytes == 1600
    store.put("big", entry(101), 0, 0)  # over 1600 / 16: never stored
    assert store.get("big", 0, 1) is None and store.bytes == 1600


def test_store_forgets_everything_when_the_generation_moves() -> None:
    store = Store(max_bytes=10_000, max_age_s=60)
    store.put("a", entry(10), 3, 3)
    assert store.get("a", 3, 0) is not None
    assert store.get("a", 4, 0) is None and store.bytes == 0
    store.put("b", entry(10), 4, 5)  # read before a commit that bumped 4 -> 5: not stored
    assert store.get("b", 5, 0) is None and len(store) == 0


def test_store_entries_expire_after_max_age() -> None:
    store = Store(max_bytes=10_000, max_age_s=60)
    store.put("a", entry(10, born=100.0), 0, 0)
    assert store.get("a", 0, 160.0) is not None
    assert store.get("a", 0, 160.5) is None and store.bytes == 0


def test_changes_bump_after_the_block_even_when_it_fails() -> None:
    changes = Changes()
    with pytest.raises(ValueError), changes.after():
        assert changes.generation == 0
        raise ValueError
    assert changes.generation == 1
