"""The CAISO LMP pipeline end to end: the OASIS stand-in over real HTTP → bronze → lmp → lmp_daily,
on DuckDB and PostgreSQL. Expected prices come from the stand-in's price model, not from us."""

from __future__ import annotations

import json
import statistics
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.caiso.conftest import ALL_NODES_ZIP, SIM_RATE_S, sample
from wattlake.errors import FetchError, InputError
from wattlake.pipeline import Runner
from wattlake.sims.oasis import OasisSim
from wattlake.sources.caiso.client import OasisClient, operating_day_utc
from wattlake.sources.caiso.pipeline import PIPELINE, Backfill, backfill, ingest
from wattlake.sources.caiso.schema import LMP, Market

PACIFIC = ZoneInfo("America/Los_Angeles")
NODES = ["DLAP_PGAE-APND", "TH_NP15_GEN-APND", "TH_SP15_GEN-APND"]
FALL_BACK, SPRING_FORWARD = date(2025, 11, 2), date(2026, 3, 8)


def fill(runner: Runner, sim: OasisSim, start: date, end: date, **kw: Any) -> Backfill:
    """backfill() against the stand-in, paced under its rate limit."""
    kw.setdefault("market", "DAM")
    return backfill(runner, start, end, base_url=sim.base_url, min_interval_s=2 * SIM_RATE_S, **kw)


def rows(runner: Runner, sql: str, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = runner.engine.query(sql, params).to_pylist()
    return out


def flat(text: str) -> str:
    return " ".join(text.split())


def count(runner: Runner, table: str) -> int:
    return int(rows(runner, f"SELECT count(*) AS n FROM {table}")[0]["n"])


def expected_day(sim: OasisSim, node: str, day: date) -> dict[str, Any]:
    """Daily figures computed straight from the stand-in's price model (hourly DAM)."""
    lo, hi = operating_day_utc(day)
    prices, on_peak = [], []
    t = lo
    while t < hi:
        lmp = sim.model.components(Market.DAM, node, t)["LMP"]
        prices.append(lmp)
        local = t.astimezone(PACIFIC)
        hour_ending = 25 if local.fold and local.hour == 1 else local.hour + 1
        if local.isoweekday() <= 6 and 7 <= hour_ending <= 22:  # no holiday in these tests
            on_peak.append(lmp)
        t += timedelta(hours=1)
    return {
        "n": len(prices), "avg": statistics.fmean(prices), "min": min(prices),
        "max": max(prices), "on_peak": statistics.fmean(on_peak) if on_peak else None,
        "on_n": len(on_peak),
    }  # fmt: skip


def test_a_week_for_a_few_nodes(runner: Runner, sim: OasisSim) -> None:
    start, end = date(2025, 10, 28), date(2025, 11, 4)  # Tuesday .. Monday, with fall-back
    result = fill(runner, sim, start, end, nodes=NODES)
    assert (result.fetched, result.skipped, result.failed, result.gold_built) == (1, 0, 0, True)
    assert len(sim.requests) == 1 and sim.requests[0].params["node"] == ",".join(NODES)
    assert result.rows_loaded == count(runner, "lmp") == 3 * (6 * 24 + 25)
    assert result.run.rows_rejected == 0 and not result.run.failed_steps
    daily = rows(runner, "SELECT * FROM lmp_daily ORDER BY node, opr_date")
    assert len(daily) == 3 * 7
    for row in daily:
        want = expected_day(sim, row["node"], row["opr_date"])
        assert row["n_intervals"] == want["n"]
        assert row["avg_lmp"] == pytest.approx(want["avg"], abs=1e-9)
        assert (row["min_lmp"], row["max_lmp"]) == pytest.approx((want["min"], want["max"]))
        assert row["on_peak_intervals"] == want["on_n"]
        assert row["off_peak_intervals"] == want["n"] - want["on_n"]
        if want["on_peak"] is None:  # Sunday
            assert row["on_peak_avg_lmp"] is None and row["peak_day"] is False
        else:
            assert row["on_peak_avg_lmp"] == pytest.approx(want["on_peak"], abs=1e-9)
            assert row["on_peak_intervals"] == 16 and row["peak_day"] is True
    steps = [(s.name, s.status) for s in result.run.steps]
    assert steps == [("fetch", "ok"), ("silver", "ok"), ("gold", "ok")]
    (manifest,) = rows(runner, "SELECT * FROM lake_manifest")
    params = json.loads(manifest["params"])
    assert manifest["source"] == "caiso" and manifest["loaded_at"] is not None
    assert params["queryname"] == "PRC_LMP" and params["url"].startswith(sim.base_url)
    logged = rows(
        runner, "SELECT status, rows_loaded FROM runs WHERE run_id = $r", r=result.run.run_id
    )
    assert logged == [{"status": "ok", "rows_loaded": result.rows_loaded}]


@pytest.mark.parametrize(
    ("day", "hours"), [(FALL_BACK, 25), (SPRING_FORWARD, 23), (date(2025, 11, 3), 24)]
)
def test_dst_days_have_their_own_number_of_hours(
    runner: Runner, sim: OasisSim, day: date, hours: int
) -> None:
    fill(runner, sim, day, day + timedelta(days=1), nodes=NODES[:2])
    per_node = rows(
        runner,
        "SELECT node, count(DISTINCT interval_start_utc) AS n, min(interval_start_utc) AS lo "
        "FROM lmp WHERE opr_date = $d GROUP BY node ORDER BY node",
        d=day,
    )
    lo, _hi = operating_day_utc(day)
    assert [(r["node"], r["n"], r["lo"]) for r in per_node] == [(n, hours, lo) for n in NODES[:2]]
    for row in rows(
        runner, "SELECT node, n_intervals, avg_lmp FROM lmp_daily WHERE opr_date = $d", d=day
    ):
        want = expected_day(sim, row["node"], day)
        assert row["n_intervals"] == want["n"] == hours
        assert row["avg_lmp"] == pytest.approx(want["avg"], abs=1e-9)
    labels = rows(runner, "SELECT DISTINCT opr_hour FROM lmp ORDER BY opr_hour")
    got = [r["opr_hour"] for r in labels]
    if day == FALL_BACK:
        assert got == [*range(1, 25), 25]
    elif day == SPRING_FORWARD:
        assert got == [1, 2, *range(4, 25)]


def test_a_day_for_all_nodes(runner: Runner, sim: OasisSim) -> None:
    result = fill(runner, sim, FALL_BACK, FALL_BACK + timedelta(days=1), all_nodes=True)
    assert len(result.chunks) == 1 and sim.requests[0].params["grp_type"] == "ALL_APNODES"
    assert count(runner, "lmp") == len(sim.nodes) * 25 == result.rows_loaded
    daily = rows(runner, "SELECT node, n_intervals FROM lmp_daily ORDER BY node")
    assert [(r["node"], r["n_intervals"]) for r in daily] == [(n, 25) for n in sim.nodes]


def test_rerun_fetches_nothing_and_duplicates_nothing(runner: Runner, sim: OasisSim) -> None:
    start, end = date(2025, 11, 1), date(2025, 11, 4)
    first = fill(runner, sim, start, end, all_nodes=True)
    assert first.fetched == 3 and len(sim.requests) == 3
    before = (count(runner, "lmp"), count(runner, "lmp_daily"), count(runner, "lake_manifest"))
    again = fill(runner, sim, start, end, all_nodes=True)
    assert (again.fetched, again.skipped, again.from_bronze, again.rows_loaded) == (0, 3, 0, 0)
    assert len(sim.requests) == 3  # not even fetched: bronze has the windows
    assert not again.gold_built
    after = (count(runner, "lmp"), count(runner, "lmp_daily"), count(runner, "lake_manifest"))
    assert after == before
    keys = rows(
        runner,
        "SELECT count(*) AS n FROM (SELECT DISTINCT market, node, interval_start_utc FROM lmp) k",
    )
    assert keys[0]["n"] == before[0]
    assert [s.name for s in again.run.steps] == []


def test_refresh_fetches_again_without_duplicates(runner: Runner, sim: OasisSim) -> None:
    start, end = date(2025, 11, 1), date(2025, 11, 3)
    fill(runner, sim, start, end, nodes=NODES)
    snapshot = rows(runner, "SELECT node, interval_start_utc, lmp FROM lmp ORDER BY 1, 2")
    refreshed = fill(runner, sim, start, end, nodes=NODES, refresh=True)
    assert refreshed.fetched == 1 and len(sim.requests) == 2
    assert refreshed.gold_built
    assert rows(runner, "SELECT node, interval_start_utc, lmp FROM lmp ORDER BY 1, 2") == snapshot


def test_interrupted_backfill_resumes_where_it_stopped(runner: Runner, sim: OasisSim) -> None:
    start, end = date(2025, 11, 1), date(2025, 11, 5)

    def stop_after_two(item: str, done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fill(runner, sim, start, end, all_nodes=True, progress=stop_after_two)
    assert count(runner, "lmp") == len(sim.nodes) * (24 + 25)
    assert rows(runner, "SELECT status FROM runs")[0]["status"] == "failed"
    asked = len(sim.requests)  # 2, or 3 if the fetch thread was one ahead
    resumed = fill(runner, sim, start, end, all_nodes=True)
    assert resumed.skipped == 2 and resumed.fetched + resumed.from_bronze == 2
    assert len(sim.requests) == asked + resumed.fetched
    assert count(runner, "lmp") == len(sim.nodes) * (24 + 25 + 24 + 24)
    assert count(runner, "lmp_daily") == len(sim.nodes) * 4


def test_window_in_bronze_but_not_loaded_loads_without_fetching(
    runner: Runner, sim: OasisSim
) -> None:
    start, end = date(2025, 11, 1), date(2025, 11, 3)
    fill(runner, sim, start, end, all_nodes=True)
    total = count(runner, "lmp")
    runner.engine.execute("DELETE FROM lmp")
    runner.engine.execute("UPDATE lake_manifest SET loaded_at = NULL")
    result = fill(runner, sim, start, end, all_nodes=True)
    assert (result.fetched, result.from_bronze, len(sim.requests)) == (0, 2, 2)
    assert count(runner, "lmp") == total and result.gold_built


def test_window_fetched_before_it_ended_is_fetched_again(runner: Runner) -> None:
    tomorrow = datetime.now(PACIFIC).date() + timedelta(days=1)
    with OasisSim(rate_limit_s=SIM_RATE_S, all_nodes_count=10) as sim:  # clock: real now
        first = fill(runner, sim, tomorrow, tomorrow + timedelta(days=1), nodes=NODES)
        second = fill(runner, sim, tomorrow, tomorrow + timedelta(days=1), nodes=NODES)
    assert (first.fetched, second.fetched, len(sim.requests)) == (1, 1, 2)
    assert second.skipped == 0


def test_failed_chunk_is_recorded_and_retried_on_the_next_run(
    runner: Runner, sim: OasisSim
) -> None:
    start, end = date(2025, 11, 1), date(2025, 11, 4)
    sim.fail_next("500", "500")  # the first chunk's request and its one retry
    with OasisClient(sim.base_url, min_interval_s=2 * SIM_RATE_S, max_retries=1) as client:
        result = backfill(runner, start, end, "DAM", all_nodes=True, client=client)
    assert (result.fetched, result.failed) == (2, 1)
    failed = result.run.failed_steps
    assert [(s.name, s.target) for s in failed] == [("fetch", "PRC_LMP/DAM/2025-11-01/ALL")]
    assert "HTTP 500" in (failed[0].error or "")
    assert rows(runner, "SELECT status FROM runs")[0]["status"] == "partial"
    retry = fill(runner, sim, start, end, all_nodes=True)
    assert (retry.fetched, retry.skipped) == (1, 2)
    assert count(runner, "lmp_daily") == 3 * len(sim.nodes)


def test_a_dead_server_stops_the_run_after_three_failures(runner: Runner) -> None:
    sim = OasisSim(rate_limit_s=0)
    url = sim.start()
    sim.stop()  # nothing listens there now: connection refused
    with (
        OasisClient(url, min_interval_s=0, max_retries=0, timeout=2) as client,
        pytest.raises(FetchError, match="3 OASIS requests failed in a row"),
    ):
        backfill(
            runner, date(2025, 11, 1), date(2025, 11, 10), "DAM", all_nodes=True, client=client
        )
    run = rows(runner, "SELECT status, error FROM runs")[0]
    assert run["status"] == "failed" and "in a row" in run["error"]
    assert count(runner, "run_steps") == 3


@pytest.mark.parametrize(
    "kw",
    [
        {"nodes": ["bad node"]},
        {"nodes": NODES, "all_nodes": True},
        {"market": "XYZ"},
        {"start": date(2025, 11, 3)},
    ],
)
def test_bad_requests_are_input_errors(runner: Runner, sim: OasisSim, kw: dict[str, Any]) -> None:
    args = {"start": date(2025, 11, 1), "end": date(2025, 11, 2), "nodes": None, **kw}
    with pytest.raises(InputError):
        fill(runner, sim, **args)
    assert not sim.requests


def test_on_peak_follows_weekdays_and_nerc_holidays(runner: Runner) -> None:
    """The gold model's calendar on both engines: one HE12 row per date, built from silver."""
    days = {
        date(2025, 11, 27): False,  # Thanksgiving (4th Thursday)
        date(2025, 11, 20): True,  # a Thursday
        date(2025, 11, 29): True,  # Saturday
        date(2025, 11, 30): False,  # Sunday
        date(2025, 12, 25): False,  # Christmas
        date(2022, 12, 26): False,  # Monday after a Sunday Christmas
        date(2023, 1, 2): False,  # Monday after a Sunday New Year's Day
        date(2026, 1, 1): False,
        date(2026, 5, 25): False,  # Memorial Day (last Monday of May)
        date(2026, 5, 18): True,
        date(2026, 7, 4): False,  # a Saturday holiday stays on the Saturday
        date(2026, 7, 3): True,  # ... so the Friday before is on-peak
        date(2027, 7, 5): False,  # Monday after a Sunday Independence Day
        date(2026, 9, 7): False,  # Labor Day (1st Monday of September)
        date(2026, 9, 14): True,
    }
    runner.setup(PIPELINE)
    batch = []
    for day in days:
        for he in (12, 23):
            t = datetime(day.year, day.month, day.day, he - 1, tzinfo=PACIFIC).astimezone(UTC)
            batch.append(
                {
                    "market": "DAM", "node": "N", "interval_start_utc": t.replace(tzinfo=None),
                    "interval_end_utc": (t + timedelta(hours=1)).replace(tzinfo=None),
                    "opr_date": day, "opr_hour": he, "opr_interval": 0, "lmp": float(he),
                    "energy": 0.0, "congestion": 0.0, "loss": 0.0, "ghg": None, "_source_file": "t",
                }
            )  # fmt: skip
    runner.engine.upsert(LMP, LMP.from_rows(batch))
    runner.engine.build("lmp_daily")
    got = {r["opr_date"]: r for r in rows(runner, "SELECT * FROM lmp_daily")}
    assert {d: r["peak_day"] for d, r in got.items()} == days
    for day, peak in days.items():
        r = got[day]
        assert (r["on_peak_avg_lmp"], r["off_peak_avg_lmp"]) == (
            (12.0, 23.0) if peak else (None, 17.5)
        )
        assert (r["on_peak_intervals"], r["off_peak_intervals"]) == ((1, 1) if peak else (0, 2))


def test_lmp_daily_builds_on_an_empty_table(runner: Runner) -> None:
    runner.setup(PIPELINE)
    assert runner.engine.build("lmp_daily") == 0
    cols = runner.engine.query("SELECT * FROM lmp_daily").column_names
    assert cols[:7] == [
        "market",
        "node",
        "opr_date",
        "avg_lmp",
        "min_lmp",
        "max_lmp",
        "n_intervals",
    ]


def test_ingest_the_real_all_nodes_zip(runner: Runner) -> None:
    path = (
        Path(__file__).resolve().parents[2] / ".." / "shared" / "samples" / "caiso" / ALL_NODES_ZIP
    )
    sample(ALL_NODES_ZIP)  # skips when the samples are absent
    run, reports = ingest(runner, [path])
    assert [(r.rows_loaded, r.rows_rejected) for r in reports] == [(40_712, 0)]
    assert run.steps[-1].name == "gold" and not run.failed_steps
    # OPR_DT 2020-01-01 HE17-24 and 2020-01-02 HE1-16 (a UTC day): 8 + 16 hours per node.
    per_day = rows(
        runner,
        "SELECT opr_date, max(n_intervals) AS hi, sum(n_intervals) AS n "
        "FROM lmp_daily GROUP BY opr_date ORDER BY opr_date",
    )
    assert [(r["opr_date"], r["hi"]) for r in per_day] == [
        (date(2020, 1, 1), 8),
        (date(2020, 1, 2), 16),
    ]
    assert sum(r["n"] for r in per_day) == 40_712
    assert rows(runner, "SELECT count(DISTINCT node) AS n FROM lmp")[0]["n"] == 1_700
    _, again = ingest(runner, [path])
    assert again[0].skipped and count(runner, "lmp") == 40_712


def test_run_and_ingest_from_the_command_line(
    sim: OasisSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from wattlake.cli import app
    from wattlake.config import get_settings
    from wattlake.sims.oasis import generate_csv, zip_one

    monkeypatch.setenv("WATTLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WATTLAKE_WAREHOUSE", raising=False)
    get_settings.cache_clear()
    cli = CliRunner()
    args = ["run", "caiso-lmp", "--start", "2025-11-02", "--end", "2025-11-03", "--market", "DAM"]
    args += ["--node", NODES[0], "--node", NODES[1], "--base-url", sim.base_url]
    args += ["--min-interval", str(2 * SIM_RATE_S)]
    try:
        r = cli.invoke(app, args)
        assert r.exit_code == 0, r.output
        assert "1 fetched" in flat(r.output) and f"{2 * (25 + 24)} rows loaded" in flat(r.output)
        r = cli.invoke(app, args)
        assert r.exit_code == 0 and "1 already loaded" in flat(r.output)
        assert len(sim.requests) == 1
        r = cli.invoke(app, [*args, "--refresh"])
        assert r.exit_code == 0 and "1 fetched" in flat(r.output) and len(sim.requests) == 2
        t0 = datetime(2025, 12, 1, 8, tzinfo=UTC)
        csv = generate_csv("RTPD", t0, t0 + timedelta(hours=1), NODES, model=sim.model)
        f = tmp_path / "rtpd.zip"
        f.write_bytes(zip_one("x.csv", csv, t0))
        r = cli.invoke(app, ["ingest", "caiso-lmp", str(f)])
        assert r.exit_code == 0, r.output
        r = cli.invoke(
            app,
            ["sql", "SELECT market, count(*) AS n FROM lmp GROUP BY 1 ORDER BY 1", "-f", "json"],
        )
        assert json.loads(r.stdout) == [{"market": "DAM", "n": 98}, {"market": "RTPD", "n": 12}]
        r = cli.invoke(app, ["run", "caiso-lmp", "--start", "2025-11-02", "--market", "XYZ"])
        assert r.exit_code == 2
    finally:
        get_settings.cache_clear()
