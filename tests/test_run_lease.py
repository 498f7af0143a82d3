"""A run whose process is killed (SIGKILL) does not stay `running`: the next process that opens
the run log marks it failed; a run whose process is alive, or whose lease on another host is
fresh, is left alone (issue 7, item 8). Real subprocesses, on DuckDB and PostgreSQL."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests._support import PG_URL
from wattlake.engines import Engine, connect
from wattlake.leases import Holder, process_start
from wattlake.runs import DIED, RunLog
from wattlake.tables import utcnow

CHILD = """
import sys, time
from wattlake.engines import connect
from wattlake.runs import RunLog
url, schema, mode = sys.argv[1], sys.argv[2] or None, sys.argv[3]
log = RunLog(connect(url, schema=schema))
run = log.start("meter-files", {"files": ["big.csv"]})
if mode == "release":  # let the parent open a DuckDB file while this run goes on
    log.engine.close()
print(run.run_id, flush=True)
time.sleep(300)
"""


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(warehouse URL, schema) that a child process and this one both open."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'w.duckdb'}", ""
        return
    request.getfixturevalue("pg_available")
    schema = f"wl_test_{secrets.token_hex(4)}"
    yield PG_URL, schema
    eng = connect(PG_URL, schema=schema)
    eng.drop_schema()  # type: ignore[attr-defined]
    eng.close()


def start_child(url: str, schema: str, mode: str) -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, schema, mode], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    assert run_id, "the child did not start a run"
    return child, run_id


def status(url: str, schema: str, run_id: str) -> tuple[str, str | None]:
    eng = connect(url, schema=schema or None)
    try:
        RunLog(eng)  # opening the log is what marks dead runs
        row = eng.query("SELECT status, error FROM runs WHERE run_id = $id", {"id": run_id})
        return row.column(0)[0].as_py(), row.column(1)[0].as_py()
    finally:
        eng.close()


def test_killed_run_is_marked_failed(target: tuple[str, str]) -> None:
    url, schema = target
    child, run_id = start_child(url, schema, "hold")  # holds the DuckDB file until killed
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    state, error = status(url, schema, run_id)
    assert state == "failed"
    assert error is not None and DIED in error and f"pid {child.pid}" in error


def test_live_run_is_left_alone_until_its_process_dies(target: tuple[str, str]) -> None:
    url, schema = target
    child, run_id = start_child(url, schema, "release")
    try:
        assert status(url, schema, run_id) == ("running", None)
        assert status(url, schema, run_id) == ("running", None)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert status(url, schema, run_id)[0] == "failed"


def test_other_hosts_are_judged_by_their_lease(engine: Engine) -> None:
    log = RunLog(engine)
    fresh, stale = log.start("a"), log.start("b")
    now = datetime.now(UTC)
    for run, until in ((fresh, now + timedelta(minutes=5)), (stale, now - timedelta(seconds=1))):
        assert run.heartbeat is not None
        run.heartbeat.stop()
        engine.execute(
            "UPDATE runs SET host = 'another-host', pid = 1, lease_until = $u WHERE run_id = $id",
            {"u": until, "id": run.run_id},
        )
    assert RunLog(engine).reap() == []  # opening the log reaped the stale one already
    rows = {r["run_id"]: r for r in log.recent(10).to_pylist()}
    assert rows[fresh.run_id]["status"] == "running"
    assert rows[stale.run_id]["status"] == "failed"
    assert DIED in rows[stale.run_id]["error"]


def test_a_reused_pid_is_not_the_same_process() -> None:
    me = Holder.me()
    assert me.alive()
    assert me.pid_start == process_start(os.getpid())
    if me.pid_start is not None:  # Linux: same pid, another start time = another process
        assert not Holder(me.host, me.pid, me.pid_start + 1, me.lease_until).alive()
    assert not Holder(me.host, 2**22 + 7, None, utcnow() + timedelta(hours=1)).alive()


def test_a_read_only_log_shows_dead_runs_as_failed(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    child, run_id = start_child(url, "", "hold")
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    eng = connect(url, read_only=True)
    try:
        (row,) = RunLog(eng, read_only=True).recent(5).to_pylist()
        assert (row["run_id"], row["status"]) == (run_id, "failed") and DIED in row["error"]
        stored = eng.query("SELECT status FROM runs").column(0).to_pylist()
        assert stored == ["running"]  # nothing was written: the file is open read-only
    finally:
        eng.close()


@pytest.mark.postgres
def test_a_real_load_killed_midway_is_failed_on_postgres(
    pg_available: None, tmp_path: Path
) -> None:
    """`wattlake ingest` of a large file, SIGKILLed while its run is `running`."""
    import json
    import time

    from tests.test_progress_bytes import big_lp

    schema = f"wl_test_{secrets.token_hex(4)}"
    eng = connect(PG_URL, schema=schema)
    f = big_lp(tmp_path / "LP_big.csv", 200_000)
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    env = {**os.environ, "WATTLAKE_HOME": str(tmp_path / "home"), "WATTLAKE_WAREHOUSE": url}
    child = subprocess.Popen(
        [sys.executable, "-m", "wattlake.cli", "ingest", "meter-files", str(f)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        RunLog(eng)
        for _ in range(600):
            rows = eng.query("SELECT run_id, status FROM runs").to_pylist()
            if rows:
                break
            time.sleep(0.05)
        assert rows and rows[0]["status"] == "running", rows
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "wattlake.cli", "runs", "-f", "json"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        (run,) = json.loads(out.stdout)
        assert run["status"] == "failed" and DIED in run["error"], out.stderr
        assert eng.query("SELECT count(*) FROM meter_reads").column(0)[0].as_py() == 0
    finally:
        eng.drop_schema()  # type: ignore[attr-defined]
        eng.close()


def test_loading_through_a_read_only_api_answers_503(tmp_path: Path) -> None:
    """`wattlake serve --read-only` reads; a load through it is refused in words, not a 500."""
    from fastapi.testclient import TestClient

    from wattlake.api.app import create_app, prepare
    from wattlake.config import Settings
    from wattlake.lake import Lake
    from wattlake.pipeline import Runner

    settings = Settings(home=tmp_path / "home")
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    writer = Runner(connect(url), Lake(str(tmp_path / "lake")), settings)
    prepare(writer)
    writer.close()
    reader = Runner(connect(url, read_only=True), Lake(str(tmp_path / "lake")), settings)
    with TestClient(create_app(reader, read_only=True)) as client:
        assert client.get("/v1/runs").status_code == 200
        r = client.get("/load-data")
        assert r.status_code == 503 and "read-only" in r.text
    reader.close()
