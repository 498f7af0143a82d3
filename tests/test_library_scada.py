"""wattlake.scada.get_10min against the SCADA source stand-in: 10-minute statistics checked
against the raw 1-minute answer, with and without a lake."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

import wattlake
from wattlake.config import get_settings
from wattlake.sims.scada_source import ScadaSourceSim

START = date(2024, 5, 20)


@pytest.fixture(scope="module")
def sim() -> Iterator[ScadaSourceSim]:
    with ScadaSourceSim(turbines=2, start=START, days=2) as s:
        yield s


def _raw_means(sim: ScadaSourceSim) -> dict[tuple[str, datetime], float]:
    """10-minute means of the first day, computed here from the source's 1-minute rows."""
    rows = httpx.get(
        f"{sim.base_url}/data",
        params=[
            ("start_timestamp", "2024-05-20T00:00:00"),
            ("end_timestamp", "2024-05-21T00:00:00"),
            ("columns", "wind_speed"),
            ("columns", "power"),
            ("turbine", "WTG02"),
        ],
        timeout=30,
    ).json()
    bins: dict[tuple[str, datetime], list[float]] = defaultdict(list)
    for r in rows:
        ts = datetime.fromisoformat(r["timestamp"]).replace(tzinfo=UTC)
        start = ts.replace(minute=ts.minute - ts.minute % 10, second=0, microsecond=0)
        for signal in ("wind_speed", "power"):
            if r[signal] is not None:
                bins[(signal, start)].append(r[signal])
    return {k: statistics.fmean(v) for k, v in bins.items()}


def _check(t: pa.Table, sim: ScadaSourceSim) -> None:
    assert t.schema.field("bucket_start_utc").type == pa.timestamp("us", "UTC")
    assert set(t["turbine"].to_pylist()) == {"WTG02"}
    assert set(t["signal"].to_pylist()) == {"wind_speed", "power"}
    want = _raw_means(sim)
    got = {
        (r["signal"], r["bucket_start_utc"]): r["mean"]
        for r in t.to_pylist()
        if r["bucket_start_utc"] < datetime(2024, 5, 21, tzinfo=UTC)
    }
    assert set(got) == set(want)
    assert all(got[k] == pytest.approx(want[k]) for k in want)


def test_get_10min_without_a_lake(
    sim: ScadaSourceSim, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for var in ("WATTLAKE_HOME", "WATTLAKE_LAKE_URL", "WATTLAKE_WAREHOUSE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    t = wattlake.scada.get_10min(
        "2024-05-20", "2024-05-22", turbines=["WTG02"], base_url=sim.base_url
    )
    _check(t, sim)
    assert t.num_rows <= 2 * 2 * 144
    assert not any(tmp_path.iterdir())  # nothing kept


def test_get_10min_with_a_lake_keeps_the_raw_answers(
    sim: ScadaSourceSim, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WATTLAKE_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    try:
        kw = {"turbines": ["WTG02"], "base_url": sim.base_url}
        before = len(sim.requests)
        t = wattlake.scada.get_10min("2024-05-20", "2024-05-21", **kw)
        fetched = len(sim.requests) - before
        again = wattlake.scada.get_10min("2024-05-20", "2024-05-21", **kw)
        assert len(sim.requests) - before == fetched  # read back, not fetched again
        with wattlake.open() as wh:
            assert wh.table("scada_10min").num_rows == t.num_rows
    finally:
        get_settings.cache_clear()
    _check(t, sim)
    assert again.equals(t)
    raw = [p for p in (tmp_path / "home" / "lake" / "bronze").rglob("*") if p.is_file()]
    assert len(raw) == fetched >= 1
