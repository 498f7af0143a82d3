"""Benchmark: the streaming ESPI parser against the old eemeter way, on generated feeds.

Feeds of 10^5, 10^6 and 10^7 readings (``sources/espi/generate.py``: PG&E-like layout, 15-minute
electricity, one block per local day, a ReadingQuality on every reading; 100 usage points so the
10^7 feed is ~2.7 years each) are parsed, each in a fresh process whose peak RSS (ru_maxrss) is
reported, by

* ``ours``: ``parse_espi`` to Arrow batches (the silver ``interval_reads`` columns, fully typed:
  UTC and local timestamps, value × 10^n, quality, …), nothing kept;
* ``dom``: what eemeter's ``ESPIUsageParser`` did — ``lxml.etree.parse`` of the whole document,
  then walk the entries and each IntervalReading with ``find``/``findtext``, one dict (start
  datetime, duration, value × 10^multiplier, quality) per reading, kept in a list.

Seconds are wall-clock; ``CPU s`` is the process's CPU time (``time.process_time``), the
fairer figure on a shared machine. The ratio is wall-clock DOM / ours. The DOM way is skipped
for 10^7 readings (a whole-DOM of a 1.9 GB feed needs tens of GB).

    .venv/bin/python benchmarks/espi_parse.py            # 1e5, 1e6, 1e7
    .venv/bin/python benchmarks/espi_parse.py --quick    # 1e5, 1e6
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
from pathlib import Path

A = "{http://www.w3.org/2005/Atom}"
E = "{http://naesb.org/espi}"


def run_ours(path: str) -> dict[str, float]:
    import pyarrow as pa

    from wattlake.parsing import FileReport
    from wattlake.sources.espi.parse import parse_espi

    pa.array([1])  # library start-up (pyarrow imports pandas on first use) is not parsing
    report = FileReport(path)
    c0, t0 = time.process_time(), time.perf_counter()
    n = 0
    with open(path, "rb") as fh:
        for name, table in parse_espi(fh, report, zone="America/Los_Angeles"):
            if name == "interval_reads":
                n += table.num_rows
    return {
        "seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0,
        "readings": n, "rejected": report.rows_rejected,
    }  # fmt: skip


def run_dom(path: str) -> dict[str, float]:
    from datetime import UTC, datetime, timedelta

    from lxml import etree

    c0, t0 = time.process_time(), time.perf_counter()
    tree = etree.parse(path)
    multipliers: dict[str, int] = {}
    out: list[dict[str, object]] = []
    for entry in tree.getroot().iter(A + "entry"):
        content = entry.find(A + "content")
        if content is None:
            continue
        rt = content.find(E + "ReadingType")
        if rt is not None:
            multipliers["last"] = int(rt.findtext(E + "powerOfTenMultiplier") or 0)
        for block in content.findall(E + "IntervalBlock"):
            mult = 10.0 ** multipliers.get("last", 0)
            for r in block.findall(E + "IntervalReading"):
                start = int(r.findtext(f"{E}timePeriod/{E}start") or 0)
                duration = int(r.findtext(f"{E}timePeriod/{E}duration") or 0)
                out.append({
                    "start": datetime.fromtimestamp(start, UTC),
                    "duration": timedelta(seconds=duration),
                    "value": int(r.findtext(E + "value") or 0) * mult,
                    "reading_quality": r.findtext(f"{E}ReadingQuality/{E}quality"),
                })  # fmt: skip
    return {
        "seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0,
        "readings": len(out), "rejected": 0,
    }  # fmt: skip


def child(which: str, path: str) -> None:
    result = (run_ours if which == "ours" else run_dom)(path)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(which: str, path: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", which, str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--child", nargs=2)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    from wattlake.sources.espi.generate import write_feed_file

    sizes = [100_000, 1_000_000] + ([] if args.quick else [10_000_000])
    tmp = Path(tempfile.mkdtemp(prefix="wattlake-espi-bench-"))
    try:
        print(f"{'readings':>10} {'MB':>7} {'way':>5} {'seconds':>8} {'readings/s':>11} "
              f"{'CPU s':>7} {'per CPU-s':>10} {'peak RSS MB':>11} {'ratio':>6}")  # fmt: skip
        for size in sizes:
            path = tmp / f"feed_{size}.xml"
            n = write_feed_file(path, size, usage_points=100, interval_s=900)
            mb = path.stat().st_size / 1e6
            ours = measure("ours", path)
            assert ours["readings"] == n and ours["rejected"] == 0, ours
            dom = measure("dom", path) if size <= 1_000_000 else None
            if dom is not None:
                assert dom["readings"] == n, dom
            for way, r in (("ours", ours), ("dom", dom)):
                if r is None:
                    print(f"{n:>10} {mb:>7.0f} {'dom':>5} {'skipped (whole DOM does not fit)':>40}")
                    continue
                ratio = (dom["seconds"] / ours["seconds"]) if dom and way == "ours" else None
                print(
                    f"{n:>10} {mb:>7.0f} {way:>5} {r['seconds']:>8.2f} "
                    f"{n / r['seconds']:>11,.0f} {r['cpu']:>7.2f} {n / r['cpu']:>10,.0f} "
                    f"{r['peak_rss_mb']:>11.0f} {(f'{ratio:.1f}x' if ratio else ''):>6}",
                    flush=True,
                )
            path.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
