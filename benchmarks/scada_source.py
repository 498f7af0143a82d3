"""Benchmark: serving the SCADA source API — our stand-in against the original's way.

Both servers read the same PostgreSQL ``data`` table (the default turbine, 10 days from
2024-05-20, filled once by our generator) and run in their own processes; one client (httpx,
keep-alive) asks each the ETL's questions: every day with ``columns=wind_speed&columns=power``
(1,440 rows), several rounds, then the whole 10 days at once (14,400 rows). The answers are
checked equal before timing.

* ours: ``sims/scada_source.py`` (one indexed range read, rows encoded by ``json``'s C
  encoder into the body);
* baseline, the original's way: a FastAPI endpoint with a SQLAlchemy select of the chosen
  columns that returns the row mappings for FastAPI to encode (``jsonable_encoder``, then
  ``JSONResponse``), as the seed's source API did.

Prints requests/s, rows/s, median latency, the ratio, and each server's peak RSS (VmHWM).
Needs PostgreSQL (``WATTLAKE_TEST_PG_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``);
the throwaway database it creates is dropped at the end.

    .venv/bin/python benchmarks/scada_source.py            # 5 rounds of 10 days
    .venv/bin/python benchmarks/scada_source.py --quick    # 2 rounds
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from typing import Annotated, Any

import httpx
from fastapi import FastAPI, HTTPException, Query

PG_URL = os.environ.get("WATTLAKE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
DAY0 = datetime(2024, 5, 20)


def original_app(url: str) -> FastAPI:
    """The seed's way of answering /data (SQLAlchemy select → row mappings → FastAPI)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    data = sa.Table("data", sa.MetaData(), autoload_with=engine)
    app = FastAPI()

    @app.get("/data")
    def get_data(
        start_timestamp: datetime | None = None,
        end_timestamp: datetime | None = None,
        columns: Annotated[list[str] | None, Query()] = None,
    ):  # no return annotation, as the original: FastAPI's jsonable_encoder does the encoding
        names = list(columns or [])
        cols = [data.c[c] for c in names if c in data.c]
        if not cols:
            raise HTTPException(status_code=400, detail="Invalid column names")
        if "timestamp" not in names:
            cols.insert(0, data.c.timestamp)
        stmt = sa.select(*cols)
        if start_timestamp:
            stmt = stmt.where(data.c.timestamp >= start_timestamp)
        if end_timestamp:
            stmt = stmt.where(data.c.timestamp < end_timestamp)
        with engine.connect() as conn:
            return [row._mapping for row in conn.execute(stmt).all()]

    return app


def serve(kind: str, url: str) -> None:
    """Child process: serve ``kind`` on a free port, print the base URL, run until killed."""
    if kind == "ours":
        from wattlake.sims.scada_source import ScadaSourceSim

        print(ScadaSourceSim(url, generate=False).start(), flush=True)
        while True:
            time.sleep(3600)
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(original_app(url), log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    thread.join()


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def requests_for(rounds: int) -> list[dict[str, Any]]:
    cols = ["wind_speed", "power"]
    days = [
        {
            "start_timestamp": (DAY0 + timedelta(days=d)).isoformat(),
            "end_timestamp": (DAY0 + timedelta(days=d + 1)).isoformat(),
            "columns": cols,
        }
        for d in range(10)
    ]
    return days * rounds + [{"columns": cols}] * rounds


def run(kind: str, url: str, reqs: list[dict[str, Any]], check: list[Any] | None) -> dict[str, Any]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--db", url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().strip()
        with httpx.Client(base_url=base, timeout=60) as c:
            first = [c.get("/data", params=p).json() for p in reqs[:10]]  # warm-up and check
            if check is not None and first != check:
                raise SystemExit(f"{kind}: answers differ from the other server's")
            lat, rows = [], 0
            t0 = time.perf_counter()
            for p in reqs:
                t = time.perf_counter()
                r = c.get("/data", params=p)
                r.raise_for_status()
                lat.append(time.perf_counter() - t)
                rows += len(r.json())
            wall = time.perf_counter() - t0
        return {
            "kind": kind, "wall": wall, "rows": rows, "reqs": len(reqs), "first": first,
            "p50_day_ms": 1000 * statistics.median(lat[: len(lat) - len(reqs) // 11]),
            "rss": peak_rss_mb(proc.pid),
        }  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--serve", choices=["ours", "original"])
    ap.add_argument("--db")
    a = ap.parse_args()
    if a.serve:
        serve(a.serve, a.db)
        return 0
    import psycopg

    from wattlake.sims.scada_source import ScadaSourceSim

    name = f"wl_bench_scada_{secrets.token_hex(4)}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    try:
        sim = ScadaSourceSim(url, turbines=1)
        sim.prepare()  # fill the original table once
        sim.stop()
        reqs = requests_for(2 if a.quick else 5)
        base = run("original", url, reqs, None)
        ours = run("ours", url, reqs, base["first"])
        print(f"{len(reqs)} requests ({base['rows']:,} rows) to each server, same PostgreSQL table")
        for r in (base, ours):
            print(
                f"  {r['kind']:9s} {r['wall']:6.2f} s  {r['reqs'] / r['wall']:7.1f} req/s  "
                f"{r['rows'] / r['wall']:10,.0f} rows/s  median day {r['p50_day_ms']:6.1f} ms  "
                f"peak RSS {r['rss']:.0f} MB"
            )
        print(f"  ratio (original time / ours): {base['wall'] / ours['wall']:.2f}x")
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
