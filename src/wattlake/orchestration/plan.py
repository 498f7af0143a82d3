"""What the orchestrator holds, derived from the pipeline registry without importing Dagster.

For every registered pipeline (its :class:`~wattlake.pipeline.PipelineSpec` and
:class:`~wattlake.jobs.Job`): one bronze asset, one asset per silver table, one per gold model
(its upstream tables read from the model's SQL), one per sink; a partitions definition, the
job's schedules, a landing-folder sensor for file-partitioned jobs, a discovery sensor for
key-partitioned ones, and the job's checks plus a reject-share check. ``definitions.py`` turns
this plan into Dagster objects; ``wattlake orchestrate --list`` prints it (fast: no Dagster).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp

from wattlake.engines.base import load_model
from wattlake.jobs import Job
from wattlake.pipeline import PipelineSpec
from wattlake.registry import PIPELINES, get_job, get_pipeline

REJECT_CHECK = "rejects_below_threshold"


@dataclass(frozen=True)
class AssetPlan:
    key: tuple[str, ...]  # (source, layer[, name])
    layer: str  # bronze | silver | gold | sink
    deps: tuple[tuple[str, ...], ...]
    description: str

    @property
    def name(self) -> str:
        return "/".join(self.key)


@dataclass(frozen=True)
class PipelinePlan:
    """Everything the orchestrator builds for one pipeline."""

    spec: PipelineSpec
    job: Job
    assets: tuple[AssetPlan, ...]  # bronze, silver…, gold… (sinks are in ``sinks``)
    sinks: tuple[AssetPlan, ...]

    @property
    def group(self) -> str:
        return self.spec.source

    @property
    def partitions_name(self) -> str:
        p = self.job.partitioning
        suffix = {"daily": "daily", "file": "files", "key": p.param + "s"}[p.kind]
        return f"{self.spec.source}_{suffix}"

    @property
    def job_name(self) -> str:
        return f"{self.spec.source}_job"

    @property
    def sensors(self) -> tuple[str, ...]:
        p = self.job.partitioning
        if p.kind == "file":
            return (f"{self.spec.source}_landing_sensor",)
        if p.kind == "key":
            return (f"{self.spec.source}_discovery_sensor",)
        return ()

    @property
    def schedules(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.job.schedules)

    @property
    def checks(self) -> tuple[str, ...]:
        return (*(c.name for c in self.job.checks), f"{self.spec.source}_{REJECT_CHECK}")

    def table_key(self, table: str) -> tuple[str, ...]:
        for asset in self.assets:
            if asset.layer in ("silver", "gold") and asset.key[-1] == table:
                return asset.key
        raise KeyError(f"{self.spec.name}: no table {table!r}")


def model_inputs(model: str) -> set[str]:
    """The tables a gold model's SQL reads (its CTE names excluded)."""
    tree = sqlglot.parse_one(load_model(model).sql, read="duckdb")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return {t.name for t in tree.find_all(exp.Table)} - ctes


def pipeline_plan(name: str) -> PipelinePlan:
    spec, job = get_pipeline(name), get_job(name)
    src = spec.source
    bronze = AssetPlan((src, "bronze"), "bronze", (), f"raw files of {spec.name}, as received")
    silver = {
        t.name: AssetPlan((src, "silver", t.name), "silver", (bronze.key,), t.doc)
        for t in spec.tables
    }
    gold: dict[str, AssetPlan] = {}
    for model in spec.models:
        reads = model_inputs(model)
        deps = [silver[t].key for t in sorted(reads) if t in silver]
        deps += [gold[t].key for t in sorted(reads) if t in gold]
        gold[model] = AssetPlan((src, "gold", model), "gold", tuple(deps), f"gold model {model}")
    every = silver | gold
    sinks = tuple(
        AssetPlan(
            (src, "sink", s.name), "sink", tuple(every[t].key for t in s.reads), s.description
        )
        for s in job.sinks
    )
    return PipelinePlan(spec, job, (bronze, *silver.values(), *gold.values()), sinks)


@lru_cache(maxsize=1)
def plans() -> tuple[PipelinePlan, ...]:
    return tuple(pipeline_plan(name) for name in PIPELINES)


def listing() -> dict[str, list[str] | dict[str, str]]:
    """The plan as plain data: ``wattlake orchestrate --list --format json``."""
    ps = plans()
    return {
        "assets": [a.name for p in ps for a in (*p.assets, *p.sinks)],
        "schedules": [s for p in ps for s in p.schedules],
        "sensors": [s for p in ps for s in p.sensors],
        "checks": [c for p in ps for c in p.checks],
        "jobs": [p.job_name for p in ps],
        "partitions": {p.partitions_name: _describe_partitions(p.job) for p in ps},
    }


def _describe_partitions(job: Job) -> str:
    p = job.partitioning
    if p.kind == "daily":
        text = f"daily in {p.timezone} from {p.start}"
        if p.end_offset:
            text += f" to today{p.end_offset:+d}"
        if p.dimension:
            text += f" × {p.dimension[0]} ({', '.join(p.dimension[1])})"
        return text
    if p.kind == "file":
        return f"one per file in landing/{p.landing}/ (added by the landing sensor)"
    return f"one per {p.param} (added as they appear)"
