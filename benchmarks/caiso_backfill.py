"""Benchmark: a 30-day all-APNodes DAM backfill from the OASIS stand-in through the pipeline.

The stand-in (≈1,700 APNodes like the real 2020 file, no rate limit) runs in its own process
and serves over HTTP on loopback; the backfill (fetch → bronze → lmp → lmp_daily, DuckDB file
warehouse with the default memory limit) runs in a fresh process whose peak RSS (ru_maxrss)
is reported. Two passes on fresh warehouses and lakes:

* cold: the stand-in builds each day's CSV while we load (its generator, ≈1 s per day, is
  then the bottleneck: the loader waits for it);
* warm: the stand-in answers from a cache filled by the cold pass, so the figure is the
  pipeline's own throughput (HTTP transfer, bronze write, parse, upsert, gold).

``CSV rows`` are OASIS long rows (one per node, hour and component: LMP, MCE, MCC, MCL,
MGHG); ``intervals`` are the wide rows loaded into ``lmp``.

    .venv/bin/python benchmarks/caiso_backfill.py            # 30 days x 1,700 nodes
    .venv/bin/python benchmarks/caiso_backfill.py --quick    # 3 days
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, emit

NODES = 1_700
FIRST_DAY = date(2026, 9, 1)


def serve(nodes: int) -> None:
    """The stand-in with answers cached by request (prints its URL, serves until killed)."""
    from wattlake.sims.oasis import OasisSim

    class CachedSim(OasisSim):
        @lru_cache(maxsize=64)  # noqa: B019 - one instance, lives as long as the process
        def _cached(self, query: str) -> tuple[str, tuple[tuple[str, str], ...], bytes]:
            outcome, headers, body = OasisSim.answer(self, json.loads(query))
            return outcome, tuple(headers.items()), body

        def answer(
            self, params: dict[str, str], fault: str | None = None
        ) -> tuple[str, dict[str, str], bytes]:
            if fault is not None:
                return OasisSim.answer(self, params, fault)
            outcome, headers, body = self._cached(json.dumps(params, sort_keys=True))
            return outcome, dict(headers), body

    sim = CachedSim(all_nodes_count=nodes, rate_limit_s=0.0)
    print(sim.start(), flush=True)
    while True:
        time.sleep(3600)


def backfill_once(url: str, days: int) -> dict[str, float]:
    """One backfill into a fresh DuckDB file and lake; its figures as JSON-able numbers."""
    from wattlake.config import Settings
    from wattlake.pipeline import Runner
    from wattlake.sources.caiso.pipeline import backfill

    home = Path(tempfile.mkdtemp(prefix="wl-bench-caiso-"))
    try:
        return _backfill(Runner.open(Settings(home=home)), url, days, backfill)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _backfill(runner: Any, url: str, days: int, backfill: Any) -> dict[str, float]:
    t0 = time.perf_counter()
    result = backfill(
        runner, FIRST_DAY, FIRST_DAY + timedelta(days=days), "DAM", all_nodes=True,
        base_url=url, min_interval_s=0.0,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    assert not result.run.failed_steps, result.run.failed_steps
    assert result.rows_rejected == 0 and result.fetched == days
    csv_rows = sum(r.rows_read for r in result.reports)  # wide rows (parser's rows_read)
    lmp_types = runner.engine.query(
        "SELECT count(*) FILTER (WHERE ghg IS NOT NULL) AS g, count(*) AS n FROM lmp"
    ).to_pylist()[0]
    long_rows = 4 * lmp_types["n"] + lmp_types["g"]  # LMP, MCE, MCC, MCL (+ MGHG)
    gold = runner.engine.query("SELECT count(*) FROM lmp_daily").column(0)[0].as_py()
    runner.close()
    return {
        "intervals": csv_rows, "csv_rows": long_rows, "seconds": seconds,
        "waited": result.waited_s, "gold_rows": gold,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }  # fmt: skip


def measure(url: str, days: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--one", url, str(days)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="3 days instead of 30")
    ap.add_argument("--days", type=int, default=None)
    ap.add_argument("--nodes", type=int, default=NODES)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--one", nargs=2, metavar=("URL", "DAYS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.nodes)
        return 0
    if args.one:
        print(json.dumps(backfill_once(args.one[0], int(args.one[1]))))
        return 0
    days = args.days or (3 if args.quick else 30)
    sim = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--nodes", str(args.nodes)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert sim.stdout is not None
        url = sim.stdout.readline().strip()
        print(f"stand-in at {url}: {args.nodes:,} APNodes; DAM all nodes, {days} days from "
              f"{FIRST_DAY}, DuckDB file warehouse\n")  # fmt: skip
        head = f"{'pass':<6} {'intervals':>10} {'CSV rows':>10} {'seconds':>8} {'waited s':>9}"
        print(f"{head} {'intervals/s':>12} {'CSV rows/s':>11} {'peak RSS MB':>12}")
        for name in ("cold", "warm"):
            r = measure(url, days)
            if name == "warm":
                emit(Row(f"CAISO backfill ({days} DAM days, all nodes) → duckdb",
                         f"{r['csv_rows'] / r['seconds']:,.0f} LMP values/s",
                         "none (throughput only)", None, r["rss_mb"]))  # fmt: skip
            print(
                f"{name:<6} {r['intervals']:>10,.0f} {r['csv_rows']:>10,.0f} "
                f"{r['seconds']:>8.2f} {r['waited']:>9.2f} {r['intervals'] / r['seconds']:>12,.0f} "
                f"{r['csv_rows'] / r['seconds']:>11,.0f} {r['rss_mb']:>12.0f}"
            )
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
