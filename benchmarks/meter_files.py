"""Meter-files ingest benchmark: wattlake (DuckDB, PostgreSQL) against the seed's way.

The seed read each file with csv.DictReader and inserted one ORM object per row through
SQLAlchemy into PostgreSQL, committing per file. We generate LP files of several sizes, run
every path on the same files in this run, and print rows/s, the ratio to the seed and the peak
memory (RSS) of each run, measured in a fresh subprocess.

    .venv/bin/python benchmarks/meter_files.py            # 100k and 1M rows (+ seed on 20k)
    .venv/bin/python benchmarks/meter_files.py --full     # adds a 10M-row file
    .venv/bin/python benchmarks/meter_files.py --quick    # 50k rows, seed on 5k
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

PG_URL = os.environ.get("WATTLAKE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
HEADER = "MeterPoint Code,Serial Number,Plant Code,Date/Time,Data Type,Data Value,Units,Status"
TYPES = ["Import Wh Total", "Import varh Total", "Export Wh Total", "Export varh Total"]


def make_lp(path: Path, rows: int, seed: int = 0) -> None:
    """An LP file of ``rows`` rows: meters x 4 data types x 15-minute intervals."""
    rng = np.random.default_rng(seed)
    per_meter = 4 * 96 * 30  # 30 days per meter
    with path.open("wb") as out:
        out.write((HEADER + "\n").encode())
        done = 0
        while done < rows:
            n = min(1_000_000, rows - done)
            i = np.arange(done, done + n)
            meter = 210_000_000 + i // per_meter
            within = i % per_meter
            dtype = within // (96 * 30)
            minutes = (within % (96 * 30) + 1) * 15
            ts = pa.array(
                (np.datetime64("2025-01-01T00:00") + minutes.astype("timedelta64[m]")).astype(
                    "datetime64[s]"
                )
            )
            meters = pa.array(meter.astype(str))
            table = pa.table(
                {
                    "m": meters,
                    "s": meters,
                    "p": pc.binary_join_element_wise(
                        "ED", pa.array((meter % 100_000_000).astype(str)), ""
                    ),
                    "t": pc.strftime(ts, format="%d/%m/%Y %H:%M:%S"),
                    "d": pa.array(np.array(TYPES)[dtype]),
                    "v": pa.array(np.round(rng.random(n) * 3, 6)),
                    "u": pa.array(np.where(dtype % 2 == 0, "kwh", "kvarh")),
                    "st": pa.array(np.where(rng.random(n) < 0.1, "GN", "")),
                }
            )
            pacsv.write_csv(
                table, out, pacsv.WriteOptions(include_header=False, quoting_style="none")
            )
            done += n


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(engine_kind: str, path: str) -> dict[str, float]:
    from wattlake.config import Settings
    from wattlake.engines import connect
    from wattlake.lake import Lake
    from wattlake.pipeline import Runner
    from wattlake.registry import get_pipeline

    tmp = Path(tempfile.mkdtemp(prefix="wl-bench-"))
    schema = f"wl_bench_{secrets.token_hex(4)}"
    engine = (
        connect(f"duckdb:///{tmp}/w.duckdb", duckdb_memory_limit=Settings().duckdb_memory_limit)
        if engine_kind == "duckdb"
        else connect(PG_URL, schema=schema)
    )
    runner = Runner(engine, Lake(str(tmp / "lake")), Settings(home=tmp))
    # Warm the process first (imports, pyarrow's kernel registry, pandas that pyarrow pulls in
    # on first use: ~1-2 s once per process), so the figure is the ingest's own throughput.
    warm = tmp / "LP_warmup.csv"
    make_lp(warm, 1000, seed=1)
    runner.ingest_files(get_pipeline("meter-files"), [warm])
    t0 = time.perf_counter()
    _, reports = runner.ingest_files(get_pipeline("meter-files"), [path])
    seconds = time.perf_counter() - t0
    rows = reports[0].rows_loaded
    assert reports[0].rows_rejected == 0 and rows > 0, reports
    if engine_kind == "postgres":
        engine.drop_schema()  # type: ignore[attr-defined]
    engine.close()
    return {"rows": rows, "seconds": seconds, "rss_mb": peak_rss_mb()}


def run_seed(path: str) -> dict[str, float]:
    """The seed's way: DictReader + one SQLAlchemy ORM object per row, commit per file."""
    import csv
    from datetime import datetime

    from sqlalchemy import Column, DateTime, Float, Integer, String, create_engine
    from sqlalchemy.orm import Session, declarative_base

    base = declarative_base()
    table = f"energy_data_{secrets.token_hex(4)}"

    class EnergyData(base):  # type: ignore[misc, valid-type]
        __tablename__ = table
        id = Column(Integer, primary_key=True, autoincrement=True)
        meter_code = Column(String(30))
        serial_number = Column(String(30))
        plant_code = Column(String(30))
        date_time = Column(DateTime)
        data_type = Column(String(30))
        energy = Column(Float)
        units = Column(String(30))

    engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
    base.metadata.create_all(engine)
    t0 = time.perf_counter()
    rows = 0
    with Session(engine) as session, open(path, newline="") as f:
        for rec in csv.DictReader(f):
            session.add(
                EnergyData(
                    meter_code=rec["MeterPoint Code"],
                    serial_number=rec["Serial Number"],
                    plant_code=rec["Plant Code"],
                    date_time=datetime.strptime(rec["Date/Time"][:10], "%d/%m/%Y"),
                    data_type=rec["Data Type"],
                    energy=rec["Data Value"],
                    units=rec["Units"],
                )
            )
            rows += 1
        session.commit()
    seconds = time.perf_counter() - t0
    base.metadata.drop_all(engine)
    return {"rows": rows, "seconds": seconds, "rss_mb": peak_rss_mb()}


def measure(kind: str, path: Path) -> dict[str, float]:
    """Run one measurement in a fresh interpreter so peak RSS is its own."""
    out = subprocess.run(
        [sys.executable, __file__, "--one", kind, str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--full", action="store_true", help="include a 10M-row file")
    ap.add_argument("--one", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    if args.one:
        kind, path = args.one
        print(json.dumps(run_seed(path) if kind == "seed" else run_ours(kind, path)))
        return

    sizes = [50_000] if args.quick else [100_000, 1_000_000] + ([10_000_000] if args.full else [])
    seed_rows = 5_000 if args.quick else 20_000
    kinds = ["duckdb"] + ([] if args.no_postgres else ["postgres"])
    work = Path(tempfile.mkdtemp(prefix="wl-bench-files-"))
    seed_file = work / f"LP_seed_{seed_rows}.csv"
    make_lp(seed_file, seed_rows)
    results = []
    if not args.no_postgres:
        seed = measure("seed", seed_file)
        seed_rate = seed["rows"] / seed["seconds"]
        results.append(("seed (DictReader + ORM, PostgreSQL)", seed_rows, seed, 1.0))
    else:
        seed_rate = float("nan")
    for size in sizes:
        path = work / f"LP_bench_{size}.csv"
        make_lp(path, size)
        for kind in kinds:
            r = measure(kind, path)
            rate = r["rows"] / r["seconds"]
            results.append((f"wattlake → {kind}", size, r, rate / seed_rate))
        path.unlink()
    print(
        f"\n{'path':<38} {'rows':>11} {'seconds':>9} {'rows/s':>12} {'x seed':>8} {'peak RSS MB':>12}"
    )
    for name, size, r, ratio in results:
        rate = r["rows"] / r["seconds"]
        print(
            f"{name:<38} {size:>11,} {r['seconds']:>9.2f} {rate:>12,.0f} {ratio:>8.1f} {r['rss_mb']:>12.0f}"
        )


if __name__ == "__main__":
    main()
