"""HTTP API throughput and latency, per endpoint, against a real ``wattlake serve``.

    .venv/bin/python benchmarks/api.py [--engines duckdb,postgres] [--seconds 3] [--connections 32]

For each warehouse: the demo data is loaded into a temporary WATTLAKE_HOME (PostgreSQL: a
throwaway database on 127.0.0.1:5432), ``wattlake serve --port 0`` runs as a subprocess, and a
load generator (raw asyncio sockets, HTTP/1.1 keep-alive, ``--connections`` clients each
sending its next request when the previous answer is in) hits every read endpoint in turn for
``--seconds`` or ``--max-requests``, whichever comes first. ``/`` (the seed root: no database)
is the framework's ceiling in the same run; every other figure is shown as a share of it.
Two servers of this checkout run side by side: ``cached`` with the default settings (the
response cache on) and ``uncached`` with ``WATTLAKE_API_CACHE_BYTES=0``; with
``--baseline-src`` a third serves another checkout's code. Each endpoint's time alternates
between them in slices, so the machine's changing load (other jobs) falls on all alike. The
last endpoint is asked with a new URL every time (no hit possible): what a miss costs.
Prints req/s, p50/p99 latency, the server's CPU time per request (user + system, all threads:
steadier than req/s on a shared machine), the share of answers replayed from the cache
(``X-Cache: hit``), its peak RSS and the load average; deletes its temporary folders and drops
its database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).parent))
from _common import Row, emit

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
WATTLAKE = Path(sys.executable).with_name("wattlake")


async def _get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: bytes
) -> tuple[int, bool]:
    """Send one request on a kept-alive connection and read the whole answer; the status and
    whether it was replayed from the response cache."""
    writer.write(req)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    if m is None:
        raise RuntimeError(f"no content-length: {head!r}")
    await reader.readexactly(int(m.group(1)))
    return status, re.search(rb"(?i)\r\nx-cache: *hit\r\n", head) is not None


@dataclass
class Tally:
    """What one server answered for one endpoint, over all its slices."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0  # non-200 answers
    hits: int = 0  # answers replayed from the response cache
    seconds: float = 0.0
    cpu_s: float = 0.0  # the server's CPU time meanwhile
    position: int = 0  # the next of the endpoint's URLs to ask (goes on across slices)


async def load(
    port: int, paths: list[str], connections: int, seconds: float, limit: int, tally: Tally
) -> None:
    """``connections`` clients on kept-alive connections, each request the next of ``paths``
    in turn (so a data endpoint is asked for different nodes, dates, offsets, not one URL),
    from ``tally.position`` on; added to ``tally``."""
    reqs = [f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode() for p in paths]
    deadline = time.perf_counter() + seconds
    sent = 0
    first = tally.position

    async def client() -> None:
        nonlocal sent
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline and sent < limit:
                req = reqs[(first + sent) % len(reqs)]
                sent += 1
                t0 = time.perf_counter()
                status, hit = await _get(reader, writer, req)
                tally.latencies.append(time.perf_counter() - t0)
                tally.errors += status != 200
                tally.hits += hit
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    tally.seconds += time.perf_counter() - t0
    tally.position += sent


def summary(paths: list[str], t: Tally) -> dict[str, Any]:
    latencies = sorted(t.latencies)
    n = len(latencies)
    return {
        "path": paths[0] + (f" (+{len(paths) - 1} variants)" if len(paths) > 1 else ""),
        "requests": n,
        "errors": t.errors,
        "hit_rate": t.hits / max(n, 1),
        "rps": n / t.seconds,
        "p50_ms": 1000 * latencies[n // 2] if n else float("nan"),
        "p99_ms": 1000 * latencies[min(n - 1, int(n * 0.99))] if n else float("nan"),
        "server_cpu_ms": 1000 * t.cpu_s / max(n, 1),
    }


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _json(port: int, path: str) -> Any:
    import httpx

    r = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=30)
    r.raise_for_status()
    return r.json()


#: Last, a data endpoint asked with a new URL every time: every answer a miss, what the
#: response cache costs when it never hits (not counted with the data endpoints).
COLD = "/v1/lmp/daily?limit=10&offset="
COLD_URLS = 100_000


def endpoints(port: int) -> list[list[str]]:
    """Every read endpoint, each as the URLs it is asked in turn: real keys from the demo data,
    varied (nodes, markets, dates, offsets, meters, feeders) so no answer repeats back to back."""
    feeders = _json(port, "/v1/feeders?limit=8&min_max_hc_mw=1")["items"]
    daily = _json(port, "/v1/lmp/daily?limit=1000")["items"]
    nodes = sorted({r["node"] for r in daily})
    dates = sorted({r["opr_date"] for r in daily})
    runs = [r["run_id"] for r in _json(port, "/v1/runs?limit=4")]
    meters = _json(port, "/v1/meters?limit=6")["items"]
    mdays = {
        m["meter_code"]: _json(port, f"/v1/meters/{m['meter_code']}/daily?limit=1")["items"][0]
        for m in meters
    }
    ups = [u["usage_point_id"] for u in _json(port, "/v1/usage-points?limit=4")["items"]]
    turbines = [t["turbine"] for t in _json(port, "/v1/scada/turbines?limit=4")["items"]]
    uids = [quote(f["feeder_uid"], safe=":") for f in feeders]
    n = range(8)

    def day(m: str) -> str:
        y, mo, d = mdays[m]["local_date"].split("-")
        return f"{d}/{mo}/{y}"

    return [
        ["/"],
        ["/health"],
        [f"/v1/lmp/daily?offset={i * 5}" for i in n]
        + [f"/v1/lmp/daily?node={x}&start={dates[1]}" for x in nodes],
        [
            f"/get-data?meter_code={m}&serial_code={d['serial']}&date_time={day(m)}"
            for m, d in mdays.items()
        ],
        [f"/v1/feeders?limit=100&offset={i * 100}" for i in n],
        [f"/v1/feeders/{u}" for u in uids],
        [f"/v1/feeders/{u}/ders" for u in uids],
        [f"/v1/lmp?node={x}&limit=100&offset={o}" for x in nodes for o in (0, 50)],
        [f"/v1/meters/{m}/daily?limit=100" for m in mdays],
        [f"/v1/usage-points/{u}/daily?limit=100&offset={o}" for u in ups for o in (0, 20)],
        [f"/v1/scada/{t}/10min?limit=100&offset={o}" for t in turbines for o in (0, 500)],
        ["/v1/scada/turbines"],
        ["/v1/runs"],
        [f"/v1/runs/{r}" for r in runs],
        [f"/v1/runs/{r}/rejects" for r in runs],
        [f"/getFeeders?maxHostingCapacity={x}" for x in (5, 6, 7, 8)],
        [f"/getDERsForFeeder?feederID={quote(f['native_feeder_id'])}" for f in feeders],
        ["/row-count"],
        ["/time-ranges"],
        ["/lmp"],
        [f"/lmp/{x}" for x in nodes],
        [f"/lmp/mean/{x}/{d}" for x in nodes for d in ("monday", "friday")],
        [f"{COLD}{i}" for i in range(COLD_URLS)],
    ]


def _serve(env: dict[str, str]) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [str(WATTLAKE), "serve", "--port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        m = re.search(r"running on http://127\.0\.0\.1:(\d+)", line)
        if m:
            return proc, int(m.group(1))
    raise RuntimeError(f"wattlake serve exited with {proc.wait()}")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Server:
    """``wattlake serve`` over its own demo data: ``code`` names it (``cached``, ``uncached``
    or the baseline's src folder)."""

    code: str
    proc: subprocess.Popen[str]
    port: int
    paths: list[list[str]]


@dataclass(frozen=True)
class Variant:
    code: str
    src: str | None = None  # another checkout's code (the baseline), same environment
    env: tuple[tuple[str, str], ...] = ()


#: This checkout with its default settings, and with the response cache off.
CACHED = Variant("cached")
UNCACHED = Variant("uncached", env=(("WATTLAKE_API_CACHE_BYTES", "0"),))


@contextmanager
def served(kind: str, variant: Variant) -> Iterator[Server]:
    home = Path(tempfile.mkdtemp(prefix="wl-bench-api-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATTLAKE_")}
    env["WATTLAKE_HOME"] = str(home)
    env.update(variant.env)
    if variant.src:
        env["PYTHONPATH"] = variant.src
    db = None
    if kind == "postgres":
        import psycopg

        db = f"wl_bench_api_{secrets.token_hex(4)}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{db}"')
        env["WATTLAKE_WAREHOUSE"] = f"postgresql://postgres@127.0.0.1:5432/{db}"
    proc = None
    try:
        subprocess.run(
            [str(WATTLAKE), "demo", "--no-serve"], env=env, check=True, capture_output=True
        )
        proc, port = _serve(env)
        yield Server(variant.code, proc, port, endpoints(port))
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(home, ignore_errors=True)
        if db is not None:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


#: Each endpoint's time is cut into this many slices, alternating between the servers, so a
#: change in the machine's load (other jobs) falls on the baseline and this checkout alike.
SLICES = 3


def measure(kind: str, servers: list[Server], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every endpoint on every server, in alternating slices; one result per (server, path)."""
    results: list[dict[str, Any]] = []
    for i in range(len(servers[0].paths)):
        got = {s.code: Tally() for s in servers}
        for s in servers:  # warm up
            warm = Tally()
            asyncio.run(load(s.port, s.paths[i], args.connections, 0.5, 200, warm))
            got[s.code].position = warm.position
        for _ in range(SLICES):
            for s in servers:
                cpu = _cpu_s(s.proc.pid)
                asyncio.run(
                    load(s.port, s.paths[i], args.connections, args.seconds / SLICES,
                         args.max_requests // SLICES, got[s.code])
                )  # fmt: skip
                got[s.code].cpu_s += _cpu_s(s.proc.pid) - cpu
        for s in servers:
            r = {"engine": kind, "code": s.code, **summary(s.paths[i], got[s.code])}
            results.append(r)
            ceiling = next(x["rps"] for x in results if x["code"] == s.code)
            print(_row(r, ceiling), flush=True)
    for s in servers:
        rss = _rss_mb(s.proc.pid)
        print(f"  {s.code}: server peak RSS {rss:.0f} MB")
        for r in results:
            if r["code"] == s.code:
                r["server_rss_mb"] = rss
    return results


def total(rows: list[dict[str, Any]]) -> int:
    return max(1, sum(int(r["requests"]) for r in rows))


def _row(r: dict[str, Any], ceiling: float) -> str:
    share = 100 * r["rps"] / ceiling if ceiling else float("nan")
    return (
        f"  {r['code'][-9:]:9} {r['path'][:50]:50} {r['rps']:6.0f} req/s {share:4.0f}%  "
        f"p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  "
        f"cpu {r['server_cpu_ms']:5.2f} ms/req  hits {100 * r['hit_rate']:3.0f}%  "
        f"n={r['requests']}" + (f"  ERRORS={r['errors']}" if r["errors"] else "")
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--engines", default="duckdb,postgres")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--max-requests", type=int, default=20_000)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument(
        "--baseline-src",
        help="a checkout's src/ served beside this one as the baseline (same run, same env)",
    )
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--quick", action="store_true", help="0.5 s per endpoint (make bench)")
    args = p.parse_args()
    if args.quick:
        args.seconds = 0.5
    out: list[dict[str, Any]] = []
    base = [Variant(args.baseline_src, src=args.baseline_src)] if args.baseline_src else []
    variants = [*base, UNCACHED, CACHED]
    for kind in args.engines.split(","):
        print(
            f"{kind} ({', '.join(v.code for v in variants)}, side by side): "
            f"{args.connections} keep-alive connections, {args.seconds} s per endpoint in "
            f"{SLICES} alternating slices; load average "
            + " ".join(f"{x:.2f}" for x in os.getloadavg())
        )
        with ExitStack() as stack:
            servers = [stack.enter_context(served(kind, v)) for v in variants]
            results = measure(kind, servers, args)
        print("  load average after: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
        out += results
        cold = {r["code"]: r for r in results if COLD in r["path"]}
        print(
            "  every URL new (no hit possible): "
            + "; ".join(
                f"{code} {r['rps']:.0f} req/s, {r['server_cpu_ms']:.2f} ms CPU/req, "
                f"hits {100 * r['hit_rate']:.0f}%"
                for code, r in cold.items()
            )
        )
        for s in servers:
            res = [r for r in results if r["code"] == s.code]
            ceiling = res[0]["rps"]
            data = [r for r in res if r["path"] not in ("/", "/health") and COLD not in r["path"]]
            low = [r["path"] for r in data if r["rps"] < 0.5 * ceiling]
            slow = [r["path"] for r in data if r["p99_ms"] >= 100]
            mid = statistics.median(r["rps"] for r in data)
            hits = sum(r["hit_rate"] * r["requests"] for r in data)
            print(
                f"  {s.code}: median data endpoint {mid:.0f} req/s "
                f"({100 * mid / ceiling:.0f}% of /); below 50% of /: {len(low)}; "
                f"p99 >= 100 ms: {len(slow)}; cache hits {100 * hits / total(data):.0f}%"
            )
            if s.code in (CACHED.code, UNCACHED.code):
                emit(
                    Row(
                        f"API {kind} {s.code}, median of {len(data)} data endpoints, "
                        f"{args.connections} connections",
                        f"{mid:,.0f} req/s (p99 max {max(r['p99_ms'] for r in data):.0f} ms)",
                        f"/ without the database {ceiling:,.0f} req/s",
                        mid / ceiling,
                        res[0]["server_rss_mb"],
                    )
                )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
