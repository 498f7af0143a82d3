"""Run log, per-step status, rejects and key/value state, all kept in the warehouse.

For every file a run loads: rows read = rows loaded + rows rejected. Watermarks and run
numbers live in ``state`` beside the data, so a fresh process resumes where the last stopped.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from wattlake.engines import Engine, Tx
from wattlake.leases import LEASE_SECONDS, Heartbeat, Holder, lease_expiry
from wattlake.parsing import Reject, storable
from wattlake.tables import UTC_TS, Column, TableSpec, utcnow

S, I64, F64 = pa.string(), pa.int64(), pa.float64()

RUNS = TableSpec(
    "runs",
    (
        Column("run_id", S), Column("pipeline", S), Column("params", S, "JSON"),
        Column("status", S, "running | ok | partial | failed"),
        Column("started_at", UTC_TS), Column("finished_at", UTC_TS),
        Column("rows_read", I64), Column("rows_loaded", I64), Column("rows_rejected", I64),
        Column("error", S),
        Column("host", S, "host of the process running it"), Column("pid", I64, "its process id"),
        Column("pid_start", I64, "the process's start time (ticks since boot), tells a reused pid"),
        Column("lease_until", UTC_TS, "renewed by the running process; for other hosts"),
    ),
    primary_key=("run_id",),
    doc="One row per pipeline run.",
)  # fmt: skip
RUN_STEPS = TableSpec(
    "run_steps",
    (
        Column("run_id", S), Column("step_no", I64), Column("step", S, "fetch|bronze|silver|gold|sink"),
        Column("target", S, "file, window or table the step worked on"), Column("status", S),
        Column("rows_read", I64), Column("rows_loaded", I64), Column("rows_rejected", I64),
        Column("started_at", UTC_TS), Column("seconds", F64), Column("error", S),
    ),
    primary_key=("run_id", "step_no"),
    doc="Each step of each run with its counts and timing.",
)  # fmt: skip
REJECTS = TableSpec(
    "rejects",
    (
        Column("run_id", S), Column("source_file", S), Column("seq", I64, "order within the file"),
        Column("line", I64, "1-based line or element number"), Column("field", S),
        Column("rule", S), Column("raw", S),
    ),
    primary_key=("run_id", "source_file", "seq"),
    doc="Rows that could not be loaded, with the reason.",
)  # fmt: skip
STATE = TableSpec(
    "state",
    (Column("key", S), Column("value", S, "JSON"), Column("updated_at", UTC_TS)),
    primary_key=("key",),
    doc="Watermarks and counters.",
)
SYSTEM_TABLES = (RUNS, RUN_STEPS, REJECTS, STATE)
STEP_FLUSH_SECONDS = 1.0
DIED = "process ended without finishing"


class RunCancelled(BaseException):
    """Raised at the start of a run's next step after someone asked it to stop."""


@dataclass
class PlannedRun:
    """A run id chosen before its job starts (so a caller can report it at once) and a flag to
    ask the run to stop at its next step. See :func:`planned_run`."""

    run_id: str
    cancel: threading.Event = field(default_factory=threading.Event)
    started: bool = False
    recorded: threading.Event = field(default_factory=threading.Event)  # its run row exists


_PLANNED: ContextVar[PlannedRun | None] = ContextVar("wattlake_planned_run", default=None)


@contextmanager
def planned_run(planned: PlannedRun) -> Iterator[PlannedRun]:
    """The first run a job starts in this context takes ``planned``'s id and cancel flag."""
    token = _PLANNED.set(planned)
    try:
        yield planned
    finally:
        _PLANNED.reset(token)


def new_run_id() -> str:
    return utcnow().strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


@dataclass
class Step:
    name: str
    target: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    status: str = "ok"
    error: str | None = None


@dataclass
class Run:
    """A run in progress; ``step()`` records each unit of work."""

    log: RunLog
    run_id: str
    pipeline: str
    params: Mapping[str, Any]
    started_at: datetime
    steps: list[Step] = field(default_factory=list)
    unflushed: list[dict[str, Any]] = field(default_factory=list)  # step rows not yet written
    flushed_at: float = field(default_factory=time.monotonic)
    holder: Holder = field(default_factory=Holder.me)
    heartbeat: Heartbeat | None = None
    cancel: threading.Event | None = None  # set: stop at the next step

    @property
    def rows_read(self) -> int:
        return sum(s.rows_read for s in self.steps if s.name == "silver")

    @property
    def rows_loaded(self) -> int:
        return sum(s.rows_loaded for s in self.steps if s.name == "silver")

    @property
    def rows_rejected(self) -> int:
        return sum(s.rows_rejected for s in self.steps if s.name == "silver")

    @property
    def failed_steps(self) -> list[Step]:
        return [s for s in self.steps if s.status == "failed"]

    @contextmanager
    def step(self, name: str, target: str, *, reraise: bool = True) -> Iterator[Step]:
        """Record a step; an exception marks it failed (and is re-raised unless told not to)."""
        if self.cancel is not None and self.cancel.is_set():
            raise RunCancelled(f"run {self.run_id} was asked to stop before step {name} {target}")
        step = Step(name, target)
        self.steps.append(step)
        started = utcnow()
        t0 = time.perf_counter()
        try:
            yield step
        except Exception as exc:
            step.status = "failed"
            step.error = f"{type(exc).__name__}: {exc}"
            self.log.record_step(self, len(self.steps), step, started, time.perf_counter() - t0)
            if reraise:
                raise
            return
        self.log.record_step(self, len(self.steps), step, started, time.perf_counter() - t0)

    def finish(self, error: BaseException | None = None) -> str:
        if error is not None:
            status = "failed"
            text: str | None = "".join(traceback.format_exception_only(error)).strip()
        else:
            status = "partial" if self.failed_steps else "ok"
            text = "; ".join(f"{s.target}: {s.error}" for s in self.failed_steps) or None
        if self.heartbeat is not None:
            self.heartbeat.stop()
        with self.log.engine.transaction() as tx:
            self.log.flush_steps(self, tx)
            tx.upsert(RUNS, _runs_row(self, status, text, utcnow()))
        return status


class RunLog:
    """The run log of ``engine``. Opening it (unless ``read_only``) creates its tables and
    marks runs whose process died without finishing as failed (:meth:`reap`)."""

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        self.engine = engine
        self.read_only = read_only
        if not read_only:
            for spec in SYSTEM_TABLES:
                engine.ensure(spec)
            self.reap()

    def start(self, pipeline: str, params: Mapping[str, Any] | None = None) -> Run:
        if self.read_only:
            from wattlake.errors import WarehouseError

            raise WarehouseError(
                f"cannot run {pipeline}: the warehouse is open read-only here",
                hint="load with a process that opens it for writing (stop `wattlake serve "
                "--read-only`, or use PostgreSQL to load and serve at once)",
            )
        planned = _PLANNED.get()
        run_id = new_run_id()
        if planned is not None and not planned.started:
            planned.started = True
            run_id = planned.run_id
        run = Run(self, run_id, pipeline, dict(params or {}), utcnow())
        run.cancel = planned.cancel if planned is not None else None
        self.engine.upsert(RUNS, _runs_row(run, "running", None, None))
        if planned is not None and planned.run_id == run_id:
            planned.recorded.set()
        run.heartbeat = Heartbeat(lambda: self._renew(run.run_id))
        return run

    def _renew(self, run_id: str) -> None:
        self.engine.execute(
            "UPDATE runs SET lease_until = $until WHERE run_id = $id AND status = 'running'",
            {"until": lease_expiry(LEASE_SECONDS).replace(tzinfo=UTC), "id": run_id},
        )

    def dead_runs(self) -> list[dict[str, Any]]:
        """Runs still marked ``running`` whose process is gone (see ``leases.Holder.alive``).
        A run from before runs had a holder counts as dead once it is a lease period old."""
        rows = self.engine.query(
            "SELECT run_id, host, pid, pid_start, lease_until, started_at FROM runs "
            "WHERE status = 'running'"
        ).to_pylist()
        now = utcnow()
        dead = []
        for r in rows:
            if r["host"] is None or r["pid"] is None or r["lease_until"] is None:
                lease = _naive(r["started_at"] or now) + timedelta(seconds=LEASE_SECONDS)
                if lease > now:
                    continue
            elif Holder(r["host"], r["pid"], r["pid_start"], _naive(r["lease_until"])).alive(now):
                continue
            dead.append(r)
        return dead

    def reap(self) -> list[str]:
        """Mark every dead run ``failed`` ("process ended without finishing"); returns ids."""
        reaped = []
        for r in self.dead_runs():
            where = f"pid {r['pid']} on {r['host']}" if r["pid"] is not None else "unknown process"
            self.engine.execute(
                "UPDATE runs SET status = 'failed', finished_at = $now, error = $error "
                "WHERE run_id = $id AND status = 'running'",
                {"now": datetime.now(UTC), "error": f"{DIED} ({where})", "id": r["run_id"]},
            )
            reaped.append(r["run_id"])
        return reaped

    def exists(self, run_id: str) -> bool:
        rows = self.engine.query("SELECT count(*) FROM runs WHERE run_id = $id", {"id": run_id})
        return bool(rows.column(0)[0].as_py())

    def record_step(self, run: Run, no: int, step: Step, started: datetime, seconds: float) -> None:
        row = {
            "run_id": run.run_id, "step_no": no, "step": step.name, "target": step.target,
            "status": step.status, "rows_read": step.rows_read, "rows_loaded": step.rows_loaded,
            "rows_rejected": step.rows_rejected, "started_at": started, "seconds": seconds,
            "error": step.error,
        }  # fmt: skip
        run.unflushed.append(row)
        if step.status == "failed" or time.monotonic() - run.flushed_at >= STEP_FLUSH_SECONDS:
            self.flush_steps(run)

    def flush_steps(self, run: Run, tx: Tx | None = None) -> None:
        """Write the run's recorded steps. Steps are written in groups (at most
        STEP_FLUSH_SECONDS late, at once when one fails, and at the end of the run): one write
        per step cost more than loading a small file."""
        if not run.unflushed:
            return
        table = RUN_STEPS.from_rows(run.unflushed)
        if tx is not None:
            tx.upsert(RUN_STEPS, table)
        else:
            self.engine.upsert(RUN_STEPS, table)
        run.unflushed = []
        run.flushed_at = time.monotonic()

    def write_rejects(self, tx: Tx, run_id: str, rejects: list[Reject]) -> None:
        """Store ``rejects``; their text is made storable (NUL, undecodable bytes escaped), so
        every engine keeps the same rejects."""
        if not rejects:
            return

        def text(values: list[str | None]) -> pa.Array:
            return pa.array([None if v is None else storable(v) for v in values], S)

        table = pa.table(
            {
                "run_id": pa.array([run_id] * len(rejects), S),
                "source_file": text([r.source_file for r in rejects]),
                "seq": pa.array(range(len(rejects)), I64),
                "line": pa.array([r.line for r in rejects], I64),
                "field": text([r.field for r in rejects]),
                "rule": text([r.rule for r in rejects]),
                "raw": text([r.raw for r in rejects]),
            }
        )
        tx.upsert(REJECTS, table)

    def recent(self, limit: int = 20, *, pipeline: str | None = None) -> pa.Table:
        """The newest runs (of ``pipeline``, or all), each with how many of its steps succeeded
        and failed. A read-only log cannot mark dead runs, so it shows them as they would be
        marked."""
        table = self._recent(limit, pipeline)
        if not self.read_only or table.num_rows == 0:
            return table
        dead = {r["run_id"] for r in self.dead_runs()}
        if not dead:
            return table
        rows = table.to_pylist()
        for r in rows:
            if r["run_id"] in dead:
                r["status"], r["error"] = "failed", DIED
        return pa.Table.from_pylist(rows, schema=table.schema)

    def _recent(self, limit: int, pipeline: str | None) -> pa.Table:
        return self.engine.query(
            "SELECT r.run_id, r.pipeline, r.status, r.started_at, r.finished_at, "
            "(SELECT count(*) FROM run_steps s WHERE s.run_id = r.run_id "
            " AND s.status = 'ok') AS steps_ok, "
            "(SELECT count(*) FROM run_steps s WHERE s.run_id = r.run_id "
            " AND s.status = 'failed') AS steps_failed, "
            "r.rows_read, r.rows_loaded, r.rows_rejected, r.error "
            f"FROM runs r {'WHERE r.pipeline = $pipeline ' if pipeline else ''}"
            "ORDER BY r.started_at DESC LIMIT $limit",
            {"limit": limit} | ({"pipeline": pipeline} if pipeline else {}),
        )

    def steps(self, run_id: str) -> pa.Table:
        return self.engine.query(
            "SELECT step_no, step, target, status, rows_read, rows_loaded, rows_rejected, "
            "seconds, error FROM run_steps WHERE run_id = $run_id ORDER BY step_no",
            {"run_id": run_id},
        )

    # -- key/value state -----------------------------------------------------------------
    def get_state(self, key: str, default: Any = None) -> Any:
        rows = self.engine.query("SELECT value FROM state WHERE key = $key", {"key": key})
        return json.loads(rows.column(0)[0].as_py()) if rows.num_rows else default

    def set_state(self, key: str, value: Any, tx: Tx | None = None) -> None:
        row = STATE.from_rows(
            [{"key": key, "value": json.dumps(value, default=str), "updated_at": utcnow()}]
        )
        if tx is not None:
            tx.upsert(STATE, row)
        else:
            self.engine.upsert(STATE, row)


def _naive(t: datetime) -> datetime:
    """UTC as a naive datetime (what ``utcnow`` gives), whatever the engine returned."""
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


def _runs_row(run: Run, status: str, error: str | None, finished: datetime | None) -> pa.Table:
    row = {
        "run_id": run.run_id, "pipeline": run.pipeline,
        "params": json.dumps(dict(run.params), sort_keys=True, default=str), "status": status,
        "started_at": run.started_at, "finished_at": finished, "rows_read": run.rows_read,
        "rows_loaded": run.rows_loaded, "rows_rejected": run.rows_rejected, "error": error,
        "host": run.holder.host, "pid": run.holder.pid, "pid_start": run.holder.pid_start,
        "lease_until": run.holder.lease_until,
    }  # fmt: skip
    return RUNS.from_rows([row])
