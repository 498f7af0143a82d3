"""The CAISO LMP pipeline: OASIS answers → bronze → ``lmp`` (silver) → ``lmp_daily`` (gold).

:func:`backfill` fetches Pacific operating days from OASIS (or the stand-in): it plans
OASIS-sized chunks (:func:`~.client.plan_chunks`), and for each one

* skips it when bronze already holds a *complete* answer for its key (fetched after the
  window ended) that is loaded;
* loads it from bronze, without fetching, when the answer is there but not loaded (a run
  stopped between storing and loading, or its load failed);
* otherwise fetches it (step ``fetch``: HTTP plus the bronze write, with the request parameters
  in the manifest) and loads it (step ``silver``, one transaction per chunk).

So an interrupted backfill resumes where it stopped, and ``refresh=True`` fetches everything
again. The next chunk is fetched in a background thread while this one loads. Gold is rebuilt
at the end when anything was loaded. :func:`ingest` loads OASIS zips already on disk.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from wattlake.background import prefetch
from wattlake.errors import FetchError, InputError
from wattlake.jobs import Check, Job, Partitioning, Schedule, day_in
from wattlake.lake import Artifact
from wattlake.parsing import FileReport, Parser
from wattlake.pipeline import PipelineSpec, Progress, Runner
from wattlake.runs import Run, Step
from wattlake.sources.caiso.client import (
    DEFAULT_REAL_OASIS_URL,
    ChunkRequest,
    OasisClient,
    plan_chunks,
)
from wattlake.sources.caiso.parse import parse_oasis_zip
from wattlake.sources.caiso.schema import LMP, Market, market_query
from wattlake.tables import utcnow
from wattlake.timeutil import DAY_HELP

SOURCE = "caiso"
MAX_CONSECUTIVE_FAILURES = 3  # fetches failing in a row before the run stops


def parser_for(name: str) -> Parser:
    """Every OASIS LMP answer (zip, bare CSV or error XML) goes through the same parser."""
    return parse_oasis_zip


PIPELINE = PipelineSpec(
    name="caiso-lmp",
    source=SOURCE,
    tables=(LMP,),
    models=("lmp_daily",),
    parser_for=parser_for,
    file_patterns=("*.zip", "*.ZIP"),
)


@dataclass
class Backfill:
    """What :func:`backfill` did, chunk by chunk (``reports`` holds one per chunk loaded)."""

    run: Run
    chunks: list[ChunkRequest]
    fetched: int = 0  # chunks fetched from OASIS in this run
    from_bronze: int = 0  # already in bronze, loaded now without fetching
    skipped: int = 0  # already in bronze and loaded: nothing to do
    failed: int = 0  # chunks whose fetch or load failed (the run goes on: status partial)
    reports: list[FileReport] = field(default_factory=list)
    gold_built: bool = False
    waited_s: float = 0.0  # time the loader spent waiting for the source (fetch not ahead)

    @property
    def rows_loaded(self) -> int:
        return sum(r.rows_loaded for r in self.reports)

    @property
    def rows_rejected(self) -> int:
        return sum(r.rows_rejected for r in self.reports)


@dataclass(frozen=True)
class _Fetched:
    """A fetch done in the background thread: the body or the error, and how long it took."""

    chunk: ChunkRequest
    body: bytes | None
    error: Exception | None
    started: datetime
    seconds: float


def backfill(
    runner: Runner,
    start: date,
    end: date,
    market: Market | str = Market.DAM,
    nodes: Sequence[str] | None = None,
    *,
    all_nodes: bool = False,
    base_url: str = DEFAULT_REAL_OASIS_URL,
    refresh: bool = False,
    progress: Progress | None = None,
    client: OasisClient | None = None,
    min_interval_s: float = 5.0,
) -> Backfill:
    """Fetch and load LMPs for Pacific operating days ``[start, end)`` (``end`` exclusive).

    ``nodes`` (default: the three trading hubs) or ``all_nodes=True``; ``client`` overrides
    ``base_url``/``min_interval_s`` (the least time between requests, shared per host). A failed
    chunk is recorded and the run goes on (status ``partial``); after
    ``MAX_CONSECUTIVE_FAILURES`` failed fetches in a row the run stops with that error.
    """
    try:
        q = market_query(market)
        chunks = plan_chunks(start, end, q.market, nodes, all_nodes=all_nodes)
    except (ValueError, TypeError) as exc:
        raise InputError(str(exc), hint="check --start/--end, --market and --node") from None
    runner.setup(PIPELINE)
    own = client is None
    http = client or OasisClient(base_url, min_interval_s=min_interval_s)
    params: dict[str, Any] = {
        "start": start.isoformat(), "end": end.isoformat(), "market": q.market.value,
        "nodes": list(nodes or []), "all_nodes": all_nodes, "base_url": http.base_url,
        "refresh": refresh, "chunks": len(chunks),
    }  # fmt: skip
    run = runner.runs.start(PIPELINE.name, params)
    result = Backfill(run, chunks)
    try:
        _run_chunks(runner, http, result, refresh, progress)
        missing = any(not runner.engine.table_exists(m) for m in PIPELINE.models)
        if result.rows_loaded or refresh or missing:
            runner.build_gold(PIPELINE, run)
            result.gold_built = True
    except BaseException as exc:
        run.finish(exc)
        raise
    finally:
        if own:
            http.close()
    run.finish()
    return result


def _run_chunks(
    runner: Runner,
    http: OasisClient,
    result: Backfill,
    refresh: bool,
    progress: Progress | None,
) -> None:
    known = {} if refresh else in_bronze(runner)
    plan: list[tuple[ChunkRequest, dict[str, Any] | None]] = []
    for chunk in result.chunks:
        row = known.get(chunk.key)
        plan.append((chunk, row if row is not None and _complete(row, chunk) else None))
    to_fetch = [chunk for chunk, row in plan if row is None]
    fetched = prefetch(_fetch_all(http, to_fetch), depth=2)
    try:
        _each_chunk(runner, http, result, plan, fetched, progress)
    finally:
        close = getattr(fetched, "close", None)  # stop the fetch thread on an error
        if close is not None:
            close()


def _each_chunk(
    runner: Runner,
    http: OasisClient,
    result: Backfill,
    plan: list[tuple[ChunkRequest, dict[str, Any] | None]],
    fetched: Iterator[_Fetched],
    progress: Progress | None,
) -> None:
    run = result.run
    failures = 0
    for i, (chunk, row) in enumerate(plan):
        if row is not None and row["loaded_at"] is not None:
            result.skipped += 1
        elif row is not None:
            result.from_bronze += 1
            report = runner.load_artifact(PIPELINE, run, runner.manifest.artifact(row))
            result.reports.append(report)
            result.failed += _load_failed(run, report)
        else:
            t0 = time.perf_counter()
            got = next(fetched)
            result.waited_s += time.perf_counter() - t0
            assert got.chunk is chunk
            artifact = _store(runner, run, got, http)
            if artifact is None:
                result.failed += 1
                failures += 1
                if failures >= MAX_CONSECUTIVE_FAILURES:
                    raise FetchError(
                        f"{failures} OASIS requests failed in a row; last: {run.steps[-1].error}",
                        hint="check --base-url and that OASIS answers; run again to resume",
                    )
            else:
                failures = 0
                result.fetched += 1
                report = runner.load_artifact(PIPELINE, run, artifact)
                result.reports.append(report)
                result.failed += _load_failed(run, report)
        if progress:
            progress(chunk.key, i + 1, len(plan))


def _load_failed(run: Run, report: FileReport) -> bool:
    step = run.steps[-1] if run.steps else None
    return (
        not report.skipped
        and step is not None
        and step.name == "silver"
        and step.status == "failed"
    )


def _fetch_all(http: OasisClient, chunks: list[ChunkRequest]) -> Iterator[_Fetched]:
    """Fetch each chunk in turn (run in a background thread by ``prefetch``)."""
    for chunk in chunks:
        started = utcnow()
        t0 = time.perf_counter()
        try:
            body: bytes | None = http.get_chunk(chunk)
            error: Exception | None = None
        except Exception as exc:
            body, error = None, exc
        yield _Fetched(chunk, body, error, started, time.perf_counter() - t0)


def _store(runner: Runner, run: Run, got: _Fetched, http: OasisClient) -> Artifact | None:
    """Record the fetch step and put the answer in bronze; None if either failed."""
    step = Step("fetch", got.chunk.key)
    artifact = None
    t0 = time.perf_counter()
    if got.error is not None:
        step.status, step.error = "failed", f"{type(got.error).__name__}: {got.error}"
    else:
        assert got.body is not None
        params = {**got.chunk.params, "url": http.url(got.chunk), "bytes": len(got.body)}
        try:
            artifact = runner.store(PIPELINE, run, got.chunk.key, io.BytesIO(got.body), params)
        except Exception as exc:
            step.status, step.error = "failed", f"{type(exc).__name__}: {exc}"
    run.steps.append(step)
    seconds = got.seconds + time.perf_counter() - t0
    run.log.record_step(run, len(run.steps), step, got.started, seconds)
    return artifact


def in_bronze(runner: Runner) -> dict[str, dict[str, Any]]:
    """The newest manifest row of each CAISO key (a request window) in bronze."""
    return runner.manifest.newest_by_key(SOURCE)


def _complete(row: dict[str, Any], chunk: ChunkRequest) -> bool:
    """Was this answer fetched after its window ended? (An earlier one may lack data.)"""
    fetched: datetime = row["fetched_at"]
    if fetched.tzinfo is None:
        fetched = fetched.replace(tzinfo=UTC)
    return fetched >= chunk.end_utc


def ingest(
    runner: Runner,
    paths: Iterable[str | os.PathLike[str]],
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> tuple[Run, list[FileReport]]:
    """Load OASIS zips already on disk (files, or folders searched for ``*.zip``)."""
    return runner.ingest_files(PIPELINE, paths, force=force, progress=progress)


# -- the job: `wattlake run caiso-lmp`, POST /v1/runs and the orchestrator ---------------------
PACIFIC = "America/Los_Angeles"
PacificDay = Annotated[date, day_in(PACIFIC), Field(description=DAY_HELP)]


class LmpRunParams(BaseModel):
    """Parameters of a CAISO LMP run (operating days in Pacific time, ``end`` inclusive)."""

    model_config = ConfigDict(extra="forbid")

    start: PacificDay
    end: PacificDay | None = None
    market: Market = Market.DAM
    nodes: list[str] | None = Field(None, max_length=1000)
    all_nodes: bool = False
    refresh: bool = False
    min_interval_s: float = Field(5.0, ge=0.0, le=600.0)


def run_job(runner: Runner, p: LmpRunParams, progress: Progress | None = None) -> str:
    """Fetch and load ``p``'s days from the OASIS at ``WATTLAKE_OASIS_URL`` (default: the real
    one); the run id."""
    last = p.end or p.start
    if last < p.start:
        raise InputError("end is before start", hint="give end >= start (both inclusive)")
    url = os.environ.get("WATTLAKE_OASIS_URL") or DEFAULT_REAL_OASIS_URL
    result = backfill(
        runner, p.start, last + timedelta(days=1), p.market, p.nodes, all_nodes=p.all_nodes,
        base_url=url, refresh=p.refresh, progress=progress, min_interval_s=p.min_interval_s,
    )  # fmt: skip
    return result.run.run_id


def _expected_intervals(partition: Mapping[str, str]) -> dict[str, Any]:
    """Intervals one node has on a complete operating day: 23, 24 or 25 hours × per hour."""
    day = date.fromisoformat(partition["date"])
    tz = ZoneInfo(PACIFIC)
    midnight = datetime.combine(day, datetime.min.time(), tz)
    next_midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz)
    seconds = (next_midnight.astimezone(UTC) - midnight.astimezone(UTC)).total_seconds()
    step = market_query(partition["market"]).interval.total_seconds()
    return {"expected": int(seconds // step)}


JOB = Job(
    pipeline=PIPELINE.name,
    params=LmpRunParams,
    run=run_job,
    partition_fields=("start", "end", "market", "nodes", "all_nodes"),
    description="CAISO OASIS LMPs per Pacific operating day and market",
    partitioning=Partitioning(
        "daily",
        timezone=PACIFIC,
        start="2020-01-01",
        end_offset=1,
        dimension=("market", tuple(m.value for m in Market)),
    ),
    schedules=(
        # Day-ahead results for tomorrow are published around 13:00 Pacific.
        Schedule("caiso_dam_daily", "30 14 * * *", PACIFIC, day_offset=1, dimension="DAM"),
        # Real-time: today's hours so far, every hour; and yesterday's last hour once it closed.
        Schedule("caiso_rtm_hourly", "10 * * * *", PACIFIC, day_offset=0, dimension="RTM"),
        Schedule("caiso_rtm_close", "20 0 * * *", PACIFIC, day_offset=-1, dimension="RTM"),
    ),
    checks=(
        Check(
            "lmp_equals_components",
            "lmp",
            "SELECT count(*) FROM lmp WHERE market = $market AND opr_date = CAST($date AS DATE)"
            " AND energy IS NOT NULL AND congestion IS NOT NULL AND loss IS NOT NULL"
            " AND abs(lmp - (energy + congestion + loss + coalesce(ghg, 0))) > 0.01",
            "LMP equals energy + congestion + loss (+ GHG) within 1 cent, where all are present",
        ),
        Check(
            "complete_intervals",
            "lmp",
            "SELECT count(*) FROM (SELECT node, count(*) AS n FROM lmp WHERE market = $market"
            " AND opr_date = CAST($date AS DATE) GROUP BY node) AS per_node WHERE n <> $expected",
            "every node has every interval of the operating day (23/24/25 hours on DST days)",
            params=_expected_intervals,
        ),
    ),
)
