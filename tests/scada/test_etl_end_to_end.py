"""The SCADA ETL end to end: the source stand-in over real HTTP (the real sample loaded into its
PostgreSQL database) → bronze → scada_samples → scada_10min (DuckDB and PostgreSQL warehouses)
→ a real PostgreSQL target database created here. Expected figures come from pandas, the
original ETL's way, computed in the tests from the source rows."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from tests.scada.etl_support import (
    pandas_10min,
    pg_database,
    sample_csv,
    target_rows,
    target_signals,
)
from wattlake.pipeline import Runner
from wattlake.sims.scada_source import ScadaSourceSim
from wattlake.sinks.scada_target import ScadaTarget
from wattlake.sources.scada.client import RetryPolicy, ScadaClient, day_window
from wattlake.sources.scada.pipeline import plan, push_days, run_days

pytestmark = pytest.mark.usefixtures("pg_available")
DAY = date(2024, 1, 2)  # the sample covers 2024-01-01 01:30 .. 2024-01-11 01:29: a full day
DEFAULT_NAMES = [f"{c}_{a}" for c in ("wind_speed", "power") for a in ("mean", "min", "max", "std")]


def sample_frame() -> pd.DataFrame:
    frame = pd.read_csv(sample_csv(), parse_dates=["timestamp"])
    return frame.set_index("timestamp")


@pytest.fixture
def source() -> Iterator[ScadaSourceSim]:
    """The stand-in on its own PostgreSQL database, holding only the real sample."""
    with pg_database("wl_scada_src") as url:
        sim = ScadaSourceSim(url, generate=False)
        sim.load_csv(sample_csv())
        with sim:
            yield sim


@pytest.fixture
def target() -> Iterator[str]:
    with pg_database("wl_scada_tgt") as url:
        yield url


def etl(runner: Runner, sim: ScadaSourceSim, target: str, days: list[date], **kw: Any) -> Any:
    requests = plan(days, kw.pop("columns", None), kw.pop("turbines", None), kw.pop("zone", "UTC"))
    with ScadaTarget(target) as sink:
        return run_days(runner, requests, base_url=sim.base_url, push=sink.push_day, **kw)


def test_sample_day_equals_pandas_and_reruns_change_nothing(
    runner: Runner, source: ScadaSourceSim, target: str
) -> None:
    result = etl(runner, source, target, [DAY])
    assert (result.fetched, result.skipped, result.failed) == (1, 0, 0)
    assert result.rows_loaded == 1440 * 2 and result.rows_rejected == 0
    assert [(s.name, s.status) for s in result.run.steps] == [
        ("fetch", "ok"), ("silver", "ok"), ("sink", "ok"),
    ]  # fmt: skip
    assert target_signals(target) == list(enumerate(DEFAULT_NAMES, start=1))
    got = target_rows(target)
    assert len(got) == 144 * 8
    stamps = sorted({t for _n, t in got})
    assert (
        len(stamps) == 144
        and stamps[0] == datetime(2024, 1, 2)
        and stamps[-1] == datetime(2024, 1, 2, 23, 50)
    )
    frame = sample_frame().loc["2024-01-02"]
    want = pandas_10min(frame, ["wind_speed", "power"])
    for (name, ts), value in got.items():
        col, agg = name.rsplit("_", 1)
        assert value == pytest.approx(want[(col, agg, ts)], abs=1e-9, rel=0), (name, ts)
    gold = runner.engine.query(
        "SELECT signal, bucket_start_utc, count FROM scada_10min WHERE turbine = 'default'"
    ).to_pylist()
    assert len(gold) == 288 and {g["count"] for g in gold} == {10}

    # Again: nothing fetched, nothing changed in the target.
    again = etl(runner, source, target, [DAY])
    assert (again.fetched, again.skipped, again.target_changed) == (0, 1, 0)
    assert target_rows(target) == got
    # Again, fetching anyway: the same bytes are not loaded again; the target is unchanged.
    fresh = etl(runner, source, target, [DAY], refresh=True)
    assert (fresh.fetched, fresh.rows_loaded, fresh.target_changed) == (1, 0, 0)
    assert target_rows(target) == got and len(target_signals(target)) == 8


def test_corrected_source_day_overwrites(
    runner: Runner, source: ScadaSourceSim, target: str
) -> None:
    etl(runner, source, target, [DAY])
    before = target_rows(target)
    with open(sample_csv(), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    # The source corrects 2024-01-02 00:03 (power 1000.0) and loses 00:14 altogether.
    fixed = [r for r in rows if r["timestamp"] != "2024-01-02 00:14:00"]
    for r in fixed:
        if r["timestamp"] == "2024-01-02 00:03:00":
            r["power"] = "1000.0"
    source.load_rows(fixed)
    result = etl(runner, source, target, [DAY], refresh=True)
    assert result.fetched == 1 and result.rows_loaded == 2 * 1439
    after = target_rows(target)
    frame = pd.DataFrame(fixed).astype({"wind_speed": float, "power": float})
    frame = frame.set_index(pd.to_datetime(frame["timestamp"])).loc["2024-01-02"]
    want = pandas_10min(frame, ["wind_speed", "power"])
    changed = {k for k in after if after[k] != before[k]}
    touched = {datetime(2024, 1, 2, 0, 0), datetime(2024, 1, 2, 0, 10)}
    assert {t for _n, t in changed} == touched and len(after) == len(before)
    assert {("power_mean", datetime(2024, 1, 2)), ("power_max", datetime(2024, 1, 2))} <= changed
    assert {(f"{c}_mean", datetime(2024, 1, 2, 0, 10)) for c in ("power", "wind_speed")} <= changed
    for (name, ts), value in after.items():
        col, agg = name.rsplit("_", 1)
        assert value == pytest.approx(want[(col, agg, ts)], abs=1e-9, rel=0)
    counts = (
        runner.engine.query(
            "SELECT count FROM scada_10min WHERE bucket_start_utc = '2024-01-02 00:10:00+00'"
        )
        .column(0)
        .to_pylist()
    )
    assert counts == [9, 9]


def dst_rows(day: date, zone: ZoneInfo) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Minute rows of local day ``day`` as the source holds them (zone-less wall clock, in time
    order), with 00:00-00:08 local missing: one lone sample at 00:09 in its bucket; and the UTC frame."""
    lo, hi = day_window(day, str(zone))
    rows, index, values = [], [], []
    t, i = lo, 0
    while t < hi:
        local = t.astimezone(zone)
        if not (local.hour == 0 and local.minute < 9 and local.date() == day):
            v = 5 + (i % 17) * 0.37 + (i // 60) * 0.01
            wall = local.replace(tzinfo=None)
            rows.append({"timestamp": wall.isoformat(), "wind_speed": v, "power": v * 3,
                         "ambient_temperature": 10.0})  # fmt: skip
            index.append(t.replace(tzinfo=None))
            values.append(v)
        t += timedelta(minutes=1)
        i += 1
    frame = pd.DataFrame({"wind_speed": values, "power": [v * 3 for v in values]}, index=index)
    return rows, frame


@pytest.mark.parametrize(("day", "hours"), [(date(2024, 11, 3), 25), (date(2024, 3, 10), 23)])
def test_dst_day_in_a_zone_that_has_one(
    runner: Runner, source: ScadaSourceSim, target: str, day: date, hours: int
) -> None:
    zone = ZoneInfo("America/Chicago")
    rows, frame = dst_rows(day, zone)
    source.load_rows(rows, turbine="WTG-DST")
    result = etl(runner, source, target, [day], turbines=["WTG-DST"], zone="America/Chicago")
    assert result.failed == 0 and result.rows_rejected == 0
    assert result.rows_loaded == 2 * (hours * 60 - 9)
    got = target_rows(target)
    assert {n for n, _t in got} == {f"WTG-DST/{n}" for n in DEFAULT_NAMES}
    per_signal = 6 * hours
    assert len([k for k in got if k[0] == "WTG-DST/wind_speed_mean"]) == per_signal
    # The lone 00:09 sample: its bucket has a mean but no std (fewer than two samples).
    assert len([k for k in got if k[0] == "WTG-DST/wind_speed_std"]) == per_signal - 1
    want = pandas_10min(frame, ["wind_speed", "power"])
    for (name, ts), value in got.items():
        col, agg = name.removeprefix("WTG-DST/").rsplit("_", 1)
        assert value == pytest.approx(want[(col, agg, ts)], abs=1e-9, rel=0)


def test_turbines_do_not_collide_and_original_readers_see_the_default(
    runner: Runner, target: str
) -> None:
    with ScadaSourceSim(turbines=3, days=2) as sim:
        etl(runner, sim, target, [date(2024, 5, 20)])
        etl(runner, sim, target, [date(2024, 5, 20)], turbines=["WTG02", "WTG03"])
    names = [n for _i, n in target_signals(target)]
    assert names[:8] == DEFAULT_NAMES
    assert sorted(names[8:]) == sorted(
        f"{t}/{n}" for t in ("WTG02", "WTG03") for n in DEFAULT_NAMES
    )
    import psycopg

    with psycopg.connect(target) as conn:  # the original's reader: by plain signal name
        plain = conn.execute(
            "SELECT d.timestamp, d.value FROM data d JOIN signal s ON s.id = d.signal_id "
            "WHERE s.name = 'wind_speed_mean' ORDER BY d.timestamp"
        ).fetchall()
    gold = (
        runner.engine.query(
            "SELECT mean FROM scada_10min WHERE turbine = 'default' AND signal = 'wind_speed' "
            "ORDER BY bucket_start_utc"
        )
        .column(0)
        .to_pylist()
    )
    assert len(plain) == 144 and [v for _t, v in plain] == pytest.approx(gold, abs=1e-12)
    other = (
        runner.engine.query(
            "SELECT mean FROM scada_10min WHERE turbine = 'WTG02' AND signal = 'wind_speed' "
            "ORDER BY bucket_start_utc"
        )
        .column(0)
        .to_pylist()
    )
    assert other != gold
    # The synthetic farm has missing minutes: every non-null statistic of gold, no more.
    stats = (
        runner.engine.query(
            "SELECT count(mean) + count(min) + count(max) + count(std) FROM scada_10min "
            "WHERE signal IN ('wind_speed', 'power')"
        )
        .column(0)[0]
        .as_py()
    )
    assert len(target_rows(target)) == stats > 3 * 144 * 7


def test_source_down_retries_then_fails_cleanly(runner: Runner, target: str) -> None:
    with ScadaSourceSim(turbines=1, days=3) as sim:
        etl(runner, sim, target, [date(2024, 5, 20)])
        url = sim.base_url
    before = target_rows(target)
    assert len(before) == 1152
    requests = plan([date(2024, 5, 21), date(2024, 5, 22), date(2024, 5, 23)])
    client = ScadaClient(url, policy=RetryPolicy(max_retries=2, backoff_s=0.01))
    with ScadaTarget(target) as sink, pytest.raises(Exception, match="failed in a row") as info:
        run_days(runner, requests, client=client, push=sink.push_day)
    client.close()
    assert "failed after 3 attempts" in str(info.value)
    (run,) = runner.engine.query(
        "SELECT run_id, status, error FROM runs WHERE status <> 'ok'"
    ).to_pylist()
    assert run["status"] == "failed" and "failed after 3 attempts" in run["error"]
    steps = runner.runs.steps(run["run_id"]).to_pylist()
    assert [(s["step"], s["status"]) for s in steps] == [("fetch", "failed")] * 3
    assert "transport error" in steps[0]["error"]
    assert target_rows(target) == before  # nothing partial


def test_push_repushes_from_the_warehouse_without_fetching(
    runner: Runner, source: ScadaSourceSim, target: str
) -> None:
    runner.settings.home.mkdir(parents=True, exist_ok=True)
    requests = plan([DAY, DAY + timedelta(days=1)])
    run_days(runner, requests, base_url=source.base_url)  # no target
    with pg_database("wl_scada_tgt2") as second, ScadaTarget(second) as sink:
        run, pushed = push_days(runner, [DAY, DAY + timedelta(days=1)], sink.push_day)
        assert run.failed_steps == []
        assert [(p.turbines, p.rows, p.changed) for p in pushed] == [(["default"], 1152, 1152)] * 2
        assert len(target_rows(second)) == 2 * 1152
        _run, again = push_days(runner, [DAY], sink.push_day)
        assert again[0].changed == 0 and again[0].deleted == 0


def test_a_failing_push_leaves_the_target_unchanged(target: str) -> None:
    import pyarrow as pa

    with ScadaTarget(target) as sink:
        gold = pa.table(
            {
                "turbine": ["default"] * 2,
                "signal": ["wind_speed", "wind_speed"],
                "bucket_start_utc": pa.array(
                    [datetime(2024, 5, 20), None], pa.timestamp("us", tz="UTC")
                ),
                "mean": [1.0, 2.0], "min": [1.0, 2.0], "max": [1.0, 2.0], "std": [None, None],
                "count": [1, 1],
            }
        )  # fmt: skip
        window = (
            datetime(2024, 5, 20, tzinfo=ZoneInfo("UTC")),
            datetime(2024, 5, 21, tzinfo=ZoneInfo("UTC")),
        )
        with pytest.raises(Exception, match="null value"):
            sink.push(gold, "default", ["wind_speed"], window)
    assert target_signals(target) == [] and target_rows(target) == {}


def test_transient_source_faults_are_retried(runner: Runner, target: str) -> None:
    with ScadaSourceSim(turbines=1, days=1) as sim:
        sim.fail_next("503", "429", "truncate", "500")
        client = ScadaClient(sim.base_url, policy=RetryPolicy(max_retries=4, backoff_s=0.01))
        with ScadaTarget(target) as sink:
            result = run_days(runner, plan([date(2024, 5, 20)]), client=client, push=sink.push_day)
        client.close()
        data = [r for r in sim.requests if r.path == "/data"]
    assert [r.fault for r in data] == ["503", "429", "truncate", "500", None]
    assert result.fetched == 1 and result.failed == 0 and result.run.failed_steps == []
    gold = runner.engine.query("SELECT count(*) FROM scada_10min").column(0)[0].as_py()
    assert gold > 280 and len(target_rows(target)) > 1100


def test_a_failed_load_keeps_nothing_and_resumes_from_bronze(
    runner: Runner, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wattlake.sources.scada.pipeline as pipeline

    with ScadaSourceSim(turbines=1, days=1) as sim:
        monkeypatch.setattr(pipeline, "window_sql", lambda *a: "SELECT no_such_column FROM nowhere")
        failed = etl(runner, sim, target, [date(2024, 5, 20)])
        assert (failed.fetched, failed.failed) == (1, 1)
        assert [(s.name, s.status) for s in failed.run.steps] == [
            ("fetch", "ok"),
            ("silver", "failed"),
        ]
        for table in ("scada_samples", "scada_10min"):  # gold failed: silver rolled back too
            assert runner.engine.query(f"SELECT count(*) FROM {table}").column(0)[0].as_py() == 0
        assert target_rows(target) == {}
        monkeypatch.undo()
        n = len(sim.requests)
        again = etl(runner, sim, target, [date(2024, 5, 20)])
        assert (again.fetched, again.from_bronze, again.failed) == (0, 1, 0)
        assert len(sim.requests) == n  # loaded from bronze, not fetched
    assert len(target_rows(target)) > 1100


def test_a_target_created_by_the_original_is_reused(runner: Runner, target: str) -> None:
    """The seed's Alvo models (SQLAlchemy), written from seed-systems.md C.5, with signals the
    original loaded already: we keep its tables and ids and add no columns."""
    from sqlalchemy import Column, DateTime, Float, ForeignKey, Integer, String, create_engine
    from sqlalchemy.orm import Session, declarative_base

    base = declarative_base()

    class Signal(base):  # type: ignore[misc, valid-type]
        __tablename__ = "signal"
        id = Column(Integer, primary_key=True, index=True)
        name = Column(String, unique=True, index=True)

    class Data(base):  # type: ignore[misc, valid-type]
        __tablename__ = "data"
        timestamp = Column(DateTime, primary_key=True, index=True)
        signal_id = Column(Integer, ForeignKey("signal.id"), primary_key=True)
        value = Column(Float, nullable=False)

    engine = create_engine(target.replace("postgresql://", "postgresql+psycopg://"))
    base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all([Signal(name="power_mean"), Signal(name="power_std")])
        s.commit()
    engine.dispose()
    with ScadaSourceSim(turbines=1, days=1) as sim:
        etl(runner, sim, target, [date(2024, 5, 20)])
    signals = target_signals(target)
    assert signals[:2] == [(1, "power_mean"), (2, "power_std")]
    assert sorted(n for _i, n in signals) == sorted(DEFAULT_NAMES)
    import psycopg

    with psycopg.connect(target) as conn:
        cols = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        ).fetchall()
    assert cols == [
        ("data", "timestamp"), ("data", "signal_id"), ("data", "value"),
        ("signal", "id"), ("signal", "name"),
    ]  # fmt: skip


@pytest.mark.parametrize("engine", ["duckdb"], indirect=True)
def test_a_day_fetched_before_it_ended_is_fetched_again(runner: Runner, target: str) -> None:
    from datetime import UTC

    today = datetime.now(UTC).date()
    with ScadaSourceSim(turbines=1, start=today, days=1) as sim:
        first = etl(runner, sim, target, [today])
        second = etl(runner, sim, target, [today])
        fetches = [r for r in sim.requests if r.path == "/data"]
    assert (first.fetched, second.fetched, second.skipped) == (1, 1, 0)
    assert len(fetches) == 2
