"""The run log: what ran, what each step did, what was rejected."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from wattlake.api.cache import uncached_when_read_only
from wattlake.api.deps import LauncherDep, RunnerDep, WriteGuard
from wattlake.api.openapi import NOT_FOUND
from wattlake.api.tabular import Limit, Offset, _jsonable, check_page, json_response, records
from wattlake.errors import ConfigError, ConflictError, InputError, NotFoundError
from wattlake.launch import Busy

router = APIRouter(prefix="/v1/runs", tags=["runs"])
RunId = Annotated[str, Path(pattern=r"^[0-9T]{15}-[0-9a-f]{6}$")]


class RunRequest(BaseModel):
    """Start ``pipeline`` with ``params`` (the same parameters as its ``wattlake run`` command;
    days also as ``today``, ``yesterday``, ``-7d`` in the source's zone)."""

    model_config = ConfigDict(extra="forbid")

    pipeline: Annotated[str, Field(examples=["caiso-lmp"], max_length=64)]
    params: dict[str, Any] = Field(
        default_factory=dict, examples=[{"start": "yesterday", "market": "DAM"}]
    )


class RunStarted(BaseModel):
    id: str
    status: str = "running"
    href: str


@router.get("", summary="Recent runs, newest first")
@uncached_when_read_only  # a read-only log shows dead runs as failed: by the clock and pids
def list_runs(
    runner: RunnerDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    pipeline: Annotated[str | None, Query(max_length=64, description="only this pipeline")] = None,
) -> list[dict[str, Any]]:
    rows = runner.runs.recent(limit, pipeline=pipeline).to_pylist()
    return [{k: _jsonable(v) for k, v in r.items()} for r in rows]


@router.post(
    "",
    summary="Start a run in the background (202 with its id; 409 if that partition is running)",
    status_code=202,
    dependencies=[WriteGuard],
    responses={409: {"description": "the same pipeline and partition is already running"}},
)
def start_run(body: RunRequest, launcher: LauncherDep) -> RunStarted:
    try:
        launched = launcher.submit(body.pipeline, body.params)
    except (InputError, ConfigError) as exc:  # unknown pipeline or bad params
        raise RequestValidationError(
            [{"loc": ["body", "params"], "msg": str(exc), "type": "value_error"}]
        ) from None
    except Busy as exc:
        raise ConflictError(str(exc), hint=exc.hint, run_id=exc.run_id) from None
    return RunStarted(id=launched.run_id, href=f"/v1/runs/{launched.run_id}")


@router.delete(
    "/{run_id}",
    summary="Ask a running run to stop at its next step",
    status_code=202,
    dependencies=[WriteGuard],
    responses={
        **NOT_FOUND,
        409: {"description": "the run is over, or was not started by this server"},
    },
)
def cancel_run(run_id: RunId, runner: RunnerDep, launcher: LauncherDep) -> dict[str, Any]:
    if launcher.cancel(run_id):
        return {"id": run_id, "status": "stopping"}
    rows = runner.engine.query("SELECT status FROM runs WHERE run_id = $id", {"id": run_id})
    if not rows.num_rows:
        raise NotFoundError(f"no run {run_id}", hint="list runs at /v1/runs")
    raise ConflictError(
        f"run {run_id} is {rows.column(0)[0].as_py()} and was not started by this server",
        hint="only runs started with POST /v1/runs here and still going can be stopped",
        run_id=run_id,
    )


@router.get("/{run_id}", summary="One run with its steps and reject counts", responses=NOT_FOUND)
def get_run(runner: RunnerDep, run_id: RunId) -> dict[str, Any]:
    rows = runner.engine.query("SELECT * FROM runs WHERE run_id = $id", {"id": run_id}).to_pylist()
    if not rows:
        raise NotFoundError(f"no run {run_id}", hint="list runs at /v1/runs")
    run = {k: _jsonable(v) for k, v in rows[0].items()}
    run["steps"] = [
        {k: _jsonable(v) for k, v in s.items()} for s in runner.runs.steps(run_id).to_pylist()
    ]
    return run


@router.get(
    "/{run_id}/rejects",
    response_model=list[dict[str, Any]],
    summary="Rows a run could not load, with the reason",
)
def get_rejects(
    runner: RunnerDep,
    run_id: RunId,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> Response:
    check_page(limit, offset)
    return json_response(records(
        runner.engine,
        "SELECT source_file, line, field, rule, raw FROM rejects WHERE run_id = $id "
        "ORDER BY source_file, seq LIMIT $limit OFFSET $offset",
        {"id": run_id, "limit": limit, "offset": offset},
    ))  # fmt: skip
