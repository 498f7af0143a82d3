"""Benchmark: parse OASIS LMP zips with wattlake's parser and with pandas.

The baseline is idiomatic pandas: ``read_csv(usecols=…, engine="pyarrow")`` of the columns
needed, ``to_datetime(format="ISO8601", utc=True)`` of the ``*_GMT`` columns, then ``pivot`` of
LMP_TYPE into columns. The gridstatus approach (caiso-oasis.md §5: default ``read_csv``, format
guessing, conversion to US/Pacific, ``pivot_table``) is printed too, for reference only. All
start from the same zip bytes and end with one row per (node, interval) holding LMP and its
components. The summary row's ratio is against idiomatic pandas, whatever it is.

Cases: the real all-APNode DAM day in ../shared/samples/caiso (162,848 CSV rows, skipped if
absent) and larger all-node days made by the OASIS stand-in's generator.

    .venv/bin/python benchmarks/caiso_lmp.py           # full run
    .venv/bin/python benchmarks/caiso_lmp.py --quick   # a short run
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, emit, peak_rss_mb

from wattlake.parsing import FileReport
from wattlake.sims.oasis import default_nodes, generate_csv, zip_one
from wattlake.sources.caiso.parse import parse_oasis_zip

SAMPLE = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "samples"
    / "caiso"
    / "oasis_PRC_LMP_DAM_v1_ALL_APNODES_2020-01-02Z.zip"
)
PRICE_COLUMNS = ("MW", "VALUE", "PRC")
KEYS = ("INTERVALSTARTTIME_GMT", "INTERVALENDTIME_GMT", "NODE")


def ours(data: bytes) -> int:
    report = FileReport("bench")
    rows = sum(t.num_rows for _name, t in parse_oasis_zip(io.BytesIO(data), report))
    assert report.rows_rejected == 0, report.rejects[:3]
    return rows


def pandas_way(data: bytes) -> int:
    """Idiomatic pandas: only the needed columns, pyarrow's CSV reader, an explicit format."""
    frames = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in [n for n in zf.namelist() if n.endswith(".csv")]:
            with zf.open(name) as f:
                header = f.readline().decode().strip().split(",")
            price = next(c for c in PRICE_COLUMNS if c in header)
            cols = [*KEYS, "LMP_TYPE", price]
            with zf.open(name) as f:
                df = pd.read_csv(f, usecols=cols, engine="pyarrow")
            frames.append(df.rename(columns={price: "PRICE"}))
    df = pd.concat(frames) if len(frames) > 1 else frames[0]
    for col in KEYS[:2]:
        df[col] = pd.to_datetime(df[col], format="ISO8601", utc=True)
    wide = df.pivot(index=list(KEYS), columns="LMP_TYPE", values="PRICE").reset_index()
    wide = wide.rename(columns={"MCE": "Energy", "MCC": "Congestion", "MCL": "Loss", "MGHG": "GHG"})
    return len(wide)


def gridstatus_way(data: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        frames = [pd.read_csv(zf.open(name)) for name in zf.namelist() if name.endswith(".csv")]
    df = pd.concat(frames) if len(frames) > 1 else frames[0]
    for col in [c for c in df.columns if c.endswith("_GMT")]:
        df[col] = pd.to_datetime(df[col], utc=True).dt.tz_convert("US/Pacific")
    df = df.sort_values("INTERVALSTARTTIME_GMT")
    price = next(c for c in PRICE_COLUMNS if c in df.columns)
    wide = df.pivot_table(
        index=["INTERVALSTARTTIME_GMT", "INTERVALENDTIME_GMT", "NODE"],
        columns="LMP_TYPE",
        values=price,
        aggfunc="first",
    ).reset_index()
    wide = wide.rename(columns={"MCE": "Energy", "MCC": "Congestion", "MCL": "Loss", "MGHG": "GHG"})
    return len(wide)


def timed(fn: Callable[[bytes], int], data: bytes, repeats: int) -> tuple[float, int]:
    """Median wall time in seconds over ``repeats`` runs (after one warm-up) and the row count."""
    rows = fn(data)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(data)
        times.append(time.perf_counter() - t)
    return statistics.median(times), rows


def generated(nodes: int) -> tuple[str, bytes]:
    start, end = datetime(2026, 1, 15, 8, tzinfo=UTC), datetime(2026, 1, 16, 8, tzinfo=UTC)
    csv = generate_csv("DAM", start, end, default_nodes(nodes))
    return f"sim DAM day, {nodes} nodes", zip_one("generated.csv", csv, start)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer and smaller cases, fewer repeats")
    args = ap.parse_args(argv)
    repeats = 2 if args.quick else 5
    cases: list[tuple[str, bytes]] = []
    if SAMPLE.exists():
        cases.append(("real OASIS DAM all APNodes", SAMPLE.read_bytes()))
    else:
        print(f"(real sample not found at {SAMPLE}; skipping it)")
    for n in (2_000,) if args.quick else (4_000, 10_000):
        cases.append(generated(n))
    head = f"{'case':<32} {'csv rows':>10} {'ours s':>8} {'ours rows/s':>12} "
    print(head + f"{'pandas s':>9} {'pandas rows/s':>14} {'ratio':>7} {'gridstatus s':>13}")
    for name, data in cases:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            csv_rows = sum(zf.read(n).count(b"\n") - 1 for n in zf.namelist())
        t_ours, wide_ours = timed(ours, data, repeats)
        t_pd, wide_pd = timed(pandas_way, data, repeats)
        t_gs, wide_gs = timed(gridstatus_way, data, max(1, repeats // 2))
        assert wide_ours == wide_pd == wide_gs, (wide_ours, wide_pd, wide_gs)
        print(
            f"{name:<32} {csv_rows:>10,} {t_ours:>8.3f} {csv_rows / t_ours:>12,.0f} "
            f"{t_pd:>9.3f} {csv_rows / t_pd:>14,.0f} {t_pd / t_ours:>6.2f}x {t_gs:>13.3f}"
        )
        emit(Row(f"CAISO LMP parse ({name})", f"{csv_rows / t_ours:,.0f} rows/s",
                 f"idiomatic pandas {csv_rows / t_pd:,.0f} rows/s", t_pd / t_ours,
                 peak_rss_mb()))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
