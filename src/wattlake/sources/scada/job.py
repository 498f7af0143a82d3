"""The SCADA job: `wattlake run scada`'s work for ``POST /v1/runs`` and the orchestrator.

Daily partitions in ``WATTLAKE_SCADA_TIMEZONE`` from 2024-05-20 (the original's first day) to
yesterday (a day is fetched once it is over), like the original's Dagster daily-partitioned
asset; a schedule runs yesterday at 00:30 local. The source is ``WATTLAKE_SCADA_SOURCE_URL``
(not a run parameter: an API caller cannot point the server at another host) and the statistics
are pushed to ``WATTLAKE_SCADA_TARGET`` when it is set (the push is part of the run, one target
transaction per day).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from wattlake.config import get_settings
from wattlake.jobs import Check, Job, Partitioning, Schedule, day_in
from wattlake.pipeline import Progress, Runner
from wattlake.redact import redact_url
from wattlake.sinks.scada_target import ScadaTarget
from wattlake.sources.scada.pipeline import PIPELINE, days_between, plan, run_days
from wattlake.timeutil import DAY_HELP

ZONE = get_settings().scada_timezone
Day = Annotated[date, day_in(ZONE), Field(description=DAY_HELP)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]


class ScadaRunParams(BaseModel):
    """Parameters of a SCADA run (days in the source's zone, ``end`` inclusive)."""

    model_config = ConfigDict(extra="forbid")

    start: Day
    end: Day | None = None
    columns: list[Name] | None = Field(None, max_length=50)
    turbines: list[Name] | None = Field(None, max_length=500)
    refresh: bool = False


def run_job(runner: Runner, p: ScadaRunParams, progress: Progress | None = None) -> str:
    """Fetch, aggregate and push ``p``'s days; the run id."""
    s = runner.settings
    requests = plan(days_between(p.start, p.end or p.start), p.columns, p.turbines, ZONE)
    sink = ScadaTarget(s.scada_target) if s.scada_target else None
    try:
        result = run_days(
            runner, requests, base_url=s.scada_source_url,
            push=sink.push_day if sink else None, target=redact_url(sink.url) if sink else None,
            refresh=p.refresh, progress=progress,
        )  # fmt: skip
    finally:
        if sink is not None:
            sink.close()
    return result.run.run_id


JOB = Job(
    pipeline=PIPELINE.name,
    params=ScadaRunParams,
    run=run_job,
    partition_fields=("start", "end", "columns", "turbines"),
    description="Wind SCADA days: 1-minute samples, 10-minute statistics, the target database",
    partitioning=Partitioning("daily", timezone=ZONE, start="2024-05-20", end_offset=-1),
    schedules=(Schedule("scada_daily", "30 0 * * *", ZONE, day_offset=-1),),
    checks=(
        Check(
            "scada_10min_consistent",
            "scada_10min",
            "SELECT count(*) FROM scada_10min WHERE NOT (min <= mean + 1e-9 AND "
            "mean <= max + 1e-9 AND count BETWEEN 1 AND 10 AND (std IS NULL) = (count < 2))",
            "every 10-minute bin: min <= mean <= max, 1..10 samples, std null exactly under 2",
        ),
    ),
)
