"""The wind SCADA pipeline: source API → bronze → ``scada_samples`` → ``scada_10min`` → target.

:func:`run_days` handles each (day, turbine) in turn:

* **fetch** — one ``GET /data`` for the day and the asked columns (retries: :mod:`wattlake.http`);
  the answer goes to bronze as received (key ``<turbine>/<zone>/<day>/<columns>.json``). A day
  whose newest bronze copy was fetched after the day ended is complete and is not fetched
  again (loaded → skipped; not loaded → loaded from bronze); ``refresh=True`` fetches anyway.
* **silver + gold** — ``Runner.load_artifact``, one transaction: the turbine's samples of
  those columns in that day are replaced by the answer's, so a corrected day overwrites and a
  re-run (same bytes) changes nothing; in the same transaction the turbine's 10-minute buckets
  covering the day (widened to whole buckets) are recomputed from silver with the
  ``scada_10min`` model's SQL (on Spark: a commit-time phase after silver is staged).
* **sink** — with a target, the day's statistics are pushed (:mod:`wattlake.sinks.scada_target`):
  one transaction per day; a failed day leaves the target as it was.

A failed step is recorded and the run goes on (status ``partial``); after
``MAX_CONSECUTIVE_FAILURES`` failed fetches in a row the run stops (status ``failed``).
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from wattlake.background import prefetch
from wattlake.engines import Engine, Tx, load_model
from wattlake.errors import FetchError, InputError
from wattlake.lake import Artifact
from wattlake.parsing import FileReport, Parser
from wattlake.pipeline import PipelineSpec, Progress, Runner
from wattlake.runs import Run, Step
from wattlake.sources.scada.client import DEFAULT_SOURCE_URL, DayRequest, ScadaClient, day_window
from wattlake.sources.scada.parse import day_parser
from wattlake.sources.scada.schema import (
    BUCKET_SECONDS,
    DEFAULT_COLUMNS,
    DEFAULT_TURBINE,
    GOLD_COLUMNS,
    KNOWN_COLUMNS,
    SCADA_10MIN,
    SCADA_SAMPLES,
    check_columns,
    check_turbine,
)
from wattlake.tables import utcnow

SOURCE = "scada"
MAX_CONSECUTIVE_FAILURES = 3
# ``ScadaTarget.push_day``: (gold rows, {turbine: columns}, UTC window) -> PushResult
Pusher = Callable[[pa.Table, dict[str, Sequence[str]], tuple[datetime, datetime]], Any]


def _needs_request(name: str) -> Parser:
    raise InputError(
        f"{name}: a SCADA answer is parsed with its request (turbine, columns, zone)",
        hint="load SCADA days with `wattlake run scada`",
    )


PIPELINE = PipelineSpec(
    name="scada",
    source=SOURCE,
    tables=(SCADA_SAMPLES,),
    models=("scada_10min",),
    parser_for=_needs_request,
    file_patterns=("*.json",),
)


def spec_for(req: DayRequest) -> PipelineSpec:
    """The pipeline spec whose parser is bound to this request."""
    lo, hi = req.window_utc
    parser = day_parser(
        turbine=req.turbine, columns=req.columns, zone=req.zone, start_utc=lo, end_utc=hi
    )
    return replace(PIPELINE, parser_for=lambda _name: parser)


def plan(
    days: Sequence[date],
    columns: Sequence[str] | None = None,
    turbines: Sequence[str] | None = None,
    zone: str = "UTC",
) -> list[DayRequest]:
    """One request per day and turbine (no turbine: the source's default), day by day."""
    try:
        cols = check_columns(list(columns or DEFAULT_COLUMNS))
        names = [check_turbine(t) for t in dict.fromkeys(turbines or [DEFAULT_TURBINE])]
        day_window(days[0] if days else date(2000, 1, 1), zone)
    except (ValueError, KeyError) as exc:
        raise InputError(str(exc), hint="check --columns, --turbine and the time zone") from None
    return [DayRequest(d, t, cols, zone) for d in days for t in names]


def days_between(start: date, end: date) -> list[date]:
    """``start`` .. ``end`` inclusive."""
    if end < start:
        raise InputError(f"--end {end} is before --start {start}", hint="swap them")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


@dataclass
class ScadaRun:
    run: Run
    requests: list[DayRequest]
    target: str | None = None
    fetched: int = 0
    from_bronze: int = 0
    skipped: int = 0
    failed: int = 0
    gold_rows: int = 0
    pushed_rows: int = 0
    target_changed: int = 0
    reports: list[FileReport] = field(default_factory=list)

    @property
    def rows_loaded(self) -> int:
        return sum(r.rows_loaded for r in self.reports)

    @property
    def rows_rejected(self) -> int:
        return sum(r.rows_rejected for r in self.reports)


def run_days(
    runner: Runner,
    requests: list[DayRequest],
    *,
    base_url: str = DEFAULT_SOURCE_URL,
    client: ScadaClient | None = None,
    push: Pusher | None = None,
    target: str | None = None,
    refresh: bool = False,
    progress: Progress | None = None,
) -> ScadaRun:
    """Fetch, load, aggregate and (with ``push``) deliver each request; see the module doc.

    ``push(gold, turbine, columns, window)`` is the sink (``ScadaTarget.push``); ``target`` is
    only recorded in the run's parameters (without a password)."""
    runner.setup(PIPELINE)
    runner.engine.ensure(SCADA_10MIN)
    own = client is None
    http = client or ScadaClient(base_url)
    params = {
        "days": sorted({str(r.day) for r in requests}),
        "turbines": sorted({r.turbine for r in requests}),
        "columns": list(requests[0].columns) if requests else [],
        "zone": requests[0].zone if requests else None,
        "source_url": http.base_url, "target": target, "refresh": refresh,
    }  # fmt: skip
    run = runner.runs.start(PIPELINE.name, params)
    result = ScadaRun(run, requests, target)
    fetched: Iterator[_Fetched] | None = None
    try:
        known = {} if refresh else runner.manifest.newest_by_key(SOURCE)
        rows = {r.key: row for r in requests if _complete(row := known.get(r.key), r)}
        # The days to fetch are fetched in a background thread, two ahead of the loads.
        fetched = prefetch(_fetch_all(http, [r for r in requests if r.key not in rows]), 2)
        failures = 0
        done = 0
        for day, group in groupby(requests, key=lambda r: r.day):
            ready: dict[str, Sequence[str]] = {}
            for req in group:
                ok, fetch_failed = _one(runner, http, result, req, rows.get(req.key), fetched)
                if ok:
                    ready[req.turbine] = req.columns
                failures = failures + 1 if fetch_failed else 0
                if failures >= MAX_CONSECUTIVE_FAILURES:
                    raise FetchError(
                        f"{failures} SCADA source requests failed in a row; last: "
                        f"{run.failed_steps[-1].error}",
                        hint="check --source-url and that the source answers; run again to resume",
                    )
                done += 1
                if progress:
                    progress(f"{req.day} {req.turbine}", done, len(requests))
            if push is not None and ready:
                _push(runner, result, day, ready, push, requests[0].zone)
    except BaseException as exc:
        run.finish(exc)
        raise
    finally:
        close = getattr(fetched, "close", None)  # stop the fetch thread on an error
        if close is not None:
            close()
        if own:
            http.close()
    run.finish()
    return result


def _complete(row: dict[str, Any] | None, req: DayRequest) -> bool:
    """Is this bronze copy of the day complete (fetched after the day ended)?"""
    return row is not None and _aware(row["fetched_at"]) >= req.window_utc[1]


@dataclass(frozen=True)
class _Fetched:
    """A fetch done in the background thread: the body or the error, and how long it took."""

    req: DayRequest
    body: bytes | None
    error: Exception | None
    started: datetime
    seconds: float


def _fetch_all(http: ScadaClient, requests: list[DayRequest]) -> Iterator[_Fetched]:
    for req in requests:
        started, t0 = utcnow(), time.perf_counter()
        try:
            body: bytes | None = http.get_day(req)
            error: Exception | None = None
        except Exception as exc:
            body, error = None, exc
        yield _Fetched(req, body, error, started, time.perf_counter() - t0)


def _one(
    runner: Runner,
    http: ScadaClient,
    result: ScadaRun,
    req: DayRequest,
    row: dict[str, Any] | None,
    fetched: Iterator[_Fetched],
) -> tuple[bool, bool]:
    """One turbine-day (``row``: its complete bronze copy, if any); returns (its data is in
    gold, its fetch failed)."""
    run, spec = result.run, spec_for(req)
    lo, hi = req.window_utc
    if row is not None and row["loaded_at"] is not None:
        result.skipped += 1
    else:
        artifact: Artifact | None
        if row is not None:
            result.from_bronze += 1
            artifact = runner.manifest.artifact(row)
        else:
            got = next(fetched)
            assert got.req == req, "fetches come in request order"
            artifact = _store(runner, http, run, spec, got)
            if artifact is None:
                result.failed += 1
                return False, True
            result.fetched += 1
        report = _load(runner, run, spec, req, artifact)
        result.reports.append(report)
        if run.steps[-1].name == "silver" and run.steps[-1].status == "failed":
            result.failed += 1
            return False, False
        if not report.skipped:
            result.gold_rows += count_window(runner.engine, req.turbine, lo, hi)
    return True, False


def _push(
    runner: Runner,
    result: ScadaRun,
    day: date,
    ready: dict[str, Sequence[str]],
    push: Pusher,
    zone: str,
) -> None:
    """One sink step (one target transaction) for the turbines of ``day`` that are in gold."""
    lo, hi = day_window(day, zone)
    run = result.run
    with run.step("sink", f"scada target {day} ({len(ready)} turbines)", reraise=False) as step:
        gold = read_gold(runner.engine, list(ready), lo, hi)
        pushed = push(gold, ready, (lo, hi))
        step.rows_read, step.rows_loaded = pushed.rows, pushed.changed
        result.pushed_rows += pushed.rows
        result.target_changed += pushed.changed
    if run.steps[-1].status == "failed":
        result.failed += 1


def _load(
    runner: Runner, run: Run, spec: PipelineSpec, req: DayRequest, artifact: Artifact
) -> FileReport:
    """Load one day's answer unless this version of its key is loaded. In one transaction: the
    day's samples of these columns go (whatever answer loaded them: a corrected day leaves no
    stale minute), the answer's rows come in, the day's gold bins are recomputed and the key's
    other versions are unmarked. Deleting by day and turbine uses the silver key (PostgreSQL)
    and zone maps (DuckDB); deleting by ``_source_file`` would scan all of silver per day."""
    if runner.manifest.is_loaded(SOURCE, artifact.sha256, req.key):
        report = FileReport(artifact.key, skipped=True)
        report.note = "already loaded (same sha256)"
        return report
    lo, hi = req.window_utc
    p: dict[str, Any] = {"turbine": req.turbine, "lo": lo, "hi": hi}
    p.update({f"c{i}": c for i, c in enumerate(req.columns)})
    signals = ", ".join(f"$c{i}" for i in range(len(req.columns)))

    def before(tx: Tx) -> None:
        tx.execute(
            f"DELETE FROM scada_samples WHERE turbine = $turbine AND signal IN ({signals}) "
            "AND ts_utc >= $lo AND ts_utc < $hi",
            p,
        )

    def also(tx: Tx) -> None:
        rebuild_window_tx(tx, req.turbine, lo, hi, req.columns)
        runner.manifest.unmark(tx, SOURCE, req.key, keep_sha256=artifact.sha256)

    return runner.load_artifact(spec, run, artifact, force=True, before=before, also=also)


def _store(
    runner: Runner, http: ScadaClient, run: Run, spec: PipelineSpec, got: _Fetched
) -> Artifact | None:
    """Record the fetch step and put the answer in bronze; None if either failed."""
    req, step, artifact = got.req, Step("fetch", got.req.key), None
    t0 = time.perf_counter()
    if got.error is not None:
        step.status, step.error = "failed", f"{type(got.error).__name__}: {got.error}"
    else:
        assert got.body is not None
        params = {
            "url": http.url(req), "day": str(req.day), "turbine": req.turbine,
            "columns": list(req.columns), "zone": req.zone, "bytes": len(got.body),
        }  # fmt: skip
        try:
            artifact = runner.store(spec, run, req.key, io.BytesIO(got.body), params)
        except Exception as exc:
            step.status, step.error = "failed", f"{type(exc).__name__}: {exc}"
    run.steps.append(step)
    run.log.record_step(
        run, len(run.steps), step, got.started, got.seconds + time.perf_counter() - t0
    )
    return artifact


def _aware(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


def _buckets(lo: datetime, hi: datetime) -> tuple[datetime, datetime]:
    """``[lo, hi)`` widened to whole 10-minute buckets."""
    a = math.floor(lo.timestamp() / BUCKET_SECONDS) * BUCKET_SECONDS
    b = math.ceil(hi.timestamp() / BUCKET_SECONDS) * BUCKET_SECONDS
    return datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC)


def window_sql(only: str = "") -> str:
    """The ``scada_10min`` model restricted to one turbine and ``[$lo, $hi)`` of silver (and
    the extra condition ``only``)."""
    sql = load_model("scada_10min").sql
    source = (
        "FROM (SELECT * FROM scada_samples WHERE turbine = $turbine AND ts_utc >= $lo "
        f"AND ts_utc < $hi{only}) AS scada_samples"
    )
    if sql.count("FROM scada_samples") != 1:
        raise RuntimeError("scada_10min.sql must read scada_samples exactly once")
    return sql.replace("FROM scada_samples", source, 1)


def rebuild_window_tx(
    tx: Tx, turbine: str, lo: datetime, hi: datetime, signals: Sequence[str] | None = None
) -> None:
    """Recompute (in ``tx``) the turbine's buckets covering ``[lo, hi)`` from silver (only
    ``signals``' when given)."""
    a, b = _buckets(lo, hi)
    p: dict[str, Any] = {"turbine": turbine, "lo": a, "hi": b}
    only = ""
    if signals:
        p.update({f"s{i}": s for i, s in enumerate(signals)})
        only = " AND signal IN (" + ", ".join(f"$s{i}" for i in range(len(signals))) + ")"
    tx.execute(
        "DELETE FROM scada_10min WHERE turbine = $turbine AND bucket_start_utc >= $lo "
        f"AND bucket_start_utc < $hi{only}",
        p,
    )
    tx.execute(f"INSERT INTO scada_10min ({GOLD_COLUMNS}) {window_sql(only)}", p)


def rebuild_window(engine: Engine, turbine: str, lo: datetime, hi: datetime) -> int:
    """Recompute the turbine's buckets covering ``[lo, hi)``; returns how many there are."""
    with engine.transaction() as tx:
        rebuild_window_tx(tx, turbine, lo, hi)
    return count_window(engine, turbine, lo, hi)


def count_window(engine: Engine, turbine: str, lo: datetime, hi: datetime) -> int:
    a, b = _buckets(lo, hi)
    n = engine.query(
        "SELECT count(*) FROM scada_10min WHERE turbine = $turbine AND bucket_start_utc >= $lo "
        "AND bucket_start_utc < $hi",
        {"turbine": turbine, "lo": a, "hi": b},
    )
    return int(n.column(0)[0].as_py())


def read_gold(engine: Engine, turbines: Sequence[str], lo: datetime, hi: datetime) -> pa.Table:
    """The turbines' buckets starting in ``[lo, hi)``."""
    params: dict[str, Any] = {f"t{i}": t for i, t in enumerate(turbines)}
    names = ", ".join(f"${k}" for k in params) or "NULL"
    return engine.query(
        f"SELECT {GOLD_COLUMNS} FROM scada_10min WHERE turbine IN ({names}) "
        "AND bucket_start_utc >= $lo AND bucket_start_utc < $hi "
        "ORDER BY turbine, signal, bucket_start_utc",
        {**params, "lo": lo, "hi": hi},
    )


def ordered_columns(names: Sequence[str]) -> list[str]:
    """Known columns in the original's order (wind speed, power, temperature), then the rest."""
    known = [c for c in KNOWN_COLUMNS if c in names]
    return known + sorted(set(names) - set(known))


@dataclass
class Pushed:
    day: date
    turbines: list[str]
    rows: int
    changed: int
    deleted: int


def push_days(
    runner: Runner,
    days: Sequence[date],
    push: Pusher,
    *,
    turbines: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    zone: str = "UTC",
    target: str | None = None,
    progress: Progress | None = None,
) -> tuple[Run, list[Pushed]]:
    """Push what the warehouse holds for ``days`` to the target, without fetching (step
    ``sink`` per turbine-day; all turbines with data unless ``turbines``)."""
    runner.engine.ensure(SCADA_10MIN)
    params = {"days": [str(d) for d in days], "turbines": list(turbines or []), "zone": zone,
              "columns": list(columns or []), "target": target}  # fmt: skip
    run = runner.runs.start("scada-push", params)
    out: list[Pushed] = []
    try:
        for i, day in enumerate(days):
            lo, hi = day_window(day, zone)
            names = list(turbines or _turbines(runner.engine, lo, hi))
            if names:
                with run.step("sink", f"scada target {day} ({len(names)} turbines)", reraise=False):
                    gold = read_gold(runner.engine, names, lo, hi)
                    cols: dict[str, Sequence[str]] = {}
                    for name in names:
                        mine = gold.filter(pc.equal(gold.column("turbine"), name))
                        signals = mine.column("signal").unique().to_pylist()
                        cols[name] = list(columns or ordered_columns(signals))
                    r = push(gold, cols, (lo, hi))
                    run.steps[-1].rows_read, run.steps[-1].rows_loaded = r.rows, r.changed
                    out.append(Pushed(day, names, r.rows, r.changed, r.deleted))
            if progress:
                progress(str(day), i + 1, len(days))
    except BaseException as exc:
        run.finish(exc)
        raise
    run.finish()
    return run, out


def _turbines(engine: Engine, lo: datetime, hi: datetime) -> list[str]:
    t = engine.query(
        "SELECT DISTINCT turbine FROM scada_10min WHERE bucket_start_utc >= $lo "
        "AND bucket_start_utc < $hi ORDER BY turbine",
        {"lo": lo, "hi": hi},
    )
    return [str(v) for v in t.column(0).to_pylist()]


from wattlake.sources.scada.job import JOB  # noqa: E402  (the job reads the names above)

__all__ = ["JOB", "PIPELINE", "plan", "push_days", "run_days"]
