"""kill -9 during a load leaves all of a file or none of it (DuckDB, real subprocesses).

A child process loads a ~130k-row LP file (parsed in 1 MB blocks streamed into one INSERT, so
rows reach the database file before the commit) into a DuckDB warehouse that already holds an earlier file; the test kills it
with SIGKILL at random points of the load (bounded trials, seeded), reopens the warehouse and
checks: the earlier file is intact, and the new one is either wholly loaded and marked in the
manifest, or absent and unmarked.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from wattlake.engines import connect
from wattlake.sources.meter_files.generate import write_lp

CHILD = """
import sys
from wattlake.config import Settings
from wattlake.engines import connect
from wattlake.lake import Lake
from wattlake.pipeline import Runner
from wattlake.registry import get_pipeline

import wattlake.pipeline
import wattlake.sources.meter_files.parse as parse

# Small blocks (about 12k rows): many batches in the one transaction, so the kills land
# between and inside them (DuckDB streams them into one INSERT; other engines upsert 25k rows).
parse.BLOCK_SIZE = 1 << 20
wattlake.pipeline.UPSERT_ROWS = 25_000
home, path = sys.argv[1], sys.argv[2]
engine = connect(f"duckdb:///{home}/w.duckdb")
runner = Runner(engine, Lake(f"{home}/lake"), Settings(home=home))
spec = get_pipeline("meter-files")
runner.setup(spec)
print("ready", flush=True)
runner.ingest_files(spec, [path])
engine.close()
print("done", flush=True)
"""
TRIALS = 4


def run_child(home: Path, path: Path, kill_after: float | None) -> tuple[bool, float]:
    """Run the child; SIGKILL it ``kill_after`` seconds after it is ready (None: let it end).
    Returns (it finished, seconds from ready to the end or the kill)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(home), str(path)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "WATTLAKE_HOME": str(home)},
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    t0 = time.monotonic()
    if kill_after is None:
        out = proc.stdout.read()
        assert proc.wait(timeout=300) == 0
        return "done" in out, time.monotonic() - t0
    try:
        proc.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    finished = proc.returncode == 0
    proc.stdout.close()
    return finished, time.monotonic() - t0


def counts(home: Path, key: str) -> tuple[int, int, int]:
    """(rows of the earlier file, rows of ``key``, manifest rows marking ``key`` loaded)."""
    engine = connect(f"duckdb:///{home}/w.duckdb")
    try:

        def one(sql: str, f: str) -> int:
            return int(engine.query(sql, {"f": f}).column(0)[0].as_py())

        rows = "SELECT count(*) FROM meter_reads WHERE _source_file = $f"
        marked = "SELECT count(*) FROM lake_manifest WHERE key = $f AND loaded_at IS NOT NULL"
        return one(rows, "LP_first.csv"), one(rows, key), one(marked, key)
    finally:
        engine.close()


def test_kill_9_during_a_load_leaves_all_or_nothing(tmp_path: Path) -> None:
    first = tmp_path / "LP_first.csv"
    first_rows = write_lp(first, "210000001", "ED1", date(2025, 1, 1), 3)
    big = tmp_path / "LP_big.csv"
    big_rows = write_lp(big, "210000002", "ED2", date(2024, 1, 1), 340)
    home = tmp_path / "home"
    assert run_child(home, first, None)[0]
    # The time a whole load takes here and now bounds where the kills land.
    calib = tmp_path / "calib"
    finished, full = run_child(calib, big, None)
    assert finished and counts(calib, "LP_big.csv")[1:] == (big_rows, 1)

    rng = random.Random(20251128)
    outcomes = []
    for trial in range(TRIALS):
        finished, _ = run_child(home, big, rng.uniform(0.05, 1.0) * full)
        before, rows, marked = counts(home, "LP_big.csv")
        assert before == first_rows, f"trial {trial}: the earlier file changed"
        assert (rows, marked) in ((0, 0), (big_rows, 1)), f"trial {trial}: partial load {rows}"
        outcomes.append((finished, rows))
        if rows:  # loaded: start the next trial from the earlier file only again
            engine = connect(f"duckdb:///{home}/w.duckdb")
            engine.execute("DELETE FROM meter_reads WHERE _source_file = 'LP_big.csv'")
            engine.execute("DELETE FROM lake_manifest WHERE key = 'LP_big.csv'")
            engine.close()
    print("kills (finished, rows):", outcomes)
    if all(finished for finished, _ in outcomes):
        pytest.fail(f"no trial was killed before the load ended: {outcomes}")
