"""Meter-files ingest benchmark: wattlake (DuckDB, PostgreSQL) against honest baselines.

Baselines, each on the same generated LP file(s) in the same run:

* the seed's way on the stack the original app pinned (Flask app with SQLAlchemy 2.0.21 and
  psycopg2 2.9.7, seed-systems.md B.1): ``csv.DictReader`` and one ORM object per row,
  committing per file, into PostgreSQL — on a file of ``--seed-rows`` rows (200k by default);
* the floor for DuckDB: pyarrow's multi-threaded ``read_csv`` and DuckDB SQL building the same
  silver table (dd/mm/YYYY parsing, UTC instants, local day) and gold summaries, with none of
  our checks, rejects, lineage, bronze copy or run log.

Every path runs in a fresh interpreter (so peak RSS is its own), ours and the baselines
alternating, ``--repeat`` times (3); figures are median [min–max]. ``--before SRC`` adds the
same runs with the wattlake package found under SRC (e.g. an unpacked older commit's ``src``),
for before/after figures from one run. Each process is warmed up first (a 1,000-row ingest:
imports and first calls paid), so the figures are the ingest's own throughput; ``--cold``
adds the first ingest of a fresh process on DuckDB (imports done, first calls not, empty
warehouse), which is what one ``wattlake ingest`` pays; ``--overlap`` adds a load into DuckDB
already holding the file's first 1,000 keys (a re-delivered export: those keys are upserted,
the rest must still stream). Temporary folders are deleted.

    .venv/bin/python benchmarks/meter_files.py            # 1M rows (+ seed way on 200k)
    .venv/bin/python benchmarks/meter_files.py --full     # adds 100k and 10M-row files
    .venv/bin/python benchmarks/meter_files.py --quick    # 50k rows, seed way on 20k, 1 repeat
    .venv/bin/python benchmarks/meter_files.py --cold --before OLD/src --no-postgres --no-seed
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Figure, Row, emit, peak_rss_mb

PG_URL = os.environ.get("WATTLAKE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
HEADER = "MeterPoint Code,Serial Number,Plant Code,Date/Time,Data Type,Data Value,Units,Status"
TYPES = ["Import Wh Total", "Import varh Total", "Export Wh Total", "Export varh Total"]


MEASURED_METER = 210_000_000  # the first meter of the measured files
OTHER_METER = 100_000_000  # the first meter of warm-ups that share no key with them


def make_lp(path: Path, rows: int, seed: int = 0, first_meter: int = MEASURED_METER) -> None:
    """An LP file of ``rows`` rows: meters x 4 data types x 15-minute intervals."""
    rng = np.random.default_rng(seed)
    per_meter = 4 * 96 * 30  # 30 days per meter
    with path.open("wb") as out:
        out.write((HEADER + "\n").encode())
        done = 0
        while done < rows:
            n = min(1_000_000, rows - done)
            i = np.arange(done, done + n)
            meter = first_meter + i // per_meter
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


KEYED = "postgres, table holding 300k rows"  # --pg-keyed: the warm-up leaves 300k rows
COLD = "duckdb, first ingest in a fresh process"  # --cold: no warm-up
OVERLAP = "duckdb, its first rows already loaded"  # --overlap: the warm-up is the file's start


def run_ours(engine_kind: str, path: str) -> dict[str, float]:
    from wattlake.config import Settings
    from wattlake.engines import connect
    from wattlake.lake import Lake
    from wattlake.pipeline import Runner
    from wattlake.registry import get_pipeline

    tmp = Path(tempfile.mkdtemp(prefix="wl-bench-"))
    schema = f"wl_bench_{secrets.token_hex(4)}"
    try:
        warm_rows = {KEYED: 300_000, COLD: 0}.get(engine_kind, 1000)
        first_meter = MEASURED_METER if engine_kind == OVERLAP else OTHER_METER
        engine_kind = {KEYED: "postgres", COLD: "duckdb", OVERLAP: "duckdb"}.get(
            engine_kind, engine_kind
        )
        engine = (
            connect(f"duckdb:///{tmp}/w.duckdb", duckdb_memory_limit=Settings().duckdb_memory_limit)
            if engine_kind == "duckdb"
            else connect(PG_URL, schema=schema)
        )
        runner = Runner(engine, Lake(str(tmp / "lake")), Settings(home=tmp))
        # Warm the process first (imports, pyarrow's kernel registry, pandas that pyarrow pulls
        # in on first use: ~1-2 s once per process), so the figure is the ingest's own
        # throughput. Other meters than the measured file's: its load is a first load. With
        # --pg-keyed the table then holds more rows than a batch: PostgreSQL keeps its key.
        # With --cold there is no warm-up: the first ingest of a process, as `wattlake
        # ingest` runs it (imports done, first calls not), into an empty warehouse. With
        # --overlap the warm-up holds the measured file's first 1,000 keys (other values): a
        # re-delivered export whose start is loaded already, as the original benchmark ran.
        if warm_rows:
            warm = tmp / "LP_warmup.csv"
            make_lp(warm, warm_rows, seed=1, first_meter=first_meter)
            runner.ingest_files(get_pipeline("meter-files"), [warm])
        cpu0, t0 = _cpu(), time.perf_counter()
        run, reports = runner.ingest_files(get_pipeline("meter-files"), [path])
        seconds, cpu = time.perf_counter() - t0, _cpu() - cpu0
        rows = reports[0].rows_loaded
        assert reports[0].rows_rejected == 0 and rows > 0, reports
        silver = (
            engine.query(
                "SELECT seconds FROM run_steps WHERE run_id = $r AND step = 'silver'",
                {"r": run.run_id},
            )
            .column(0)[0]
            .as_py()
        )
        if engine_kind == "postgres":
            engine.drop_schema()  # type: ignore[attr-defined]
        engine.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"rows": rows, "seconds": seconds, "silver": silver, "cpu": cpu, "rss_mb": peak_rss_mb()}


def _cpu() -> float:
    """CPU seconds (user + system, all threads) this process has used: on a shared machine
    the load-robust companion of wall time."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_floor(path: str) -> dict[str, float]:
    """pyarrow read + DuckDB build of the same silver table and gold models."""
    import duckdb

    from wattlake.config import Settings
    from wattlake.engines.base import create_table_sql, load_model
    from wattlake.sources.meter_files.schema import METER_READS, METER_REGISTERS

    tmp = Path(tempfile.mkdtemp(prefix="wl-bench-floor-"))
    try:
        limit = Settings().duckdb_memory_limit
        con = duckdb.connect(
            str(tmp / "w.duckdb"),
            config={"preserve_insertion_order": False, "memory_limit": limit},
        )
        for spec in (METER_READS, METER_REGISTERS):  # the gold models read both
            con.execute(create_table_sql(spec, "duckdb", primary_key=False))
        tz = Settings().meter_timezone

        def build(csv_path: str) -> None:
            raw = pacsv.read_csv(
                csv_path,
                read_options=pacsv.ReadOptions(column_names=list("msptdvuS"), skip_rows=1),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys("msptduS", pa.string())
                ),
            )
            con.register("raw", raw)
            con.execute(
                f"""INSERT INTO meter_reads BY NAME SELECT m AS meter_code, s AS serial,
                p AS plant_code, strptime(t, '%d/%m/%Y %H:%M:%S') AS reading_local,
                timezone('{tz}', strptime(t, '%d/%m/%Y %H:%M:%S')) AS reading_utc,
                CAST(strptime(t, '%d/%m/%Y %H:%M:%S') AS DATE) AS local_date, d AS data_type,
                v AS value, u AS units, S AS status, 'LP' AS layout, 'f.csv' AS _source_file
                FROM raw"""
            )
            con.unregister("raw")
            for name in ("meter_daily", "meter_daily_mixed"):
                con.execute(f"CREATE OR REPLACE TABLE {name} AS {load_model(name).sql}")

        warm = tmp / "LP_warmup.csv"  # warmed like ours: imports and first calls paid before
        make_lp(warm, 1000, seed=1, first_meter=OTHER_METER)
        build(str(warm))
        con.execute("DELETE FROM meter_reads")
        cpu0, t0 = _cpu(), time.perf_counter()
        build(path)
        cpu = _cpu() - cpu0
        seconds = time.perf_counter() - t0
        rows = con.execute("SELECT count(*) FROM meter_reads").fetchall()[0][0]
        con.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"rows": rows, "seconds": seconds, "cpu": cpu, "rss_mb": peak_rss_mb()}


def run_seed(path: str) -> dict[str, float]:
    """The seed's way: DictReader + one SQLAlchemy ORM object per row, commit per file, on the
    original's stack (SQLAlchemy 2.0.21, psycopg2)."""
    import csv
    from datetime import datetime

    import sqlalchemy
    from sqlalchemy import Column, DateTime, Float, Integer, String, create_engine
    from sqlalchemy.orm import Session, declarative_base

    assert sqlalchemy.__version__ == "2.0.21", sqlalchemy.__version__
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

    engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg2://"))
    base.metadata.create_all(engine)
    try:
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
    finally:
        base.metadata.drop_all(engine)
    return {"rows": rows, "seconds": seconds, "rss_mb": peak_rss_mb()}


def measure(kind: str, path: Path, before: str | None = None) -> dict[str, float]:
    """Run one measurement in a fresh interpreter so peak RSS is its own; ``before``: with
    the wattlake package under that folder instead of this checkout's."""
    env = dict(os.environ)
    if before:
        env["PYTHONPATH"] = before + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, __file__, "--one", kind, str(path)],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _rate(runs: list[dict[str, float]], key: str = "seconds") -> Figure:
    return Figure(tuple(r["rows"] / r[key] for r in runs))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--full", action="store_true", help="add 100k and 10M-row files")
    ap.add_argument("--repeat", type=int, default=None, help="runs of each path (default 3)")
    ap.add_argument("--seed-rows", type=int, default=None, help="rows for the seed's way")
    ap.add_argument("--before", metavar="SRC", help="also run the wattlake package under SRC")
    ap.add_argument("--one", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--no-seed", action="store_true", help="skip the seed's way (slow)")
    ap.add_argument("--pg-keyed", action="store_true",
                    help="also load into a PostgreSQL table already holding 300k rows")  # fmt: skip
    ap.add_argument("--cold", action="store_true",
                    help="also time the first ingest of a fresh process (no warm-up) on DuckDB")  # fmt: skip
    ap.add_argument("--overlap", action="store_true",
                    help="also load into DuckDB holding the file's first 1,000 keys already")  # fmt: skip
    args = ap.parse_args()
    if args.one:
        kind, path = args.one
        run = {"seed": run_seed, "floor": run_floor}.get(kind)
        print(json.dumps(run(path) if run else run_ours(kind, path)))
        return

    sizes = [50_000] if args.quick else [1_000_000]
    if args.full:
        sizes = [100_000, *sizes, 10_000_000]
    repeat = args.repeat or (1 if args.quick else 3)
    seed_rows = args.seed_rows or (20_000 if args.quick else 200_000)
    engines = ["duckdb"] + ([] if args.no_postgres else ["postgres"])
    paths = [(f"wattlake → {e}", e, None) for e in engines]
    if args.before:
        paths += [(f"before → {e}", e, args.before) for e in engines]
    if args.pg_keyed and not args.no_postgres:  # the keyed path (no bulk load)
        paths += [(f"wattlake → {KEYED}", KEYED, None)]
        paths += [(f"before → {KEYED}", KEYED, args.before)] if args.before else []
    if args.cold:  # what one `wattlake ingest` pays: first calls included
        paths += [(f"wattlake → {COLD}", COLD, None)]
        paths += [(f"before → {COLD}", COLD, args.before)] if args.before else []
    if args.overlap:  # the stored keys are upserted; the rest must still stream
        paths += [(f"wattlake → {OVERLAP}", OVERLAP, None)]
        paths += [(f"before → {OVERLAP}", OVERLAP, args.before)] if args.before else []
    print("load average at the start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    work = Path(tempfile.mkdtemp(prefix="wl-bench-files-"))
    table: list[tuple[str, int, list[dict[str, float]]]] = []
    try:
        seed: list[dict[str, float]] = []
        for size in sizes:
            path = work / f"LP_bench_{size}.csv"
            make_lp(path, size)
            runs: dict[str, list[dict[str, float]]] = {}
            for _ in range(repeat):  # alternate, so every path sees the same machine load
                for name, kind, before in [
                    *paths,
                    ("floor: pyarrow read + DuckDB build", "floor", None),
                ]:
                    runs.setdefault(name, []).append(measure(kind, path, before))
                    print(
                        f"  {name:<36} {size:>11,} {runs[name][-1]['seconds']:8.2f} s", flush=True
                    )
            table += [(name, size, r) for name, r in runs.items()]
            _summarise(size, runs)
            path.unlink()
        if not (args.no_postgres or args.no_seed):
            seed_file = work / f"LP_seed_{seed_rows}.csv"
            make_lp(seed_file, seed_rows)
            for _ in range(repeat):
                seed.append(measure("seed", seed_file))
                print(f"  seed way {seed_rows:>11,} {seed[-1]['seconds']:8.2f} s", flush=True)
            name = "seed: DictReader + ORM (SQLAlchemy 2.0.21, psycopg2)"
            table.append((name, seed_rows, seed))
            big = max(sizes)
            for engine in engines:
                ours = next(r for n, sz, r in table if n == f"wattlake → {engine}" and sz == big)
                ratio = _rate(ours).median / _rate(seed).median
                emit(Row(f"meter files → {engine} ({big:,} rows) vs seed way ({seed_rows:,})",
                         f"{_rate(ours)} rows/s", f"seed way {_rate(seed)} rows/s", ratio,
                         max(r["rss_mb"] for r in ours)))  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("load average at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"\n{'path':<52} {'rows':>11} {'seconds':>20} {'rows/s':>26} {'silver s':>20} "
          f"{'CPU s':>20} {'peak RSS MB':>12}")  # fmt: skip
    for name, size, runs in table:
        secs = Figure(tuple(r["seconds"] for r in runs))
        silver, cpu = (
            str(Figure(tuple(r[k] for r in runs))) if k in runs[0] else ""
            for k in ("silver", "cpu")
        )
        rss = max(r["rss_mb"] for r in runs)
        print(f"{name:<52} {size:>11,} {secs!s:>20} {_rate(runs)!s:>26} {silver:>20} {cpu:>20} {rss:>12.0f}")  # fmt: skip


def _summarise(size: int, runs: dict[str, list[dict[str, float]]]) -> None:
    """Summary rows for one file size: DuckDB against its floor, and before → after."""
    floor_runs = runs["floor: pyarrow read + DuckDB build"]
    floor = _rate(floor_runs)
    for name, r in runs.items():
        if name == "wattlake → duckdb":  # both warmed up
            emit(Row(f"meter files → duckdb ({size:,} rows) vs floor", f"{_rate(r)} rows/s",
                     f"pyarrow read + DuckDB build {floor} rows/s",
                     _rate(r).median / floor.median, max(x["rss_mb"] for x in r)))  # fmt: skip
            # CPU per million rows: the figure a busy machine (other processes taking cores)
            # distorts least
            cpu, cpu_floor = (Figure(tuple(x["cpu"] * 1e6 / x["rows"] for x in v))
                              for v in (r, floor_runs))  # fmt: skip
            emit(Row("  CPU seconds per 1M rows → duckdb: ours vs floor", f"{cpu} s",
                     f"floor {cpu_floor} s", cpu_floor.median / cpu.median,
                     max(x["rss_mb"] for x in r)))  # fmt: skip
        if name.startswith("before → "):
            engine = name.split("→ ")[1]
            now = runs[f"wattlake → {engine}"]
            emit(Row(f"meter files → {engine} ({size:,} rows): now vs before", f"{_rate(now)} rows/s",
                     f"before {_rate(r)} rows/s", _rate(now).median / _rate(r).median,
                     max(x["rss_mb"] for x in now)))  # fmt: skip
            cpu_now, cpu_before = (Figure(tuple(x["cpu"] for x in v)) for v in (now, r))
            emit(Row(f"  CPU seconds (user+sys) → {engine}: now vs before", f"{cpu_now} s",
                     f"before {cpu_before} s", cpu_before.median / cpu_now.median,
                     max(x["rss_mb"] for x in now)))  # fmt: skip
            emit(Row(f"  silver step (parse + write) → {engine}: now vs before",
                     f"{Figure(tuple(x['silver'] for x in now))} s",
                     f"before {Figure(tuple(x['silver'] for x in r))} s",
                     Figure(tuple(x["silver"] for x in r)).median
                     / Figure(tuple(x["silver"] for x in now)).median,
                     max(x["rss_mb"] for x in now)))  # fmt: skip


if __name__ == "__main__":
    main()
