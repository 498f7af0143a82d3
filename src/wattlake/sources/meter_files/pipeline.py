"""The meter-files pipeline: LP/TOU files → bronze → meter_reads/meter_registers → gold."""

from __future__ import annotations

from functools import partial

from pydantic import BaseModel, ConfigDict, Field

from wattlake.config import get_settings
from wattlake.jobs import Check, Job, Partitioning, landing_files
from wattlake.parsing import Parser
from wattlake.pipeline import PipelineSpec, Progress, Runner
from wattlake.sources.meter_files.parse import parse_meter_file
from wattlake.sources.meter_files.schema import METER_READS, METER_REGISTERS


def parser_for(name: str) -> Parser:
    """Every meter file uses the same parser; the layout is read from the header."""
    settings = get_settings()
    return partial(
        parse_meter_file, timezone=settings.meter_timezone, encoding=settings.meter_encoding
    )


PIPELINE = PipelineSpec(
    name="meter-files",
    source="meter_files",
    tables=(METER_READS, METER_REGISTERS),
    models=("meter_daily", "meter_daily_mixed"),
    parser_for=parser_for,
    file_patterns=("*.csv", "*.CSV"),
)


# -- the job: /load-data, POST /v1/runs and the orchestrator -------------------------------
class LoadParams(BaseModel):
    """Load the landing folder, or just some of its files (paths relative to it)."""

    model_config = ConfigDict(extra="forbid")

    files: list[str] | None = Field(None, max_length=10_000)
    force: bool = False


def run_job(runner: Runner, p: LoadParams, progress: Progress | None = None) -> str:
    root = runner.settings.landing_dir(PIPELINE.source)
    root.mkdir(parents=True, exist_ok=True)
    paths = landing_files(root, p.files)
    run, _ = runner.ingest_files(PIPELINE, paths, force=p.force, progress=progress)
    return run.run_id


JOB = Job(
    pipeline=PIPELINE.name,
    params=LoadParams,
    run=run_job,
    partition_fields=("files",),
    description="LP and TOU meter export files from the landing folder",
    partitioning=Partitioning("file", landing=PIPELINE.source),
    checks=(
        Check(
            "daily_min_avg_max_ordered",
            "meter_daily",
            "SELECT count(*) FROM meter_daily WHERE NOT (min_value <= avg_value"
            " AND avg_value <= max_value + 1e-9)",
            "each meter-day's min <= avg <= max",
        ),
    ),
)
