"""CLI start-up: ``wattlake --help`` and a 20k-row meter-file ingest, median wall time of
subprocesses (as a user runs them), this checkout against ``--baseline-src`` in the same run.

    .venv/bin/python benchmarks/startup.py [--baseline-src OTHER/src] [--runs 10]

Compile bytecode first (``make sync`` does) or both sides pay compiling every import.
Also lists which heavy libraries each command imported. Deletes its temporary folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import Row, emit, peak_rss_mb

from meter_files import make_lp

HEAVY = ("pandas", "pyarrow", "duckdb", "sqlglot", "fsspec", "pydantic_settings", "fastapi")
PROBE = (
    "import sys\nsys.argv = {argv!r}\nimport wattlake.cli as c\n"
    "try:\n    c.main()\nexcept SystemExit:\n    pass\n"
    "print('IMPORTED', ','.join(m for m in {heavy!r} if m in sys.modules))\n"
)


def timed(cmd: list[str], env: dict[str, str], runs: int, fresh_home: Path | None) -> float:
    xs = []
    for i in range(runs):
        if fresh_home is not None:
            env = {**env, "WATTLAKE_HOME": str(fresh_home / f"h{i}")}
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True, check=False)
        xs.append(time.perf_counter() - t0)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.decode()[-2000:])
    return statistics.median(xs)


def imported(argv: list[str], env: dict[str, str]) -> str:
    code = PROBE.format(argv=argv, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    lines = [x for x in out.stdout.splitlines() if x.startswith("IMPORTED")]
    return lines[-1].removeprefix("IMPORTED ") if lines else "?"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--baseline-src")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--quick", action="store_true", help="3 runs each (make bench)")
    args = p.parse_args()
    if args.quick:
        args.runs = 3
    tmp = Path(tempfile.mkdtemp(prefix="wl-bench-startup-"))
    try:
        lp = tmp / "lp_20k.csv"
        make_lp(lp, 20_000)
        base = {k: v for k, v in os.environ.items() if not k.startswith("WATTLAKE_")}
        variants = [("baseline", args.baseline_src)] if args.baseline_src else []
        variants.append(("this checkout", None))
        py = sys.executable
        for label, src in variants:
            env = {**base, "WATTLAKE_HOME": str(tmp / "probe")}
            if src:
                env["PYTHONPATH"] = src
            help_s = timed([py, "-m", "wattlake.cli", "--help"], env, args.runs, None)
            ingest = [py, "-m", "wattlake.cli", "ingest", "meter-files", str(lp)]
            ingest_s = timed(ingest, env, args.runs, tmp / label.replace(" ", "_"))
            print(f"{label:14} --help {help_s:.3f} s  ingest 20k rows {ingest_s:.3f} s")
            print(f"{'':14} --help imported: {imported(['wattlake', '--help'], env) or 'none'}")
            print(f"{'':14} ingest imported: {imported(['wattlake', *ingest[3:]], env)}")
            if src is None:
                bare = timed([py, "-c", "pass"], env, args.runs, None)
                emit(Row("wattlake --help", f"{help_s:.2f} s", f"python -c pass {bare:.2f} s",
                         bare / help_s, peak_rss_mb()))  # fmt: skip
                emit(Row("ingest 20k meter rows (CLI, start-up included)", f"{ingest_s:.2f} s",
                         "goal 2 s", 2.0 / ingest_s, peak_rss_mb()))  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
