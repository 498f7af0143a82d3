"""Wind SCADA benchmark: 10-minute aggregation and target load, ours against the original's way.

Data: one year of 1-minute samples for 50 turbines x 3 signals (wind speed, power, ambient
temperature) = 78.8M samples, generated day by day (Weibull-like wind with a diurnal swing, a
power curve, a daily temperature cycle, ~0.3% missing minutes). Nothing holds more than a day.

* Aggregation. Ours: the ``scada_10min`` gold model (the SQL the pipeline runs) on DuckDB over a
  day's ``scada_samples``. The original's way: per turbine and day, a pandas DataFrame indexed
  by timestamp, ``resample('10min').agg(['mean', 'min', 'max', 'std'])`` — the DataFrames are
  built before the clock starts (in the original they came from JSON, which costs more).
  Both give the same figures: the first day is compared to 1e-9.
* Target load. Ours: ``ScadaTarget.push_day`` per day (all turbines) into a fresh PostgreSQL database
  (binary COPY into staging + ``INSERT … ON CONFLICT``, one transaction each). The original's
  way: SQLAlchemy ORM, one ``session.add`` + ``commit`` per row, timed on a sample of rows spread
  over sampled days and scaled to the year (it would take hours).

Each measurement runs in a fresh interpreter so its peak RSS is its own.

    .venv/bin/python benchmarks/scada.py            # the year (our load: 30 days, scaled)
    .venv/bin/python benchmarks/scada.py --load-days 365   # ... loading the whole year
    .venv/bin/python benchmarks/scada.py --quick    # 50 turbines x 3 days
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

PG_URL = os.environ.get("WATTLAKE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
START = date(2024, 1, 1)
SIGNALS = ("wind_speed", "power", "ambient_temperature")
MINUTES = 1440


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def turbines(n: int) -> list[str]:
    return [f"WTG{i + 1:02d}" for i in range(n)]


def day_arrays(day_no: int, n_turbines: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values [turbine, signal, minute], present mask [turbine, minute], minute offsets)."""
    rng = np.random.default_rng(1_000_003 * day_no + 17)
    minute = np.arange(MINUTES)
    hour = minute / 60.0
    diurnal = 1.0 + 0.25 * np.sin((hour - 9) / 24 * 2 * np.pi)
    scale = rng.uniform(6, 10, size=(n_turbines, 1))
    wind = scale * rng.weibull(2.0, size=(n_turbines, MINUTES)) * diurnal
    wind += rng.normal(0, 0.3, size=wind.shape)
    wind = np.clip(wind, 0, None)
    cube = np.clip((wind - 3.0) / (12.0 - 3.0), 0, 1) ** 3
    power = np.where((wind >= 3.0) & (wind < 25.0), 2000.0 * cube, 0.0)
    season = 10 + 12 * np.sin((day_no - 100) / 365 * 2 * np.pi)
    temp = season + 5 * np.sin((hour - 8) / 24 * 2 * np.pi) + rng.normal(0, 0.2, (n_turbines, 1))
    temp = np.broadcast_to(temp, wind.shape)
    values = np.stack([wind, power, temp], axis=1)  # turbine, signal, minute
    present = rng.random((n_turbines, MINUTES)) >= 0.003
    return values, present, minute


def silver_day(day_no: int, names: list[str]) -> pa.Table:
    """One day of ``scada_samples`` rows for every turbine and signal."""
    values, present, minute = day_arrays(day_no, len(names))
    nt, ns = len(names), len(SIGNALS)
    mask = np.repeat(present[:, None, :], ns, axis=1).ravel()
    t_idx = np.repeat(np.arange(nt), ns * MINUTES)[mask]
    s_idx = np.tile(np.repeat(np.arange(ns), MINUTES), nt)[mask]
    base = np.datetime64(START + timedelta(days=day_no), "us")
    ts = (base + np.tile(minute, nt * ns).astype("timedelta64[m]"))[mask]
    return pa.table(
        {
            "turbine": pc.take(pa.array(names), pa.array(t_idx)),
            "signal": pc.take(pa.array(SIGNALS), pa.array(s_idx)),
            "ts_utc": pa.array(ts).cast(pa.timestamp("us", tz="UTC")),
            "value": pa.array(values.ravel()[mask]),
        }
    )


def pandas_frames(day_no: int, names: list[str]) -> Iterator[Any]:
    """The original's input: per turbine a DataFrame indexed by timestamp, one column each."""
    import pandas as pd

    values, present, minute = day_arrays(day_no, len(names))
    base = pd.Timestamp(START + timedelta(days=day_no))
    index = base + pd.to_timedelta(minute, unit="min")
    for t in range(len(names)):
        keep = present[t]
        yield pd.DataFrame(
            {s: values[t, i][keep] for i, s in enumerate(SIGNALS)}, index=index[keep]
        )


class Ours:
    """The gold model on DuckDB over one day's silver rows."""

    def __init__(self) -> None:
        import duckdb

        from wattlake.engines import load_model

        self.con = duckdb.connect(config={"memory_limit": "256MB"})
        self.sql = load_model("scada_10min").sql

    def aggregate(self, day: pa.Table) -> pa.Table:
        self.con.register("scada_samples", day)
        try:
            return self.con.sql(self.sql).to_arrow_table()
        finally:
            self.con.unregister("scada_samples")


def run_agg_ours(n_turbines: int, days: int) -> dict[str, float]:
    names, ours = turbines(n_turbines), Ours()
    samples, seconds, buckets = 0, 0.0, 0
    for d in range(days):
        day = silver_day(d, names)
        t0 = time.perf_counter()
        gold = ours.aggregate(day)
        seconds += time.perf_counter() - t0
        samples += day.num_rows
        buckets += gold.num_rows
    return {"samples": samples, "seconds": seconds, "buckets": buckets, "rss_mb": rss_mb()}


def run_agg_pandas(n_turbines: int, days: int) -> dict[str, float]:
    names = turbines(n_turbines)
    samples, seconds, buckets = 0, 0.0, 0
    for d in range(days):
        frames = list(pandas_frames(d, names))
        t0 = time.perf_counter()
        for frame in frames:
            out = frame.resample("10min").agg(["mean", "min", "max", "std"])
            buckets += len(out) * len(SIGNALS)
        seconds += time.perf_counter() - t0
        samples += sum(f.size for f in frames)
    return {"samples": samples, "seconds": seconds, "buckets": buckets, "rss_mb": rss_mb()}


def check_same(n_turbines: int) -> float:
    """Largest difference between ours and pandas on day 0 (all turbines, signals, stats)."""
    names, ours = turbines(n_turbines), Ours()
    gold = ours.aggregate(silver_day(0, names))
    got = {
        (r["turbine"], r["signal"], r["bucket_start_utc"].replace(tzinfo=None)): r
        for r in gold.to_pylist()
    }
    worst = 0.0
    for name, frame in zip(names, pandas_frames(0, names), strict=True):
        agg = frame.resample("10min").agg(["mean", "min", "max", "std"])
        for (sig, stat), series in agg.items():
            for ts, v in series.items():
                mine = got[(name, sig, ts.to_pydatetime())][stat]
                if v == v:  # not NaN
                    worst = max(worst, abs(mine - v))
                elif mine is not None:
                    return float("inf")
    return worst


def _pg_db() -> tuple[str, str]:
    import psycopg

    name = f"wl_bench_scada_{secrets.token_hex(4)}"
    with psycopg.connect(PG_URL, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    base = PG_URL.rsplit("/", 1)[0]
    return name, f"{base}/{name}"


def _drop_db(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _gold_by_turbine(ours: Ours, d: int, names: list[str]) -> Iterator[tuple[str, pa.Table]]:
    gold = ours.aggregate(silver_day(d, names))
    gold = gold.sort_by([("turbine", "ascending")])
    col = gold.column("turbine")
    for name in names:
        yield name, gold.filter(pc.equal(col, name))


def run_load_ours(n_turbines: int, days: int) -> dict[str, float]:
    from wattlake.sinks.scada_target import ScadaTarget

    names, ours = turbines(n_turbines), Ours()
    db, url = _pg_db()
    rows, seconds = 0, 0.0
    cols = dict.fromkeys(names, SIGNALS)
    try:
        with ScadaTarget(url) as target:
            for d in range(days):
                lo = datetime.combine(START + timedelta(days=d), datetime.min.time(), UTC)
                gold = ours.aggregate(silver_day(d, names))
                t0 = time.perf_counter()  # one transaction per day, as the pipeline pushes
                r = target.push_day(gold, cols, (lo, lo + timedelta(days=1)))
                seconds += time.perf_counter() - t0
                rows += r.rows
    finally:
        _drop_db(db)
    return {"rows": rows, "seconds": seconds, "rss_mb": rss_mb()}


def run_load_rowwise(n_turbines: int, days: int, sample_rows: int) -> dict[str, float]:
    """The original's load on ``sample_rows`` rows from days spread over the period."""
    from sqlalchemy import Column, DateTime, Float, ForeignKey, Integer, String, create_engine
    from sqlalchemy.orm import Session, declarative_base

    from wattlake.sinks.scada_target import long_rows

    base = declarative_base()

    class Signal(base):  # type: ignore[misc, valid-type]
        __tablename__ = "signal"
        id = Column(Integer, primary_key=True, index=True)
        name = Column(String, unique=True, index=True)

    class Data(base):  # type: ignore[misc, valid-type]
        __tablename__ = "data"
        timestamp = Column(DateTime, primary_key=True, index=True)
        signal_id = Column(Integer, ForeignKey("signal.id"), primary_key=True)
        value = Column(Float, nullable=False)

    names, ours = turbines(n_turbines), Ours()
    sampled = sorted({int(x) for x in np.linspace(0, days - 1, num=min(days, 3))})
    per_day = max(1, sample_rows // len(sampled))
    db, url = _pg_db()
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    rows, seconds = 0, 0.0
    try:
        base.metadata.create_all(engine)
        with Session(engine) as session:
            ids: dict[str, int] = {}
            for d in sampled:
                todo: list[tuple[datetime, str, float]] = []
                for name, gold in _gold_by_turbine(ours, d, names):
                    todo += long_rows(gold, name, SIGNALS)[1]
                    if len(todo) >= per_day:
                        break
                for _t, sig, _v in todo[:per_day]:
                    if sig not in ids:
                        s = Signal(name=sig)
                        session.add(s)
                        session.commit()
                        ids[sig] = s.id
                t0 = time.perf_counter()
                for t, sig, v in todo[:per_day]:  # one row, one commit: the original's loop
                    session.add(Data(timestamp=t, signal_id=ids[sig], value=v))
                    session.commit()
                seconds += time.perf_counter() - t0
                rows += len(todo[:per_day])
    finally:
        engine.dispose()
        _drop_db(db)
    return {"rows": rows, "seconds": seconds, "rss_mb": rss_mb()}


def measure(kind: str, *args: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--one", kind, *map(str, args)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="50 turbines x 3 days")
    ap.add_argument("--turbines", type=int, default=None)
    ap.add_argument("--days", type=int, default=None)
    ap.add_argument("--load-days", type=int, default=None, help="days loaded by ours, scaled [30]")
    ap.add_argument("--slow-rows", type=int, default=None, help="rows for the row-by-row load")
    ap.add_argument("--no-postgres", action="store_true", help="aggregation only")
    ap.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        kind, *nums = a.one
        n = [int(x) for x in nums]
        fn = {"agg-ours": run_agg_ours, "agg-pandas": run_agg_pandas,
              "load-ours": run_load_ours, "load-rowwise": run_load_rowwise}[kind]  # fmt: skip
        print(json.dumps(fn(*n)))
        return
    nt = a.turbines or 50
    days = a.days or (3 if a.quick else 365)
    load_days = min(a.load_days or 30, days)
    slow_rows = a.slow_rows or (500 if a.quick else 3000)
    total = nt * len(SIGNALS) * MINUTES * days
    print(f"SCADA benchmark: {nt} turbines x {len(SIGNALS)} signals x {days} days "
          f"(~{total / 1e6:.1f}M samples before ~0.3% missing minutes)")  # fmt: skip
    print(f"check: ours vs pandas on day 0, largest difference {check_same(min(nt, 10)):.2e}")
    print("(peak RSS: each measurement in its own process; generation not timed)")
    ours = measure("agg-ours", nt, days)
    theirs = measure("agg-pandas", nt, days)
    print(f"\n{'aggregation':<44} {'samples':>12} {'seconds':>9} {'samples/s':>12} "
          f"{'x pandas':>9} {'peak RSS MB':>12}")  # fmt: skip
    for label, r in (("ours: scada_10min model on DuckDB, per day", ours),
                     ("original: pandas resample per turbine-day", theirs)):  # fmt: skip
        rate = r["samples"] / r["seconds"]
        ratio = rate / (theirs["samples"] / theirs["seconds"])
        print(f"{label:<44} {r['samples']:>12,.0f} {r['seconds']:>9.2f} {rate:>12,.0f} "
              f"{ratio:>9.1f} {r['rss_mb']:>12.0f}")  # fmt: skip
    if a.no_postgres:
        return
    mine = measure("load-ours", nt, load_days)
    slow = measure("load-rowwise", nt, days, slow_rows)
    year_rows = mine["rows"] / load_days * days
    print(f"\n{'target load (PostgreSQL)':<44} {'rows':>12} {'seconds':>9} {'rows/s':>12} "
          f"{'x rowwise':>9} {'peak RSS MB':>12} {'period est. s':>14}")  # fmt: skip
    slow_rate = slow["rows"] / slow["seconds"]
    for label, r in ((f"ours: binary COPY + upsert, {load_days} days", mine),
                     ("original: ORM row + commit (sampled)", slow)):  # fmt: skip
        rate = r["rows"] / r["seconds"]
        print(f"{label:<44} {r['rows']:>12,.0f} {r['seconds']:>9.2f} {rate:>12,.0f} "
              f"{rate / slow_rate:>9.1f} {r['rss_mb']:>12.0f} {year_rows / rate:>14,.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
