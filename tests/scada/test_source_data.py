"""The stand-in's synthetic farm behaves like turbines (and is served exactly as generated)."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise

import httpx
import numpy as np
import pytest

from wattlake.sims.scada_data import (
    CUT_IN,
    CUT_OUT,
    RATED_KW,
    RATED_SPEED,
    RESTART,
    Generated,
    generate_turbine,
    power_curve,
)
from wattlake.sims.scada_source import ScadaSourceSim

T0 = datetime(2024, 5, 20)


def arrays(g: Generated) -> dict[str, np.ndarray]:
    d = g.table.to_pydict()
    minute = (np.array(g.table.column("timestamp").cast("int64")) // 60_000_000).astype(int)
    out = {k: np.array(v, dtype=float) for k, v in d.items() if k != "timestamp"}
    out["minute"] = minute - minute[0] if len(minute) else minute
    return out


@pytest.fixture(scope="module")
def farm() -> list[Generated]:
    return [generate_turbine(7, i) for i in range(4)]


def unstuck(g: Generated, a: dict[str, np.ndarray]) -> np.ndarray:
    ok = np.ones(len(a["minute"]), dtype=bool)
    for s, e in g.stuck_wind:
        ok &= (a["minute"] < s) | (a["minute"] >= e)
    return ok


def test_the_power_curve() -> None:
    v = np.array([0.0, 2.9, 3.0, 8.0, 12.99, 13.0, 20.0, 24.99, 25.0, 30.0])
    p = power_curve(v)
    assert p[0] == p[1] == 0.0 and p[2] > 0
    assert np.all(np.diff(p[2:6]) > 0)  # rising between cut-in and rated
    assert p[5] == p[6] == p[7] == RATED_KW
    assert p[8] == p[9] == 0.0  # cut-out


def test_power_is_zero_below_cut_in_and_rated_above_rated_speed(farm: list[Generated]) -> None:
    for g in farm:
        a = arrays(g)
        ok = unstuck(g, a)  # a stuck anemometer no longer tells the wind the rotor sees
        w, p = a["wind_speed"][ok], a["power"][ok]
        below = w < CUT_IN
        assert below.sum() > 100 and np.all(p[below] == 0.0)
        rated = (w >= RATED_SPEED + 0.05) & (w < RESTART)  # clear of rounding and hysteresis
        assert rated.sum() > 50
        assert np.all(np.abs(p[rated] - RATED_KW) <= 0.02 * RATED_KW)
        assert np.all((p >= 0) & (p <= 1.02 * RATED_KW))
        mid = (w > 5) & (w < 11)
        rel = p[mid] / power_curve(w[mid]) - 1  # partial load follows the curve, with noise
        assert abs(rel.mean()) < 0.01 and 0.005 < rel.std() < 0.05


def test_cut_out_stops_the_turbine(farm: list[Generated]) -> None:
    stormy = 0
    for g in farm:
        a = arrays(g)
        ok = unstuck(g, a)
        storm = (a["wind_speed"] >= CUT_OUT) & ok
        stormy += int(storm.sum())
        assert np.all(a["power"][storm] == 0.0)
    assert stormy > 0


def test_wind_is_weibull_like_with_a_diurnal_cycle_and_correlated_turbines(
    farm: list[Generated],
) -> None:
    a = [arrays(g) for g in farm]
    w = np.concatenate([x["wind_speed"] for x in a])
    assert 6.0 < w.mean() < 10.0 and w.min() >= 0.0 and 0.35 < w.std() / w.mean() < 0.65
    hour = np.concatenate([(x["minute"] % 1440) // 60 for x in a])
    assert w[(hour >= 13) & (hour < 17)].mean() > w[(hour >= 1) & (hour < 5)].mean()
    # same minutes on two turbines: correlated (one farm), not equal
    common = np.intersect1d(a[0]["minute"], a[1]["minute"])
    x = a[0]["wind_speed"][np.isin(a[0]["minute"], common)]
    y = a[1]["wind_speed"][np.isin(a[1]["minute"], common)]
    assert 0.5 < np.corrcoef(x, y)[0, 1] < 0.995
    # minute to minute the wind changes, but smoothly
    steps = np.abs(np.diff(a[0]["wind_speed"]))
    assert np.median(steps) < 1.0 and (steps > 0).mean() > 0.5


def test_temperature_has_a_daily_cycle(farm: list[Generated]) -> None:
    a = arrays(farm[0])
    hour = (a["minute"] % 1440) // 60
    t = a["ambient_temperature"]
    assert t[(hour >= 14) & (hour < 16)].mean() - t[(hour >= 2) & (hour < 4)].mean() > 4.0
    assert t.min() > -10 and t.max() < 35


def test_missing_minutes_and_stuck_sensors_exist(farm: list[Generated]) -> None:
    for g in farm:
        a = arrays(g)
        gaps = np.diff(a["minute"])
        assert g.missing == 14_400 - len(a["minute"]) > 0
        assert gaps.max() > 5 and np.all(gaps >= 1)  # an outage, no duplicate minute
    assert any(g.stuck_wind for g in farm)
    for g in farm:
        a = arrays(g)
        for s, e in g.stuck_wind:
            inside = (a["minute"] >= s) & (a["minute"] < e)
            if inside.sum() > 1:
                assert np.unique(a["wind_speed"][inside]).size == 1
                if e - s > 60:
                    assert np.unique(a["power"][inside]).size > 1  # the rotor still moves


def test_deterministic_per_seed() -> None:
    a, b, c = generate_turbine(3, 1), generate_turbine(3, 1), generate_turbine(4, 1)
    assert a.table.equals(b.table)
    assert not a.table.equals(c.table)
    assert not a.table.equals(generate_turbine(3, 2).table)


def test_served_as_generated_and_independent_of_the_farm_size() -> None:
    with (
        ScadaSourceSim(seed=5, turbines=2, days=2) as small,
        ScadaSourceSim(seed=5, turbines=3, days=2) as big,
        httpx.Client(timeout=30) as c,
    ):
        params = {"columns": ["wind_speed", "power", "ambient_temperature"]}
        want = generate_turbine(5, 1, T0, 2).table.to_pylist()
        for s in (small, big):
            got = c.get(s.base_url + "/data", params={**params, "turbine": "WTG02"}).json()
            assert [g["timestamp"] for g in got] == [w["timestamp"].isoformat() for w in want]
            assert [g["power"] for g in got] == [w["power"] for w in want]
        default = c.get(small.base_url + "/data", params=params).json()
        assert [g["wind_speed"] for g in default] == [
            w["wind_speed"] for w in generate_turbine(5, 0, T0, 2).table.to_pylist()
        ]
        assert big.turbines == ["WTG01", "WTG02", "WTG03"]


def test_local_wall_time_has_the_dst_gap_and_repeat() -> None:
    with (
        ScadaSourceSim(
            seed=1, turbines=1, start="2024-03-30", days=2, timezone="Europe/Berlin"
        ) as sim,
        httpx.Client(base_url=sim.base_url, timeout=30) as c,
    ):
        spring = c.get(
            "/data",
            params={
                "start_timestamp": "2024-03-31",
                "end_timestamp": "2024-04-01",
                "columns": "id",
            },
        ).json()
    gen = generate_turbine(1, 0, datetime(2024, 3, 30), 2, "Europe/Berlin")
    assert gen.table.num_rows + gen.missing == 1440 + 1380  # 23 hours on 31 March
    stamps = [s["timestamp"] for s in spring]
    assert len(stamps) > 1300 and not [t for t in stamps if t[11:13] == "02"]  # 02:xx never exists
    autumn = generate_turbine(1, 0, datetime(2024, 10, 27), 1, "Europe/Berlin")
    ts = autumn.table.column("timestamp").to_pylist()
    assert autumn.table.num_rows + autumn.missing == 1500  # 25 hours
    two = [t for t in ts if t.hour == 2]
    assert len(two) > len(set(two)) > 0  # the repeated hour is written twice
    back = [(a, b) for a, b in pairwise(ts) if b < a]
    assert len(back) == 1 and back[0][0].hour == 2 and back[0][1].hour in (1, 2)  # once
