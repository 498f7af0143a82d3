"""The hosting-capacity pipeline: utility CSVs → bronze → feeders / feeder_sections / ders → gold.

``PIPELINE`` is what ``wattlake ingest hosting-capacity PATH…`` loads with. ``refresh(runner)``
is ``wattlake run hosting-capacity``, ``POST /v1/refresh/hosting-capacity`` and the seed's
``/refreshData``: it makes silver mirror the landing folder
``$WATTLAKE_HOME/landing/hosting_capacity/`` (one sub-folder per utility, any number of files
per data set, matched by the formats' file-name globs) through ``Runner.sync_folder``: new or
changed files (by sha256) load and replace their earlier rows, unchanged files are only hashed,
and removed files lose their rows. The result says, per data set and per layer, what happened.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from wattlake.errors import WattlakeError
from wattlake.jobs import Check, Job, Partitioning, landing_files
from wattlake.parsing import FileReport
from wattlake.pipeline import FolderSync, PipelineSpec, Progress, Runner
from wattlake.runs import Step
from wattlake.sources.hosting_capacity.formats import match_format
from wattlake.sources.hosting_capacity.parse import parser_for
from wattlake.sources.hosting_capacity.schema import DERS, FEEDER_SECTIONS, FEEDERS

SOURCE = "hosting_capacity"
LANDING_SCOPE = "landing"  # sync scope of the landing folder (stable if WATTLAKE_HOME moves)

PIPELINE = PipelineSpec(
    name="hosting-capacity",
    source=SOURCE,
    tables=(FEEDERS, FEEDER_SECTIONS, DERS),
    models=("feeder_summary",),
    parser_for=parser_for,
    file_patterns=("*.csv", "*.CSV"),
    replace_by_file=True,
)

LayerState = Literal["ok", "unchanged", "failed", "not run"]
_LOCK = threading.Lock()  # one refresh at a time per process


class FileStatus(BaseModel):
    """One file of a data set: what bronze and silver did with it."""

    file: str = Field(description="Path relative to the landing folder (the rows' _source_file).")
    bronze: Literal["stored", "unchanged", "failed", "gone"]
    silver: Literal["loaded", "unchanged", "removed", "failed", "not run"]
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_deleted: int = Field(0, description="Rows of a removed file that were deleted.")
    error: str | None = None


class DatasetStatus(BaseModel):
    """One utility's data set (circuits, install_der, planned_der) across its files."""

    utility: str = Field(description="Utility code, or 'unknown' for a file no format matches.")
    dataset: str
    bronze: LayerState
    silver: LayerState
    files: list[FileStatus]


class BronzeLayer(BaseModel):
    status: LayerState
    files: int = Field(description="Files found in the landing folder.")
    stored: int = Field(description="New or changed files copied into bronze.")
    unchanged: int = Field(description="Files whose content is already loaded (only hashed).")
    failed: int


class SilverLayer(BaseModel):
    status: LayerState
    loaded: int = Field(description="Files parsed and loaded.")
    removed: int = Field(description="Files gone from the folder whose rows were deleted.")
    failed: int
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    rows_deleted: int


class GoldLayer(BaseModel):
    status: LayerState
    models: dict[str, int] = Field(description="Rows per rebuilt gold table.")


class Layers(BaseModel):
    bronze: BronzeLayer
    silver: SilverLayer
    gold: GoldLayer


class StepError(BaseModel):
    layer: str
    target: str
    error: str


class RefreshReport(BaseModel):
    """What a hosting-capacity refresh did, per layer and per data set, and where it failed."""

    run_id: str
    status: Literal["ok", "partial"] = Field(description="partial: some step failed (errors).")
    folder: str
    seconds: float
    layers: Layers
    datasets: list[DatasetStatus]
    errors: list[StepError]
    rejects: str | None = Field(
        None, description="Where to read the rejected rows (file, line, field, rule, raw)."
    )
    note: str | None = None


def landing_folder(runner: Runner) -> Path:
    return runner.settings.landing_dir(SOURCE)


def refresh(
    runner: Runner,
    folder: Path | None = None,
    *,
    force: bool = False,
    only: Collection[str] | None = None,
    progress: Progress | None = None,
) -> RefreshReport:
    """Sync ``folder`` (default: the landing folder, created if missing) and report;
    ``only``: just those keys (paths relative to the folder)."""
    root = folder or landing_folder(runner)
    root.mkdir(parents=True, exist_ok=True)
    scope = LANDING_SCOPE if folder is None else None
    with _LOCK:
        t0 = time.perf_counter()
        sync = runner.sync_folder(
            PIPELINE, root, scope=scope, force=force, only=only, progress=progress
        )
        return build_report(sync, time.perf_counter() - t0)


def _dataset_of(key: str) -> tuple[str, str]:
    try:
        fmt = match_format(key)
    except WattlakeError:
        fmt = None
    return (fmt.utility, fmt.dataset) if fmt else ("unknown", "unknown")


def _file_status(report: FileReport, steps: dict[tuple[str, str], Step]) -> FileStatus:
    key = report.source_file
    counts = {
        "rows_read": report.rows_read,
        "rows_loaded": report.rows_loaded,
        "rows_rejected": report.rows_rejected,
    }
    bronze = steps.get(("bronze", key))
    if bronze is None:
        return FileStatus(file=key, bronze="unchanged", silver="unchanged")
    if bronze.status == "failed":
        return FileStatus(file=key, bronze="failed", silver="not run", error=bronze.error)
    silver = steps.get(("silver", key))
    if silver is None or silver.status == "failed":
        error = silver.error if silver else report.note
        return FileStatus(file=key, bronze="stored", silver="failed", error=error)
    return FileStatus(file=key, bronze="stored", silver="loaded", **counts)


def _removed_status(report: FileReport, steps: dict[tuple[str, str], Step]) -> FileStatus:
    step = steps[("remove", report.source_file)]
    if step.status == "failed":
        return FileStatus(file=report.source_file, bronze="gone", silver="failed", error=step.error)
    return FileStatus(
        file=report.source_file, bronze="gone", silver="removed", rows_deleted=step.rows_read
    )


def _state(values: Iterable[str], unchanged: tuple[str, ...]) -> LayerState:
    """Roll file outcomes up: any failure fails; nothing that ran changed: unchanged."""
    vals = list(values)
    if "failed" in vals:
        return "failed"
    ran = [v for v in vals if v != "not run"]
    if not ran:
        return "not run" if vals else "unchanged"
    return "unchanged" if all(v in unchanged for v in ran) else "ok"


def build_report(sync: FolderSync, seconds: float) -> RefreshReport:
    """Group a folder sync's outcome by data set and by layer."""
    run = sync.run
    steps = {(s.name, s.target): s for s in run.steps}
    files = [_file_status(r, steps) for r in sync.reports]
    files += [_removed_status(r, steps) for r in sync.removed]
    groups: dict[tuple[str, str], list[FileStatus]] = {}
    for f in sorted(files, key=lambda f: f.file):
        groups.setdefault(_dataset_of(f.file), []).append(f)
    datasets = [
        DatasetStatus(
            utility=utility,
            dataset=dataset,
            bronze=_state((f.bronze for f in fs), ("unchanged", "gone")),
            silver=_state((f.silver for f in fs), ("unchanged",)),
            files=fs,
        )
        for (utility, dataset), fs in sorted(groups.items())
    ]
    gold_steps = [s for s in run.steps if s.name == "gold"]
    bronze = BronzeLayer(
        status=_state((f.bronze for f in files), ("unchanged", "gone")),
        files=len(sync.reports),
        stored=sum(f.bronze == "stored" for f in files),
        unchanged=sum(f.bronze == "unchanged" for f in files),
        failed=sum(f.bronze == "failed" for f in files),
    )
    silver = SilverLayer(
        status=_state((f.silver for f in files), ("unchanged",)),
        loaded=sum(f.silver == "loaded" for f in files),
        removed=sum(f.silver == "removed" for f in files),
        failed=sum(f.silver == "failed" for f in files),
        rows_read=sum(f.rows_read for f in files),
        rows_loaded=sum(f.rows_loaded for f in files),
        rows_rejected=sum(f.rows_rejected for f in files),
        rows_deleted=sum(f.rows_deleted for f in files),
    )
    gold = GoldLayer(
        status=_state((s.status for s in gold_steps), ()) if gold_steps else "unchanged",
        models={s.target: s.rows_loaded for s in gold_steps if s.status == "ok"},
    )
    errors = [
        StepError(layer=s.name, target=s.target, error=s.error or "") for s in run.failed_steps
    ]
    note = None
    if not files:
        note = f"no files in {sync.folder}; put each utility's CSVs in {sync.folder}/<utility>/"
    return RefreshReport(
        run_id=run.run_id,
        status="partial" if errors else "ok",
        folder=str(sync.folder),
        seconds=round(seconds, 4),
        layers=Layers(bronze=bronze, silver=silver, gold=gold),
        datasets=datasets,
        errors=errors,
        rejects=f"/v1/runs/{run.run_id}/rejects" if silver.rows_rejected else None,
        note=note,
    )


# -- the job: `wattlake run hosting-capacity`, POST /v1/runs, /refreshData, the orchestrator ----
class RefreshParams(BaseModel):
    """Refresh the landing folder, or just some of its files (paths relative to it)."""

    model_config = ConfigDict(extra="forbid")

    files: list[str] | None = Field(None, max_length=10_000)
    force: bool = False


def run_job(runner: Runner, p: RefreshParams, progress: Progress | None = None) -> str:
    root = landing_folder(runner)
    root.mkdir(parents=True, exist_ok=True)
    if p.files is not None:
        landing_files(root, p.files)  # refuses keys outside the folder
    return refresh(runner, force=p.force, only=p.files, progress=progress).run_id


JOB = Job(
    pipeline=PIPELINE.name,
    params=RefreshParams,
    run=run_job,
    partition_fields=("files",),
    description="New York utilities' hosting capacity and DER files from the landing folder",
    partitioning=Partitioning("file", landing=SOURCE),
    checks=(
        Check(
            "hosting_capacity_sane",
            "feeders",
            "SELECT count(*) FROM feeders WHERE max_hc_mw < 0 OR min_hc_mw < 0"
            " OR min_hc_mw > max_hc_mw",
            "hosting capacity is non-negative and min <= max",
        ),
    ),
)
