"""The Green Button pipeline: ESPI feeds → bronze → silver (``usage_points``, ``reading_types``,
``meter_readings``, ``interval_reads``, ``usage_summaries``) → gold ``usage_daily``.

``PIPELINE`` is the spec every Green Button load goes through; :func:`parser` makes the parser
with a custodian name and a fallback zone. :func:`ingest` loads downloaded ("Download My
Data") files, folders, or every ``*.xml`` under an ``s3://…`` (any fsspec URL) prefix — this is
``wattlake ingest espi``. Fetched feeds (Connect My Data) go through ``Runner.store`` and
``Runner.load_artifact`` with ``spec_for(...)`` — ``client.py`` and the fetch functions build
on this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import BaseModel, ConfigDict, Field

from wattlake.config import get_settings
from wattlake.errors import InputError, LakeError
from wattlake.jobs import Check, Job, Partitioning, Schedule, Sink
from wattlake.parsing import FileReport, Parser
from wattlake.pipeline import PipelineSpec, Progress, Runner
from wattlake.runs import Run
from wattlake.sources.espi.localtime import check_zone
from wattlake.sources.espi.parse import parse_espi
from wattlake.sources.espi.schema import TABLES

SOURCE = "espi"
NAME = "green-button"
PATTERNS = ("*.xml", "*.XML")


def parser(*, zone: str | None = None, custodian: str | None = None) -> Parser:
    """``parse_espi`` bound to a fallback IANA ``zone`` (default: ``WATTLAKE_ESPI_TIMEZONE``)
    and a ``custodian`` name for the key columns."""
    zone = zone or get_settings().espi_timezone
    if zone:
        try:
            check_zone(zone)
        except ValueError as exc:
            raise InputError(
                str(exc), hint="pass an IANA zone such as America/Los_Angeles"
            ) from None
    return partial(parse_espi, zone=zone, custodian=custodian)


def parser_for(name: str) -> Parser:
    """Every Green Button artifact (XML feed) uses the ESPI parser."""
    return parser()


PIPELINE = PipelineSpec(
    name=NAME,
    source=SOURCE,
    tables=TABLES,
    models=("usage_daily",),
    parser_for=parser_for,
    file_patterns=PATTERNS,
)


def spec_for(*, zone: str | None = None, custodian: str | None = None) -> PipelineSpec:
    """``PIPELINE`` with its parser bound to ``zone`` and ``custodian``."""
    bound = parser(zone=zone, custodian=custodian)
    return replace(PIPELINE, parser_for=lambda name: bound)


def ingest(
    runner: Runner,
    paths: Sequence[str | os.PathLike[str]],
    *,
    zone: str | None = None,
    custodian: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
    storage_options: dict[str, Any] | None = None,
) -> tuple[Run, list[FileReport]]:
    """Load Green Button files: local files and folders (``*.xml``, recursively) or object-store
    prefixes (``s3://bucket/prefix``, any fsspec URL). Each file goes to bronze then silver in
    its own transaction; gold is rebuilt when anything loaded. ``storage_options`` go to fsspec
    (credentials, ``client_kwargs={"endpoint_url": …}``); by default the usual AWS variables."""
    spec = spec_for(zone=zone, custodian=custodian)
    local = [p for p in paths if "://" not in str(p)]
    remote = [str(p) for p in paths if "://" in str(p)]
    if not remote:
        return runner.ingest_files(spec, local, force=force, progress=progress)
    return _ingest_remote(runner, spec, local, remote, force, progress, storage_options or {})


def _remote_files(url: str, options: dict[str, Any]) -> Iterable[tuple[object, str, str]]:
    """(filesystem, path, key) of each XML file under ``url``."""
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(url, **options)
    except (ImportError, ValueError) as exc:
        raise LakeError(
            f"cannot open {url}: {exc}", hint="for s3:// install the `s3` extra"
        ) from None
    if fs.isfile(root):
        return [(fs, root, Path(root).name)]
    found = sorted(p for pat in PATTERNS for p in fs.glob(f"{root.rstrip('/')}/**/{pat}"))
    return [(fs, p, p[len(root.rstrip("/")) + 1 :]) for p in dict.fromkeys(found)]


def _open(fs: Any, path: str) -> BinaryIO:
    if fs is None:
        return Path(path).open("rb")
    stream: BinaryIO = fs.open(path, "rb")
    return stream


def _ingest_remote(
    runner: Runner,
    spec: PipelineSpec,
    local: list[str | os.PathLike[str]],
    remote: list[str],
    force: bool,
    progress: Progress | None,
    options: dict[str, Any],
) -> tuple[Run, list[FileReport]]:
    from wattlake.pipeline import expand_paths

    files: list[tuple[object, str, str]] = [
        (None, str(p), p.name) for p in expand_paths(local, spec.file_patterns)
    ]
    for url in remote:
        files.extend(_remote_files(url, options))
    runner.setup(spec)
    run = runner.runs.start(spec.name, {"files": [f[1] for f in files], "force": force})
    reports: list[FileReport] = []
    try:
        for i, (fs, path, key) in enumerate(files):
            with run.step("bronze", key, reraise=False), _open(fs, path) as fh:
                artifact = runner.store(spec, run, key, fh, params={"from": path})
            if run.steps[-1].status == "ok":
                reports.append(runner.load_artifact(spec, run, artifact, force=force))
            if progress:
                progress(key, i + 1, len(files))
        if any(r.rows_loaded for r in reports) or force:
            runner.build_gold(spec, run)
    except BaseException as exc:
        run.finish(exc)
        raise
    run.finish()
    return run, reports


# -- the job: `wattlake run green-button`, POST /v1/runs and the orchestrator ------------------
# One client configuration serves the job: ``WATTLAKE_GREEN_BUTTON_CONFIG`` names its TOML file
# (never a request parameter: a path from the API would let a caller read files).
CONFIG_ENV = "WATTLAKE_GREEN_BUTTON_CONFIG"


def job_config() -> Any:
    from wattlake.sources.espi.config import load_config

    path = os.environ.get(CONFIG_ENV)
    if not path:
        raise InputError(
            f"{CONFIG_ENV} is not set",
            hint="point it at the client's TOML file (see `wattlake run green-button --help`)",
        )
    return load_config(path)


class FetchParams(BaseModel):
    """Fetch what is new for every usage point of the client, or one (``usage_point``), or the
    usage points of some projects."""

    model_config = ConfigDict(extra="forbid")

    usage_point: str | None = Field(None, max_length=200)
    projects: list[str] | None = Field(None, max_length=10_000)


def run_job(runner: Runner, p: FetchParams, progress: Progress | None = None) -> str:
    from wattlake.sources.espi.fetch import run_green_button

    report = run_green_button(
        runner, job_config(), usage_points={p.usage_point} if p.usage_point else None,
        projects=set(p.projects) if p.projects else None,
    )  # fmt: skip
    return report.run.run_id


def discover_usage_points(runner: Runner) -> list[str]:
    """The usage points the client's customers have today (asks the utility)."""
    from wattlake.sources.espi.fetch import customers_of, make_clients

    cfg = job_config()
    client, auth_client = make_clients(cfg)
    try:
        found = []
        for auth in customers_of(cfg, auth_client):
            found += [ref.usage_point_id for ref in client.usage_points(auth)]
        return sorted(set(found))
    finally:
        client.close()
        if auth_client is not None:
            auth_client.close()


def push_datastore(runner: Runner, params: Mapping[str, Any], progress: Progress | None) -> str:
    """Upload every loaded raw file not uploaded yet (the OEEM datastore sink)."""
    from wattlake.sinks.oeem_datastore import push

    return push(runner, job_config()).run_id


JOB = Job(
    pipeline=NAME,
    params=FetchParams,
    run=run_job,
    partition_fields=("usage_point", "projects"),
    description="Green Button Connect: what is new per usage point, then the datastore upload",
    partitioning=Partitioning(
        "key", param="usage_point", discover=discover_usage_points, timezone="UTC"
    ),
    schedules=(
        Schedule("green_button_fetch_daily", "0 6 * * *", "America/Los_Angeles"),
        Schedule("green_button_upload_hourly", "20 * * * *", "UTC", target="oeem_datastore"),
    ),
    checks=(
        Check(
            "daily_complete_at_most_one",
            "usage_daily",
            "SELECT count(*) FROM usage_daily WHERE completeness > 1.000001 OR completeness < 0",
            "a local day's completeness is between 0 and 1",
        ),
    ),
    sinks=(
        Sink(
            "oeem_datastore",
            ("interval_reads", "meter_readings", "reading_types"),
            push_datastore,
            "projects and consumption uploaded to the OEEM datastore (sync2)",
        ),
    ),
)
