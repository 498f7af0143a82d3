"""Start jobs by name, at most one per (pipeline, partition), in the background or in place.

The run API (``POST /v1/runs``), the seed refresh endpoints and anything else that starts
work on a server goes through a :class:`Launcher`:

* a **partition lease** (table ``run_leases``, key = :meth:`Job.lease_key`) makes two runs of the
  same pipeline and partition never overlap: taking it is an insert that only succeeds when no
  live holder has it (on PostgreSQL the primary key makes the insert itself the arbiter across
  processes and hosts; DuckDB has one writing process per file, where a process lock suffices).
  A lease whose holder died (``leases.Holder.alive``) is free again;
* the run id is chosen before the job starts (so ``POST`` can answer 202 with it) and handed to
  the job's first ``RunLog.start`` through :func:`wattlake.runs.planned_run`;
* ``cancel(run_id)`` asks the run to stop at its next step (``runs.RunCancelled``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pydantic import BaseModel

from wattlake.errors import WarehouseError, WattlakeError
from wattlake.jobs import Job
from wattlake.leases import Holder
from wattlake.pipeline import Runner
from wattlake.registry import get_job
from wattlake.runs import PlannedRun, new_run_id, planned_run
from wattlake.tables import UTC_TS, Column, TableSpec

S, I64 = pa.string(), pa.int64()
RUN_LEASES = TableSpec(
    "run_leases",
    (
        Column("key", S, "pipeline:partition"), Column("run_id", S), Column("host", S),
        Column("pid", I64), Column("pid_start", I64), Column("lease_until", UTC_TS),
    ),
    primary_key=("key",),
    doc="Who runs each pipeline partition now (one holder at a time).",
)  # fmt: skip
_LOCK = threading.Lock()  # one lease decision at a time in this process
RECORD_WAIT_S = 10.0  # longest submit() waits for the run row before answering


class Busy(WattlakeError):
    """The partition is already being run; ``run_id`` is that run."""

    def __init__(self, key: str, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"{key.split(':', 1)[0]} is already running this partition as run {run_id}",
            hint=f"follow it at /v1/runs/{run_id}, or wait and ask again",
        )


@dataclass
class Launched:
    run_id: str
    key: str
    thread: threading.Thread | None = None


class Launcher:
    """Starts jobs on ``runner`` (shared with the API: engines are thread-safe per call)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        if not runner.runs.read_only:
            runner.engine.ensure(RUN_LEASES)
        self._active: dict[str, PlannedRun] = {}

    # -- starting --------------------------------------------------------------------------
    @contextmanager
    def leased(self, pipeline: str, params: Mapping[str, Any] | None = None) -> Iterator[str]:
        """Hold ``pipeline``'s partition lease around work done in place (the seed refresh
        endpoints call the pipeline themselves for its report); yields the run id the work's
        run takes. :class:`Busy` if the partition is running."""
        job, model = self._prepare(pipeline, params)
        launched, planned = self._acquire(job, model)
        try:
            with planned_run(planned):
                yield launched.run_id
        finally:
            self._release(launched)

    def submit(self, pipeline: str, params: Mapping[str, Any] | None = None) -> Launched:
        """Start a run in a background thread; :class:`Busy` if its partition is running."""
        job, model = self._prepare(pipeline, params)
        launched, planned = self._acquire(job, model)
        thread = threading.Thread(
            target=self._run, args=(job, model, launched, planned), daemon=True,
            name=f"wattlake-run-{launched.run_id}",
        )  # fmt: skip
        launched.thread = thread
        thread.start()
        # answer once the run row exists, so GET /v1/runs/{id} finds it at once
        planned.recorded.wait(timeout=RECORD_WAIT_S)
        return launched

    def run_now(self, pipeline: str, params: Mapping[str, Any] | None = None) -> str:
        """Run in this thread under the same lease; the run id (errors re-raise)."""
        job, model = self._prepare(pipeline, params)
        launched, planned = self._acquire(job, model)
        return self._run(job, model, launched, planned, reraise=True)

    def cancel(self, run_id: str) -> bool:
        """Ask run ``run_id`` (started here) to stop at its next step; False if it is not ours
        or already over."""
        planned = self._active.get(run_id)
        if planned is None:
            return False
        planned.cancel.set()
        return True

    # -- internals -------------------------------------------------------------------------
    def _prepare(self, pipeline: str, params: Mapping[str, Any] | None) -> tuple[Job, BaseModel]:
        if self.runner.runs.read_only:
            raise WarehouseError(
                f"cannot run {pipeline}: the warehouse is open read-only here",
                hint="load with a process that opens it for writing (stop `wattlake serve "
                "--read-only`, or use PostgreSQL to load and serve at once)",
            )
        job = get_job(pipeline)
        return job, job.parse_params(params)

    def _acquire(self, job: Job, model: BaseModel) -> tuple[Launched, PlannedRun]:
        key = job.lease_key(model)
        run_id = new_run_id()
        me = Holder.me()
        engine = self.runner.engine
        with _LOCK:
            held = engine.query(
                "SELECT run_id, host, pid, pid_start, lease_until FROM run_leases WHERE key = $k",
                {"k": key},
            ).to_pylist()
            if held:
                h = held[0]
                if self._holder_alive(h):
                    raise Busy(key, h["run_id"])
                engine.execute(
                    "DELETE FROM run_leases WHERE key = $k AND run_id = $r",
                    {"k": key, "r": h["run_id"]},
                )
            row = {"key": key, "run_id": run_id, "host": me.host, "pid": me.pid,
                   "pid_start": me.pid_start, "lease_until": me.lease_until}  # fmt: skip
            try:
                with engine.transaction() as tx:
                    tx.execute(
                        "INSERT INTO run_leases (key, run_id, host, pid, pid_start, lease_until)"
                        " SELECT $key, $run_id, $host, $pid, $pid_start, $lease_until"
                        " WHERE NOT EXISTS (SELECT 1 FROM run_leases WHERE key = $key)",
                        row,
                    )
            except WattlakeError:  # another process inserted the key first (primary key)
                pass
            winner = engine.query(
                "SELECT run_id FROM run_leases WHERE key = $k", {"k": key}
            ).to_pylist()
            if not winner or winner[0]["run_id"] != run_id:
                raise Busy(key, winner[0]["run_id"] if winner else "?")
            planned = PlannedRun(run_id)
            self._active[run_id] = planned
        return Launched(run_id, key), planned

    def _holder_alive(self, lease: Mapping[str, Any]) -> bool:
        """Is the lease's run still going? Its run row (renewed by the run's heartbeat) tells,
        or, before the run row exists, the lease row's own holder."""
        if lease["run_id"] in self._active:
            return True
        rows = self.runner.engine.query(
            "SELECT status, host, pid, pid_start, lease_until FROM runs WHERE run_id = $id",
            {"id": lease["run_id"]},
        ).to_pylist()
        h = rows[0] if rows else lease
        if rows and h["status"] != "running":
            return False
        if h["host"] is None or h["pid"] is None or h["lease_until"] is None:
            return False
        return Holder(h["host"], h["pid"], h["pid_start"], _naive(h["lease_until"])).alive()

    def _run(
        self,
        job: Job,
        model: BaseModel,
        launched: Launched,
        planned: PlannedRun,
        *,
        reraise: bool = False,
    ) -> str:
        try:
            with planned_run(planned):
                try:
                    return job.execute(self.runner, model)
                except BaseException as exc:
                    if not planned.started:  # failed before its run began: record it anyway
                        self.runner.runs.start(job.pipeline, model.model_dump(mode="json")).finish(
                            exc
                        )
                    raise
        except BaseException:
            if reraise:
                raise
            return launched.run_id  # the run row holds the error
        finally:
            planned.recorded.set()  # never leave submit() waiting
            self._release(launched)

    def _release(self, launched: Launched) -> None:
        self._active.pop(launched.run_id, None)
        self.runner.engine.execute(
            "DELETE FROM run_leases WHERE key = $k AND run_id = $r",
            {"k": launched.key, "r": launched.run_id},
        )


def _naive(t: Any) -> Any:
    return t.replace(tzinfo=None) if getattr(t, "tzinfo", None) else t
