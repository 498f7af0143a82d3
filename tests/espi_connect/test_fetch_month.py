"""A month of daily fetch runs against the Connect stand-in (its clock moved day by day): every
interval exactly once, run numbers 0, 1, 2 … only when new data existed, right across the spring
and autumn DST changes; expired tokens refreshed; a revoked customer reported, the others load."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.espi_connect.helpers import duck_runner, write_config
from wattlake.sims.green_button import Customer, GreenButtonSim, UsagePointSpec
from wattlake.sims.green_button_data import FORWARD, REVERSE, day_readings
from wattlake.sources.espi.fetch import run_green_button
from wattlake.sources.espi.incremental import RawStore

LA = ZoneInfo("America/Los_Angeles")


def _customers(first: date) -> list[Customer]:
    return [
        Customer("P-1", "501", [UsagePointSpec("71", "electric", 3600, service_start=first)]),
        Customer("P_2", "502", [
            UsagePointSpec("72", "electric", 900, net_metering=True, service_start=first),
            UsagePointSpec("73", "gas", service_start=first + timedelta(days=3)),
        ]),
        Customer("P-3", "503", [UsagePointSpec("74", "electric", 3600, service_start=first)]),
    ]  # fmt: skip


@pytest.mark.parametrize("start", [datetime(2026, 2, 27, 19, tzinfo=UTC),
                                   datetime(2026, 10, 22, 19, tzinfo=UTC)], ids=["spring", "autumn"])  # fmt: skip
def test_a_month_of_daily_runs(
    start: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = (start - timedelta(days=12)).date()
    runner = duck_runner(tmp_path)
    with GreenButtonSim(_customers(first), now=start, seed=3) as sim:
        cfg = write_config(tmp_path, sim, monkeypatch)
        fetched_runs: dict[str, int] = defaultdict(int)
        revoked_seen = False
        for day in range(24):
            if day == 10:
                sim.revoke("P-3")
            report = run_green_button(runner, cfg, now=sim.now)
            status = {u.label: u.status for u in report.usage_points}
            for label, st in status.items():
                if st == "fetched":
                    fetched_runs[label] += 1
            if day < 10:
                assert set(status.values()) == {"fetched"}, report.usage_points
            else:
                assert status["P-3/*"] == "revoked"
                assert not report.run.failed_steps  # revoked is reported, not a failure
                assert [s.status for s in report.run.steps if s.target == "P-3/usage points"] == [
                    "revoked"
                ]
                assert all(status[k] == "fetched" for k in ("P-1/71", "P_2/72", "P_2/73"))
                revoked_seen = True
            if day == 5:  # the same day again: nothing newer, no file, run numbers stay
                again = run_green_button(runner, cfg, now=sim.now)
                assert {u.status for u in again.usage_points} == {"unchanged"}
            sim.advance(timedelta(days=1))
        assert revoked_seen
        token_calls = [
            r for r in sim.requests if r.path.endswith("/oauth/token") and r.status == 200
        ]
        assert len(token_calls) >= 20  # every day the 1-hour token had expired: refreshed
        final_now = sim.now - timedelta(days=1)
        seed, specs = sim.seed, {u.usage_point_id: u for c in sim.customers for u in c.usage_points}

    # run numbers: 0..n-1 per usage point, one per run that found new data
    store = RawStore(cfg.storage.url)
    runs: dict[str, list[int]] = defaultdict(list)
    for f in store.list():
        runs[f"{f.project_id}/{f.usage_point_id}"].append(f.run)
    assert {k: v for k, v in runs.items()} == {k: list(range(n)) for k, n in fetched_runs.items()}
    assert runs["P-3/74"] == list(range(10))

    # every interval exactly once, no gap, no overlap; values are the custodian's final ones
    rows = runner.engine.query(
        "SELECT usage_point_id, flow_direction, interval_start_utc, interval_end_utc, raw_value, "
        "estimated FROM interval_reads ORDER BY usage_point_id, flow_direction, interval_start_utc"
    ).to_pylist()
    by_channel: dict[tuple[str, int], list[dict[str, object]]] = defaultdict(list)
    for r in rows:
        by_channel[(r["usage_point_id"], r["flow_direction"])].append(r)
    assert set(by_channel) == {("71", 1), ("72", 1), ("72", 19), ("73", 1), ("74", 1)}
    for (upid, flow), chan in by_channel.items():
        spec = specs[upid]
        last_day = (final_now.astimezone(LA).date() - timedelta(days=3)) if upid != "74" else None
        expected = []
        day = spec.service_start
        while last_day is None or day <= last_day:
            got_day = list(day_readings(spec, seed, day, FORWARD if flow == 1 else REVERSE, False))
            if upid == "74" and len(expected) >= len(chan):
                break
            expected += got_day
            day += timedelta(days=1)
        starts = [r["interval_start_utc"] for r in chan]
        assert len(starts) == len(set(starts)) == len(expected), (upid, flow)
        assert all(
            a["interval_end_utc"] == b["interval_start_utc"] for a, b in itertools.pairwise(chan)
        )
        assert [int(s.replace(tzinfo=UTC).timestamp()) for s in starts] == [
            e.start for e in expected
        ]  # type: ignore[union-attr]
        # estimates were revised by the overlap re-reads: all but the newest days are actual
        settled = [
            r
            for r, e in zip(chan, expected, strict=True)
            if e.start < expected[-1].start - 3 * 86400
        ]
        assert all(not r["estimated"] for r in settled)
        assert [r["raw_value"] for r in settled] == [e.value for e in expected[: len(settled)]]
    # DST: the spring or autumn day has 23 or 25 hourly readings for the hourly meter
    per_day: dict[date, int] = defaultdict(int)
    for r in by_channel[("71", 1)]:
        per_day[r["interval_start_utc"].replace(tzinfo=UTC).astimezone(LA).date()] += 1  # type: ignore[union-attr]
    assert sorted(set(per_day.values())) == ([23, 24] if start.month == 2 else [24, 25])
