"""The Dagster webserver starts on loopback on our definitions and lists our assets."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from wattlake.orchestration.plan import listing

pytest.importorskip("dagster_webserver", reason="extra 'dagster' not installed")

QUERY = "{ assetNodes { assetKey { path } } }"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_webserver_lists_our_assets(tmp_path: Path) -> None:
    exe = shutil.which("dagster-webserver", path=str(Path(sys.executable).parent))
    assert exe, "dagster-webserver is installed with the extra but not on the venv's PATH"
    port = free_port()
    env = os.environ | {"DAGSTER_HOME": str(tmp_path), "WATTLAKE_HOME": str(tmp_path / "home")}
    cmd = [exe, "-m", "wattlake.orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)]
    log = (tmp_path / "webserver.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/graphql"
        deadline = time.monotonic() + 120
        body = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                r = httpx.post(url, json={"query": QUERY}, timeout=5)
                if r.status_code == 200 and r.json().get("data", {}).get("assetNodes"):
                    body = r.json()
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        assert body is not None, (tmp_path / "webserver.log").read_text()[-3000:]
        found = {"/".join(n["assetKey"]["path"]) for n in body["data"]["assetNodes"]}
        assert found == set(listing()["assets"])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
