"""Every pipeline wattlake knows, by name (imported lazily: heavy sources load on demand)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from wattlake.errors import ConfigError
from wattlake.pipeline import PipelineSpec

if TYPE_CHECKING:
    from wattlake.jobs import Job

PIPELINES: dict[str, str] = {
    "meter-files": "wattlake.sources.meter_files.pipeline",
    "hosting-capacity": "wattlake.sources.hosting_capacity.pipeline",
    "caiso-lmp": "wattlake.sources.caiso.pipeline",
    "green-button": "wattlake.sources.espi.pipeline",
    "scada": "wattlake.sources.scada.pipeline",
}


def get_pipeline(name: str) -> PipelineSpec:
    try:
        module = PIPELINES[name]
    except KeyError:
        raise ConfigError(
            f"unknown pipeline {name!r}", hint=f"choose one of: {', '.join(sorted(PIPELINES))}"
        ) from None
    spec: PipelineSpec = import_module(module).PIPELINE
    return spec


def get_job(name: str) -> Job:
    """The :class:`~wattlake.jobs.Job` of pipeline ``name`` (how to run, partition, schedule it)."""
    get_pipeline(name)  # the same error for an unknown name
    job: Job = import_module(PIPELINES[name]).JOB
    return job
