"""Dagster definitions for every registered pipeline, built from :mod:`.plan`.

Per pipeline: one multi-asset (bronze → silver → gold, with lineage) whose step runs the job
exactly as ``wattlake run`` / ``POST /v1/runs`` do and then evaluates the job's checks; one
asset per sink; a partitioned asset job; schedules in the source's time zone; a landing
sensor for file-partitioned jobs (a new or changed file requests a run of just that file; an
unchanged folder requests nothing) and a discovery sensor for key-partitioned ones. The
``wattlake`` resource carries the warehouse, lake and home (default: the process settings).

Load with ``dagster dev -m wattlake.orchestration.definitions`` (``wattlake orchestrate``).
"""

import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition as AssetJob,
)

from wattlake.config import Settings
from wattlake.jobs import Job
from wattlake.lake import sha256_file
from wattlake.orchestration.plan import REJECT_CHECK, PipelinePlan, plans
from wattlake.pipeline import Runner, expand_paths


class WattlakeResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where wattlake keeps its data; empty fields fall back to ``WATTLAKE_*`` settings."""

    home: str | None = None
    warehouse: str | None = None
    lake_url: str | None = None
    max_reject_share: float = 0.01  # the reject check fails above this share of rows read

    def settings(self) -> Settings:
        base = Settings() if not self.home else Settings(home=Path(self.home))
        update = {"warehouse": self.warehouse, "lake_url": self.lake_url}
        return base.model_copy(update={k: v for k, v in update.items() if v})

    def open_runner(self) -> Runner:
        return Runner.open(self.settings())


# -- partitions --------------------------------------------------------------------------
def partitions_def(plan: PipelinePlan) -> dg.PartitionsDefinition:
    """Dagster's daily partition of a day exists once the day is over; ours run up to today +
    ``end_offset`` (the day in progress, tomorrow for day-ahead prices), hence the +1."""
    p = plan.job.partitioning
    if p.kind == "daily":
        daily = dg.DailyPartitionsDefinition(
            start_date=p.start or "2020-01-01", timezone=p.timezone, end_offset=p.end_offset + 1
        )
        if not p.dimension:
            return daily
        name, values = p.dimension
        return dg.MultiPartitionsDefinition(
            {"date": daily, name: dg.StaticPartitionsDefinition(list(values))}
        )
    return dg.DynamicPartitionsDefinition(name=plan.partitions_name)


def partition_dict(job: Job, key: str | dg.MultiPartitionKey) -> dict[str, str]:
    """Dagster's partition key as the job's partition dict."""
    p = job.partitioning
    if isinstance(key, dg.MultiPartitionKey):
        return dict(key.keys_by_dimension)
    if p.kind == "daily":
        return {"date": key}
    return {"file" if p.kind == "file" else p.param: key}


def partition_key(job: Job, day: str, dimension: str | None) -> str:
    if job.partitioning.dimension and dimension:
        return dg.MultiPartitionKey({"date": day, job.partitioning.dimension[0]: dimension})
    return day


# -- assets ------------------------------------------------------------------------------
def _key(parts: tuple[str, ...]) -> dg.AssetKey:
    return dg.AssetKey(list(parts))


def pipeline_assets(plan: PipelinePlan) -> dg.AssetsDefinition:
    job, source = plan.job, plan.spec.source
    specs = [
        dg.AssetSpec(
            _key(a.key),
            deps=[_key(d) for d in a.deps],
            group_name=plan.group,
            description=a.description,
            kinds={a.layer},
        )
        for a in plan.assets
    ]
    checks = [
        dg.AssetCheckSpec(c.name, asset=_key(plan.table_key(c.table)), description=c.description)
        for c in job.checks
    ]
    checks.append(
        dg.AssetCheckSpec(
            f"{source}_{REJECT_CHECK}",
            asset=_key(plan.assets[0].key),
            description="rows rejected by the run are below the resource's max_reject_share",
        )
    )

    @dg.multi_asset(
        name=f"{source}_pipeline",
        specs=specs,
        check_specs=checks,
        partitions_def=partitions_def(plan),
        can_subset=False,
        description=job.description or plan.spec.name,
    )
    def run_pipeline(
        context: dg.AssetExecutionContext, wattlake: WattlakeResource
    ) -> Iterator[dg.MaterializeResult[Any] | dg.AssetCheckResult]:
        partition = partition_dict(job, context.partition_key)
        params = job.params_for(partition)
        runner = wattlake.open_runner()
        try:
            run_id = job.execute(runner, params)
            run = _run_row(runner, run_id)
            context.log.info(f"wattlake run {run_id}: {run['status']}")
            if run["status"] == "failed":
                raise dg.Failure(f"run {run_id} failed: {run['error']}", metadata=_meta(run))
            for a in plan.assets:
                yield dg.MaterializeResult(asset_key=_key(a.key), metadata=_meta(run))
            for c in job.checks:
                args = dict(partition) | (c.params(partition) if c.params else {})
                used = {k: v for k, v in args.items() if f"${k}" in c.sql}
                bad = int(runner.engine.query(c.sql, used).column(0)[0].as_py() or 0)
                yield dg.AssetCheckResult(
                    check_name=c.name,
                    asset_key=_key(plan.table_key(c.table)),
                    passed=bad == 0,
                    metadata={"rows_breaking_rule": bad},
                )
            read, rejected = run["rows_read"] or 0, run["rows_rejected"] or 0
            yield dg.AssetCheckResult(
                check_name=f"{source}_{REJECT_CHECK}",
                asset_key=_key(plan.assets[0].key),
                passed=rejected <= wattlake.max_reject_share * max(read, 1),
                metadata={"rows_read": read, "rows_rejected": rejected},
            )
        finally:
            runner.close()

    return run_pipeline


def sink_assets(plan: PipelinePlan) -> list[dg.AssetsDefinition]:
    return [_sink_asset(plan, sink, a) for sink, a in zip(plan.job.sinks, plan.sinks, strict=True)]


def _sink_asset(plan: PipelinePlan, sink: Any, a: Any) -> dg.AssetsDefinition:
    def push(wattlake: WattlakeResource) -> dg.MaterializeResult[Any]:
        runner = wattlake.open_runner()
        try:
            run = _run_row(runner, sink.run(runner, {}, None))
        finally:
            runner.close()
        if run["status"] == "failed":
            raise dg.Failure(f"run {run['run_id']} failed: {run['error']}")
        return dg.MaterializeResult(metadata=_meta(run))

    return dg.asset(
        key=_key(a.key),
        deps=[_key(d) for d in a.deps],
        group_name=plan.group,
        description=a.description,
        kinds={"sink"},
    )(push)


def _run_row(runner: Runner, run_id: str) -> dict[str, Any]:
    rows = runner.engine.query(
        "SELECT run_id, status, rows_read, rows_loaded, rows_rejected, error FROM runs"
        " WHERE run_id = $id",
        {"id": run_id},
    ).to_pylist()
    if not rows:
        raise dg.Failure(f"run {run_id} is not in the run log")
    return dict(rows[0])


def _meta(run: Mapping[str, Any]) -> dict[str, Any]:
    return {k: run[k] for k in ("run_id", "status", "rows_read", "rows_loaded", "rows_rejected")}


# -- schedules and sensors ---------------------------------------------------------------
def schedules(
    plan: PipelinePlan,
    job_def: AssetJob,
    sink_jobs: Mapping[str, AssetJob],
) -> list[Any]:
    made = []
    for s in plan.job.schedules:
        if s.target:  # a sink's schedule: push whatever is new
            made.append(
                dg.ScheduleDefinition(
                    name=s.name,
                    cron_schedule=s.cron,
                    execution_timezone=s.timezone,
                    job=sink_jobs[s.target],
                    description=f"{plan.spec.name}: push {s.target}",
                )
            )
            continue

        def tick(context: dg.ScheduleEvaluationContext, _s: Any = s) -> Any:
            when: datetime = context.scheduled_execution_time
            local = when.astimezone(ZoneInfo(_s.timezone)).date() + timedelta(days=_s.day_offset)
            if plan.job.partitioning.kind == "key":
                keys = context.instance.get_dynamic_partitions(plan.partitions_name)
                return [dg.RunRequest(partition_key=k) for k in keys]
            key = partition_key(plan.job, local.isoformat(), _s.dimension)
            return dg.RunRequest(partition_key=key)

        made.append(
            dg.schedule(
                name=s.name,
                cron_schedule=s.cron,
                execution_timezone=s.timezone,
                job=job_def,
                description=f"{plan.spec.name}: partition of local day {s.day_offset:+d}",
            )(tick)
        )
    return made


def folder_state(folder: Path, patterns: tuple[str, ...]) -> dict[str, str]:
    """``{key: "size:mtime_ns"}`` of the files a file-partitioned job would load."""
    if not folder.is_dir():
        return {}
    state = {}
    for path in expand_paths([folder], patterns):
        st = path.stat()
        state[path.relative_to(folder).as_posix()] = f"{st.st_size}:{st.st_mtime_ns}"
    return state


def landing_sensor(plan: PipelinePlan, job_def: AssetJob) -> Any:
    spec, p = plan.spec, plan.job.partitioning

    def watch(context: dg.SensorEvaluationContext, wattlake: WattlakeResource) -> dg.SensorResult:
        folder = wattlake.settings().landing_dir(p.landing or spec.source)
        before: dict[str, list[str]] = json.loads(context.cursor) if context.cursor else {}
        now = folder_state(folder, spec.file_patterns)
        state: dict[str, list[str]] = {}
        requests, new_keys = [], []
        for key, stamp in sorted(now.items()):
            old = before.get(key)
            if old and old[0] == stamp:
                state[key] = old
                continue
            sha = sha256_file(folder / key)
            state[key] = [stamp, sha]
            if old and old[1] == sha:  # touched, same bytes
                continue
            if not old:
                new_keys.append(key)
            requests.append(dg.RunRequest(run_key=f"{key}@{sha}", partition_key=key))
        if spec.replace_by_file:  # a removed file's rows go: refresh that key
            for key in sorted(set(before) - set(now)):
                requests.append(dg.RunRequest(run_key=f"{key}@gone", partition_key=key))
        adds = [dg.AddDynamicPartitionsRequest(plan.partitions_name, new_keys)] if new_keys else []
        return dg.SensorResult(
            run_requests=requests, dynamic_partitions_requests=adds, cursor=json.dumps(state)
        )

    return dg.sensor(
        name=plan.sensors[0],
        job=job_def,
        minimum_interval_seconds=30,
        description=f"new or changed files in landing/{p.landing}/ → a run of just that file",
    )(watch)


def discovery_sensor(plan: PipelinePlan, job_def: AssetJob) -> Any:
    discover = plan.job.partitioning.discover

    def watch(context: dg.SensorEvaluationContext, wattlake: WattlakeResource) -> dg.SensorResult:
        known = set(context.instance.get_dynamic_partitions(plan.partitions_name))
        runner = wattlake.open_runner()
        try:
            found = [k for k in (discover(runner) if discover else []) if k not in known]
        finally:
            runner.close()
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"first:{k}", partition_key=k) for k in found],
            dynamic_partitions_requests=(
                [dg.AddDynamicPartitionsRequest(plan.partitions_name, found)] if found else []
            ),
        )

    return dg.sensor(
        name=plan.sensors[0],
        job=job_def,
        minimum_interval_seconds=300,
        description=f"adds a partition (and a first run) for each new {plan.job.partitioning.param}",
    )(watch)


# -- everything --------------------------------------------------------------------------
def build_definitions(resource: WattlakeResource | None = None) -> dg.Definitions:
    assets: list[Any] = []
    jobs: list[Any] = []
    all_schedules: list[Any] = []
    sensors: list[Any] = []
    for plan in plans():
        pipeline = pipeline_assets(plan)
        sinks = sink_assets(plan)
        assets += [pipeline, *sinks]
        job_def = dg.define_asset_job(
            plan.job_name,
            selection=dg.AssetSelection.assets(pipeline),
            partitions_def=partitions_def(plan),
            description=plan.job.description,
        )
        jobs.append(job_def)
        sink_jobs = {
            sink.name: dg.define_asset_job(
                f"{plan.spec.source}_{sink.name}_job", selection=dg.AssetSelection.assets(sink_def)
            )
            for sink_def, sink in zip(sinks, plan.job.sinks, strict=True)
        }
        jobs += sink_jobs.values()
        all_schedules += schedules(plan, job_def, sink_jobs)
        kind = plan.job.partitioning.kind
        if kind == "file":
            sensors.append(landing_sensor(plan, job_def))
        elif kind == "key":
            sensors.append(discovery_sensor(plan, job_def))
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        schedules=all_schedules,
        sensors=sensors,
        resources={"wattlake": resource or WattlakeResource()},
    )


defs = build_definitions()
