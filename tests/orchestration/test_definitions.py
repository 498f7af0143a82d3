"""Dagster definitions generated from the registry: they load, name what the plan names, run
the same code as the CLI, react to landing files, and tick at the right local times."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

dg = pytest.importorskip("dagster", reason="extra 'dagster' not installed")

from wattlake.config import Settings  # noqa: E402
from wattlake.orchestration import definitions as od  # noqa: E402
from wattlake.orchestration.plan import listing, plans  # noqa: E402
from wattlake.pipeline import Runner  # noqa: E402
from wattlake.registry import PIPELINES, get_job, get_pipeline  # noqa: E402
from wattlake.sims.oasis import OasisSim  # noqa: E402
from wattlake.sources.caiso.pipeline import backfill  # noqa: E402
from wattlake.sources.meter_files.generate import write_lp  # noqa: E402


def resource(home: Path) -> od.WattlakeResource:
    return od.WattlakeResource(home=str(home))


def table_rows(home: Path, sql: str) -> list[dict[str, object]]:
    runner = Runner.open(Settings(home=home))
    try:
        return runner.engine.query(sql).to_pylist()
    finally:
        runner.close()


def plan_of(source: str) -> od.PipelinePlan:
    return next(p for p in plans() if p.spec.source == source)


def test_definitions_load_and_match_the_plan() -> None:
    defs = od.build_definitions()
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    found = listing()
    assert keys == set(found["assets"])
    assert {s.name for s in defs.schedules} == set(found["schedules"])
    assert {s.name for s in defs.sensors} == set(found["sensors"])
    checks = {k.name for k in graph.asset_check_keys}
    assert checks == set(found["checks"])
    # every registered pipeline is in, with lineage bronze -> silver -> gold
    assert {p.spec.name for p in plans()} == set(PIPELINES)
    lmp_daily = graph.get(dg.AssetKey(["caiso", "gold", "lmp_daily"]))
    assert dg.AssetKey(["caiso", "silver", "lmp"]) in lmp_daily.parent_keys
    lmp = graph.get(dg.AssetKey(["caiso", "silver", "lmp"]))
    assert dg.AssetKey(["caiso", "bronze"]) in lmp.parent_keys
    meter_daily = graph.get(dg.AssetKey(["meter_files", "gold", "meter_daily"]))
    assert meter_daily.parent_keys == {dg.AssetKey(["meter_files", "silver", "meter_reads"])}


def test_meter_file_partition_lands_the_same_rows_as_the_cli(tmp_path: Path) -> None:
    dag_home, cli_home = tmp_path / "dagster_home", tmp_path / "cli_home"
    for home in (dag_home, cli_home):
        landing = Settings(home=home).landing_dir("meter_files")
        landing.mkdir(parents=True)
        write_lp(landing / "LP_111_a.csv", "111", "PLANT1", date(2024, 3, 1), 2, seed=3)
    plan = plan_of("meter_files")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(plan.partitions_name, ["LP_111_a.csv"])
    result = dg.materialize(
        [od.pipeline_assets(plan)],
        partition_key="LP_111_a.csv",
        resources={"wattlake": resource(dag_home)},
        instance=instance,
    )
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "daily_min_avg_max_ordered": True,
        "meter_files_rejects_below_threshold": True,
    }

    runner = Runner.open(Settings(home=cli_home))
    try:
        landing = runner.settings.landing_dir("meter_files")
        runner.ingest_files(get_pipeline("meter-files"), [landing / "LP_111_a.csv"])
    finally:
        runner.close()
    sql = "SELECT meter_code, data_type, reading_utc, value FROM meter_reads ORDER BY 1, 2, 3"
    ours, cli = table_rows(dag_home, sql), table_rows(cli_home, sql)
    assert len(ours) == 2 * 96 * 4 and ours == cli  # 2 days of 15-min reads, 4 data types


def test_a_partition_key_outside_the_landing_folder_is_refused(tmp_path: Path) -> None:
    job = get_job("meter-files")
    runner = Runner.open(Settings(home=tmp_path))
    try:
        with pytest.raises(Exception, match="not inside"):
            job.execute(runner, job.params_for({"file": "../../etc/passwd"}))
    finally:
        runner.close()


def test_caiso_partition_on_a_dst_day_runs_against_the_stand_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = plan_of("caiso")
    day = "2025-11-02"  # fall back: 25 hours
    with OasisSim(rate_limit_s=0.0, now=datetime(2026, 1, 1, tzinfo=UTC)) as sim:
        monkeypatch.setenv("WATTLAKE_OASIS_URL", sim.base_url)
        result = dg.materialize(
            [od.pipeline_assets(plan)],
            partition_key=dg.MultiPartitionKey({"date": day, "market": "DAM"}),
            resources={"wattlake": resource(tmp_path / "dag")},
        )
        assert result.success
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert checks == {
            "lmp_equals_components": True,
            "complete_intervals": True,
            "caiso_rejects_below_threshold": True,
        }
        runner = Runner.open(Settings(home=tmp_path / "cli"))
        try:
            backfill(runner, date(2025, 11, 2), date(2025, 11, 3), "DAM", base_url=sim.base_url,
                     min_interval_s=0.0)  # fmt: skip
        finally:
            runner.close()
    sql = "SELECT node, interval_start_utc, lmp, energy FROM lmp ORDER BY 1, 2"
    ours = table_rows(tmp_path / "dag", sql)
    assert ours == table_rows(tmp_path / "cli", sql)
    per_node = table_rows(tmp_path / "dag", "SELECT node, count(*) AS n FROM lmp GROUP BY node")
    assert per_node and {r["n"] for r in per_node} == {25}


def test_complete_intervals_check_fails_on_a_missing_hour(tmp_path: Path) -> None:
    job = get_job("caiso-lmp")
    check = next(c for c in job.checks if c.name == "complete_intervals")
    assert check.params is not None
    assert check.params({"date": "2025-11-02", "market": "DAM"}) == {"expected": 25}
    assert check.params({"date": "2025-03-09", "market": "DAM"}) == {"expected": 23}
    assert check.params({"date": "2025-03-09", "market": "RTM"}) == {"expected": 23 * 12}
    assert check.params({"date": "2025-06-01", "market": "RTPD"}) == {"expected": 96}


def test_landing_sensor_fires_on_new_and_changed_files_only(tmp_path: Path) -> None:
    plan = plan_of("meter_files")
    job_def = dg.define_asset_job("j", selection=dg.AssetSelection.assets(od.pipeline_assets(plan)))
    sensor = od.landing_sensor(plan, job_def)
    landing = Settings(home=tmp_path).landing_dir("meter_files")
    landing.mkdir(parents=True)
    write_lp(landing / "LP_1.csv", "1", "P", date(2024, 1, 1), 1)
    (landing / "notes.txt").write_text("not a meter file")
    instance = dg.DagsterInstance.ephemeral()

    def tick(cursor: str | None) -> dg.SensorResult:
        ctx = dg.build_sensor_context(
            instance=instance, cursor=cursor, resources={"wattlake": resource(tmp_path)}
        )
        result = sensor(ctx)
        assert isinstance(result, dg.SensorResult)
        return result

    first = tick(None)
    assert [r.partition_key for r in first.run_requests or []] == ["LP_1.csv"]
    adds = first.dynamic_partitions_requests or []
    assert [list(a.partition_keys) for a in adds] == [["LP_1.csv"]]
    again = tick(first.cursor)
    assert not again.run_requests and not again.dynamic_partitions_requests
    os.utime(landing / "LP_1.csv", ns=(1, 1))  # touched, same bytes
    touched = tick(again.cursor)
    assert not touched.run_requests
    write_lp(landing / "LP_1.csv", "1", "P", date(2024, 1, 1), 2)  # changed content
    write_lp(landing / "LP_2.csv", "2", "P", date(2024, 1, 1), 1)  # new
    changed = tick(touched.cursor)
    assert sorted(r.partition_key or "" for r in changed.run_requests or []) == [
        "LP_1.csv",
        "LP_2.csv",
    ]
    assert [list(a.partition_keys) for a in changed.dynamic_partitions_requests or []] == [
        ["LP_2.csv"]
    ]
    run_keys = {r.run_key for r in first.run_requests or []} | {
        r.run_key for r in changed.run_requests or []
    }
    assert len(run_keys) == 3  # a changed file gets a new run key


def test_schedules_tick_at_local_times_across_dst() -> None:
    from dagster._utils.schedules import cron_string_iterator

    defs = od.build_definitions()
    repo = defs.get_repository_def()
    dam = defs.get_schedule_def("caiso_dam_daily")
    assert dam.execution_timezone == "America/Los_Angeles"
    start = datetime(2025, 10, 31, 12, tzinfo=UTC).timestamp()
    ticks = cron_string_iterator(start, dam.cron_schedule, dam.execution_timezone)
    utc_hours = [next(ticks).astimezone(UTC).hour for _ in range(4)]
    # 14:30 Pacific: PDT (UTC-7) until Nov 2, PST (UTC-8) after
    assert utc_hours == [21, 21, 22, 22]
    # each tick asks for the next operating day (DAM publishes a day ahead)
    when = datetime(2025, 11, 1, 21, 30, tzinfo=UTC)
    ctx = dg.build_schedule_context(scheduled_execution_time=when, repository_def=repo)
    request = dam.evaluate_tick(ctx).run_requests[0]
    assert request.partition_key == dg.MultiPartitionKey({"date": "2025-11-02", "market": "DAM"})
    # the real-time closing run just after local midnight asks for the day before
    close = defs.get_schedule_def("caiso_rtm_close")
    when = datetime(2025, 11, 3, 8, 20, tzinfo=UTC)  # 00:20 PST on Nov 3
    ctx = dg.build_schedule_context(scheduled_execution_time=when, repository_def=repo)
    request = close.evaluate_tick(ctx).run_requests[0]
    assert request.partition_key == dg.MultiPartitionKey({"date": "2025-11-02", "market": "RTM"})


def test_green_button_usage_points_are_discovered_and_fetched_like_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.espi_connect.helpers import write_config

    from wattlake.sims.datastore import DatastoreSim
    from wattlake.sims.green_button import Customer, GreenButtonSim, UsagePointSpec
    from wattlake.sources.espi.fetch import run_green_button

    plan = plan_of("espi")
    customers = [
        Customer("P-1", "501", [UsagePointSpec("71", service_start=date(2026, 5, 1))]),
        Customer("P-2", "502", [UsagePointSpec("72", "gas", service_start=date(2026, 5, 1))]),
    ]
    now = datetime(2026, 5, 20, 19, tzinfo=UTC)
    with GreenButtonSim(customers, now=now) as sim, DatastoreSim(tmp_path / "ds.sqlite") as ds:
        cfg = write_config(tmp_path, sim, monkeypatch, datastore=ds.url)
        monkeypatch.setenv("WATTLAKE_GREEN_BUTTON_CONFIG", str(cfg.path))
        instance = dg.DagsterInstance.ephemeral()
        defs = od.build_definitions(resource(tmp_path / "dag"))
        sensor = defs.get_sensor_def(plan.sensors[0])
        ctx = dg.build_sensor_context(
            instance=instance, resources={"wattlake": resource(tmp_path / "dag")}
        )
        found = sensor(ctx)
        assert isinstance(found, dg.SensorResult)
        assert sorted(r.partition_key or "" for r in found.run_requests or []) == ["71", "72"]
        instance.add_dynamic_partitions(plan.partitions_name, ["71", "72"])
        result = dg.materialize(
            [od.pipeline_assets(plan)], partition_key="71", instance=instance,
            resources={"wattlake": resource(tmp_path / "dag")},
        )  # fmt: skip
        assert result.success
        # the CLI's way, in another warehouse, for the same usage point
        runner = Runner.open(Settings(home=tmp_path / "cli"))
        try:
            run_green_button(runner, cfg, usage_points={"71"})
        finally:
            runner.close()
        sink = dg.materialize(
            od.sink_assets(plan), resources={"wattlake": resource(tmp_path / "dag")},
            instance=instance,
        )  # fmt: skip
        assert sink.success
        uploaded = ds.query("SELECT count(*) FROM consumption_record")[0][0]
    sql = (
        "SELECT usage_point_id, reading_type_id, interval_start_utc, value FROM interval_reads"
        " ORDER BY 1, 2, 3"
    )
    ours = table_rows(tmp_path / "dag", sql)
    assert ours and ours == table_rows(tmp_path / "cli", sql)
    assert {r["usage_point_id"] for r in ours} == {"71"}
    assert uploaded == len(ours)
