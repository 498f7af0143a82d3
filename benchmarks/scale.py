"""How the cost of a load grows with its size, on DuckDB and on Spark local.

For each size (10^6, 10^7, 10^8 rows of CAISO LMP data: 1,000 nodes x hours), one child process
per engine loads the rows into silver ``lmp`` in one transaction (batches of 1M rows, read from
Parquet files generated before the clock starts, as a parser would hand them over) and builds the gold model ``lmp_daily``. Printed per size and engine:
seconds, seconds per million rows, rows/s, peak RSS (DuckDB: the process; Spark: the Python
driver + the JVM, from /proc VmHWM), and the Spark/DuckDB time ratio.

    python benchmarks/scale.py --quick           # 10^6 only
    python benchmarks/scale.py                   # 10^6 and 10^7
    python benchmarks/scale.py --sizes 1e6,1e7,1e8

DuckDB runs with its default memory_limit (256MB), so at 10^7 rows and beyond the table is
larger than its memory and it spills. Spark runs local[2] with a 1g driver. Temporary folders
are deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

BATCH = 1_000_000
NODES = 1_000


def batches(rows: int) -> list[tuple[int, int]]:
    """(first hour, hours) per batch of BATCH rows (NODES nodes x hours)."""
    hours = rows // NODES
    step = BATCH // NODES
    return [(h, min(step, hours - h)) for h in range(0, hours, step)]


def lmp_batch(first_hour: int, hours: int) -> pa.Table:
    base = datetime(2015, 1, 1, 8, tzinfo=UTC)
    h = np.repeat(np.arange(first_hour, first_hour + hours), NODES)
    node = np.tile(np.arange(NODES), hours)
    start = np.datetime64(base.replace(tzinfo=None), "us") + h.astype("timedelta64[h]")
    pacific = start - np.timedelta64(8, "h")
    rng = np.random.default_rng(first_hour)
    lmp = 30 + 10 * np.sin(h / 24 * 2 * np.pi) + rng.normal(0, 3, h.size)
    return pa.table(
        {
            "market": pa.array(np.full(h.size, "DAM")),
            "node": pa.array(np.char.add("N", node.astype(str))),
            "interval_start_utc": pa.array(start, pa.timestamp("us", tz="UTC")),
            "interval_end_utc": pa.array(start + np.timedelta64(1, "h"), pa.timestamp("us", tz="UTC")),
            "opr_date": pa.array(pacific.astype("datetime64[D]")),
            "opr_hour": pa.array((pacific.astype("datetime64[h]").astype(np.int64) % 24 + 1).astype(np.int32)),
            "opr_interval": pa.array(np.zeros(h.size, np.int32)),
            "lmp": lmp, "energy": lmp * 0.9, "congestion": lmp * 0.07, "loss": lmp * 0.03,
            "_source_file": pa.array(np.full(h.size, "bench")),
        }
    )  # fmt: skip


def vm_hwm_kb(pid: int | str = "self") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def child(engine_kind: str, rows: int, work: Path) -> dict[str, float]:
    from wattlake.engines import connect
    from wattlake.engines.spark import SparkEngine
    from wattlake.sources.caiso.schema import LMP

    if engine_kind == "duckdb":
        engine = connect(f"duckdb:///{work / 'w.duckdb'}")
    else:
        engine = SparkEngine(
            "spark+local[2]", lake_url=str(work / "lake"), control_url="duckdb:///:memory:"
        )
    engine.ensure(LMP)
    # The input is generated before the clock starts; the timed load reads one batch at a time.
    inputs = []
    for k, (first, hours) in enumerate(batches(rows)):
        inputs.append(work / f"in-{k:04d}.parquet")
        pq.write_table(lmp_batch(first, hours), inputs[-1])
    t0 = time.perf_counter()
    with engine.transaction() as tx:
        for path in inputs:
            tx.upsert(LMP, pq.read_table(path))
    load = time.perf_counter() - t0
    t1 = time.perf_counter()
    daily = engine.build("lmp_daily")
    gold = time.perf_counter() - t1
    n = int(engine.query("SELECT count(*) FROM lmp").column(0)[0].as_py())
    assert n == rows, (n, rows)
    assert daily == NODES * -(-(rows // NODES) // 24), daily  # nodes x Pacific days
    rss = vm_hwm_kb()
    if engine_kind == "spark":
        proc = getattr(engine.spark.sparkContext._gateway, "proc", None)  # the JVM
        rss += vm_hwm_kb(proc.pid) if proc is not None else 0
    engine.close()
    return {"load_s": load, "gold_s": gold, "rows": rows, "peak_mb": rss / 1024}


def run(sizes: list[int]) -> None:
    print(
        f"{'rows':>12} {'engine':>7} {'load s':>8} {'gold s':>8} {'s/Mrow':>8} {'rows/s':>12} {'peak MB':>8}"
    )
    for rows in sizes:
        got = {}
        for kind in ("duckdb", "spark"):
            work = Path(tempfile.mkdtemp(prefix=f"wl-scale-{kind}-"))
            try:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", kind, str(rows), str(work)],
                    check=True, capture_output=True, text=True,
                    env={**os.environ, "WATTLAKE_HOME": str(work / "home")},
                )  # fmt: skip
            finally:
                shutil.rmtree(work, ignore_errors=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            total = r["load_s"] + r["gold_s"]
            got[kind] = total
            print(
                f"{rows:>12,} {kind:>7} {r['load_s']:>8.1f} {r['gold_s']:>8.1f} "
                f"{total / rows * 1e6:>8.2f} {rows / total:>12,.0f} {r['peak_mb']:>8.0f}",
                flush=True,
            )
        print(f"{'':>12} spark/duckdb time ratio: {got['spark'] / got['duckdb']:.1f}x", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10^6 rows only")
    ap.add_argument("--sizes", default="1e6,1e7", help="comma-separated row counts")
    ap.add_argument("--child", nargs=3, metavar=("ENGINE", "ROWS", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, rows, work = args.child
        print(json.dumps(child(kind, int(rows), Path(work))))
        return
    sizes = [1_000_000] if args.quick else [int(float(s)) for s in args.sizes.split(",")]
    run(sizes)


if __name__ == "__main__":
    main()
