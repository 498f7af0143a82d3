"""The run log: what ran, what each step did, what was rejected."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from wattlake.api.deps import RunnerDep
from wattlake.api.openapi import NOT_FOUND
from wattlake.api.tabular import Limit, Offset, _jsonable, check_page
from wattlake.errors import NotFoundError

router = APIRouter(prefix="/v1/runs", tags=["runs"])
RunId = Annotated[str, Path(pattern=r"^[0-9T]{15}-[0-9a-f]{6}$")]


@router.get("", summary="Recent runs, newest first")
def list_runs(
    runner: RunnerDep, limit: Annotated[int, Query(ge=1, le=500)] = 20
) -> list[dict[str, Any]]:
    return [{k: _jsonable(v) for k, v in r.items()} for r in runner.runs.recent(limit).to_pylist()]


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


@router.get("/{run_id}/rejects", summary="Rows a run could not load, with the reason")
def get_rejects(
    runner: RunnerDep,
    run_id: RunId,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    check_page(limit, offset)
    t = runner.engine.query(
        "SELECT source_file, line, field, rule, raw FROM rejects WHERE run_id = $id "
        "ORDER BY source_file, seq LIMIT $limit OFFSET $offset",
        {"id": run_id, "limit": limit, "offset": offset},
    )
    rows: list[dict[str, Any]] = t.to_pylist()
    return rows
