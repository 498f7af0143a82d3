"""The stand-in's request log and injected faults, for clients' retry tests (real HTTP)."""

from __future__ import annotations

import httpx
import pytest

from wattlake.sims.scada_source import FAULTS, ScadaSourceSim


def test_faults_then_normal_answers_and_the_log() -> None:
    with (
        ScadaSourceSim(days=1, turbines=2) as sim,
        httpx.Client(base_url=sim.base_url, timeout=10) as c,
    ):
        params = {"columns": ["power"], "turbine": "WTG02"}
        good = c.get("/data", params=params)
        sim.fail_next("500", "502", "503", "429", "truncate")
        answers = [c.get("/data", params=params) for _ in range(4)]
        assert [r.status_code for r in answers] == [500, 502, 503, 429]
        assert [r.headers.get("retry-after") for r in answers] == [None, None, "0", "0"]
        assert all(r.json() == {"detail": "injected fault"} for r in answers)
        with pytest.raises(httpx.RemoteProtocolError):  # half the body, then the socket closes
            c.get("/data", params=params)
        after = c.get("/data", params=params)  # the queue is empty: a normal answer again
        assert after.status_code == 200 and after.content == good.content
        assert c.get("/data/99999").status_code == 404
    log = [(r.path, r.status, r.fault) for r in sim.requests]
    assert log == [
        ("/data", 200, None),
        ("/data", 500, "500"),
        ("/data", 502, "502"),
        ("/data", 503, "503"),
        ("/data", 429, "429"),
        ("/data", 200, "truncate"),
        ("/data", 200, None),
        ("/data/99999", 404, None),
    ]
    assert sim.requests[0].query == "columns=power&turbine=WTG02"


def test_unknown_fault_is_refused() -> None:
    sim = ScadaSourceSim(generate=False)
    with pytest.raises(ValueError, match="unknown faults"):
        sim.fail_next("boom")
    assert "truncate" in FAULTS


def test_a_stopped_source_refuses_connections() -> None:
    sim = ScadaSourceSim(days=1, turbines=1)
    url = sim.start()
    assert httpx.get(url + "/data/1", timeout=10).status_code == 200
    sim.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/data/1", timeout=5)
