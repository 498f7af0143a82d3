"""Runs over the API: POST starts a run in the background (202, its id), the same partition
never runs twice at once (409 with the running id), DELETE stops a run at its next step, and a
lease whose holder died is free again."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from wattlake.api.app import create_app
from wattlake.config import Settings
from wattlake.launch import RUN_LEASES
from wattlake.leases import lease_expiry
from wattlake.pipeline import Runner
from wattlake.sims.oasis import OasisSim
from wattlake.sources.meter_files.generate import write_lp


@pytest.fixture
def home(settings: Settings) -> Path:
    return settings.home


@pytest.fixture
def client(runner: Runner) -> Iterator[TestClient]:
    """The API on DuckDB and on PostgreSQL (the ``runner`` fixture's engines)."""
    with TestClient(create_app(runner)) as c:
        yield c


@pytest.fixture
def oasis(monkeypatch: pytest.MonkeyPatch) -> Iterator[OasisSim]:
    with OasisSim(
        rate_limit_s=0.0, all_nodes_count=20, now=datetime(2026, 1, 1, tzinfo=UTC)
    ) as sim:
        monkeypatch.setenv("WATTLAKE_OASIS_URL", sim.base_url)
        yield sim


def wait_done(client: TestClient, run_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(f"/v1/runs/{run_id}")
        if r.status_code == 200 and r.json()["status"] != "running":
            return dict(r.json())
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} still running after {timeout} s")


def test_post_starts_a_run_that_loads_the_landing_file(client: TestClient, home: Path) -> None:
    landing = Settings(home=home).landing_dir("meter_files")
    landing.mkdir(parents=True)
    write_lp(landing / "LP_7_x.csv", "7", "P7", date(2024, 5, 1), 1)
    r = client.post("/v1/runs", json={"pipeline": "meter-files", "params": {}})
    assert r.status_code == 202, r.text
    run_id = r.json()["id"]
    run = wait_done(client, run_id)
    assert run["status"] == "ok" and run["rows_loaded"] == 96 * 4
    assert [s["step"] for s in run["steps"]][:2] == ["bronze", "silver"]
    listed = client.get("/v1/runs", params={"pipeline": "meter-files"}).json()
    assert [x["run_id"] for x in listed] == [run_id]
    assert client.get("/v1/runs", params={"pipeline": "caiso-lmp"}).json() == []


def test_bad_requests_are_422(client: TestClient) -> None:
    assert client.post("/v1/runs", json={"pipeline": "nope"}).status_code == 422
    bad = {"pipeline": "caiso-lmp", "params": {"start": "someday"}}
    r = client.post("/v1/runs", json=bad)
    assert r.status_code == 422 and "someday" in r.text
    outside = {"pipeline": "meter-files", "params": {"files": ["../../etc/passwd"]}}
    r = client.post("/v1/runs", json=outside)
    assert r.status_code == 202  # validated in the run: it fails and says why
    run = wait_done(client, r.json()["id"])
    assert run["status"] == "failed" and "not inside" in run["error"]


def test_concurrent_requests_for_one_partition_yield_one_run(
    client: TestClient, oasis: OasisSim
) -> None:
    body = {
        "pipeline": "caiso-lmp",
        "params": {  # four all-node days: four requests 0.4 s apart
            "start": "2025-06-01",
            "end": "2025-06-04",
            "all_nodes": True,
            "min_interval_s": 0.4,
        },
    }
    answers: list[Any] = []

    def post() -> None:
        answers.append(client.post("/v1/runs", json=body))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(a.status_code for a in answers)
    assert codes == [202] + [409] * 5, [a.text for a in answers]
    started = next(a.json()["id"] for a in answers if a.status_code == 202)
    assert {a.json()["run_id"] for a in answers if a.status_code == 409} == {started}
    # a different partition is not blocked
    other = {"pipeline": "caiso-lmp", "params": {"start": "2025-06-10", "min_interval_s": 0}}
    other_run = client.post("/v1/runs", json=other)
    assert other_run.status_code == 202
    wait_done(client, other_run.json()["id"])
    assert wait_done(client, started)["status"] == "ok"
    # once it finished, the partition is free again
    again = client.post("/v1/runs", json=body)
    assert again.status_code == 202
    wait_done(client, again.json()["id"])


def test_delete_stops_a_run_at_its_next_step(client: TestClient, oasis: OasisSim) -> None:
    body = {
        "pipeline": "caiso-lmp",
        "params": {
            "start": "2025-07-01",
            "end": "2025-07-08",
            "all_nodes": True,
            "min_interval_s": 0.5,
        },  # all nodes: one request per day
    }
    run_id = client.post("/v1/runs", json=body).json()["id"]
    time.sleep(0.3)
    r = client.delete(f"/v1/runs/{run_id}")
    assert r.status_code == 202 and r.json()["status"] == "stopping"
    run = wait_done(client, run_id)
    assert run["status"] == "failed" and "asked to stop" in run["error"]
    fetched = [s for s in run["steps"] if s["step"] == "fetch"]
    assert len(fetched) < 8  # eight chunks planned, stopped early
    # a finished run cannot be stopped; an unknown one is 404
    assert client.delete(f"/v1/runs/{run_id}").status_code == 409
    assert client.delete("/v1/runs/20250101T000000-abcdef").status_code == 404


def test_a_lease_whose_holder_died_is_free(client: TestClient, runner: Runner) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    key = 'meter-files:{"files":null}'
    runner.engine.upsert(
        RUN_LEASES,
        RUN_LEASES.from_rows([{
            "key": key, "run_id": "20240101T000000-000000", "host": socket.gethostname(),
            "pid": int(dead.stdout), "pid_start": None, "lease_until": lease_expiry(3600),
        }]),
    )  # fmt: skip
    r = client.post("/v1/runs", json={"pipeline": "meter-files"})
    assert r.status_code == 202, r.text
    assert wait_done(client, r.json()["id"])["status"] == "ok"
