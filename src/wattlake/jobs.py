"""Jobs: each pipeline runnable by name with plain parameters.

A source declares one :class:`Job` beside its ``PIPELINE``: a pydantic model of its run
parameters, the function that runs it (the same code its ``wattlake run`` command calls), how its
work is partitioned, when it runs, and the data rules checked after it. The CLI, the run API
(``POST /v1/runs``) and the Dagster definitions (``wattlake.orchestration``) are all built from
these declarations, so a source added to the registry is orchestrated without code of its own.

Partitions are plain dicts of strings (``{"date": "2025-11-02", "market": "DAM"}``,
``{"file": "utility2/circuits.csv"}``); :meth:`Job.params_for` turns one into run parameters and
:meth:`Job.lease_key` names what two runs must not do at the same time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, BeforeValidator, ValidationError

from wattlake.errors import InputError
from wattlake.pipeline import Progress, Runner
from wattlake.timeutil import parse_day

PartitionKind = Literal["daily", "file", "key"]


def day_in(tz: str) -> BeforeValidator:
    """For ``Annotated[date, day_in(tz)]``: also read ``today``, ``yesterday``, ``-7d`` in ``tz``."""

    def convert(value: Any) -> Any:
        return parse_day(value, tz) if isinstance(value, str) else value

    return BeforeValidator(convert)


def landing_files(folder: Path, keys: Sequence[str] | None) -> list[Path]:
    """The landing folder itself (``keys`` None), or those files in it; a key that points
    outside the folder (``..``, an absolute path, a link out) is refused."""
    if keys is None:
        return [folder]
    root = folder.resolve()
    found = []
    for key in keys:
        if "\x00" in key:
            raise InputError(f"{key!r} holds a NUL byte", hint="name the file by its path")
        path = (folder / key).resolve()
        if not path.is_relative_to(root) or Path(key).is_absolute():
            raise InputError(
                f"{key!r} is not inside {folder}",
                hint="name files by their path relative to the landing folder",
            )
        found.append(path)
    return found


@dataclass(frozen=True)
class Partitioning:
    """How a job's work divides.

    ``daily``: one partition per local day in ``timezone`` from ``start`` to today plus
    ``end_offset`` days (1: day-ahead markets publish tomorrow; -1: only days that are over), optionally crossed with a static
    ``dimension`` (``("market", ("DAM", "RTM"))``); run parameters ``start``/``end`` (inclusive)
    and the dimension's name. ``file``: one partition per file of the landing folder
    ``landing`` (key = path relative to it); run parameter ``files``. ``key``: partitions added
    as they appear (``param`` names them, e.g. usage points).
    """

    kind: PartitionKind
    timezone: str = "UTC"
    start: str | None = None
    end_offset: int = 0
    dimension: tuple[str, tuple[str, ...]] | None = None
    landing: str | None = None
    param: str = "key"
    discover: Callable[[Runner], list[str]] | None = None  # key partitions known today


@dataclass(frozen=True)
class Schedule:
    """A cron schedule in a local zone; each tick runs the partition ``day_offset`` days from the
    tick's local date (``-1``: yesterday), for ``dimension`` when the job has one."""

    name: str
    cron: str
    timezone: str
    day_offset: int = 0
    dimension: str | None = None
    target: str | None = None  # a sink's name: the tick runs that sink instead of the job


@dataclass(frozen=True)
class Check:
    """A data rule: ``sql`` (DuckDB dialect, ``$name`` parameters from the partition) returns
    one row whose first column counts the rows that break it; 0 passes."""

    name: str
    table: str
    sql: str
    description: str
    params: Callable[[Mapping[str, str]], dict[str, Any]] | None = None  # extra from partition


@dataclass(frozen=True)
class Sink:
    """A push downstream (a target database, a datastore) fed by some of the job's tables."""

    name: str
    reads: tuple[str, ...]
    run: Callable[[Runner, Mapping[str, Any], Progress | None], str]  # returns the run id
    description: str = ""


@dataclass(frozen=True)
class Job:
    pipeline: str
    params: type[BaseModel]
    run: Callable[[Runner, Any, Progress | None], str]  # returns the run id
    partitioning: Partitioning
    description: str = ""
    schedules: tuple[Schedule, ...] = ()
    checks: tuple[Check, ...] = ()
    sinks: tuple[Sink, ...] = ()
    partition_fields: tuple[str, ...] | None = None  # the params naming a partition (None: all)

    def parse_params(self, raw: Mapping[str, Any] | None) -> BaseModel:
        """Validated run parameters, or an :class:`InputError` naming the bad field."""
        try:
            return self.params.model_validate(dict(raw or {}))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "params"
            raise InputError(
                f"{self.pipeline}: {where}: {first['msg']}",
                hint=f"parameters of {self.pipeline}: {', '.join(self.params.model_fields)}",
            ) from None

    def params_for(self, partition: Mapping[str, str]) -> BaseModel:
        """Run parameters of one partition."""
        p = self.partitioning
        raw: dict[str, Any] = {}
        if p.kind == "daily":
            raw = {"start": partition["date"], "end": partition["date"]}
            if p.dimension:
                raw[p.dimension[0]] = partition[p.dimension[0]]
        elif p.kind == "file":
            raw = {"files": [partition["file"]]}
        else:
            raw = {p.param: partition[p.param]}
        return self.parse_params(raw)

    def lease_key(self, params: BaseModel) -> str:
        """What must not run twice at once: the pipeline and its parameters' partition."""
        fields = self.partition_fields
        values = params.model_dump(mode="json", include=set(fields) if fields else None)
        body = json.dumps(values, sort_keys=True, separators=(",", ":"))
        return f"{self.pipeline}:{body}"

    def execute(
        self,
        runner: Runner,
        params: BaseModel | Mapping[str, Any],
        progress: Progress | None = None,
    ) -> str:
        """Run the job (validating ``params`` first when given as a mapping); its run id."""
        model = params if isinstance(params, BaseModel) else self.parse_params(params)
        return self.run(runner, model, progress)
