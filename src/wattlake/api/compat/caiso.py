"""The CAISO seed's endpoints (caheredia/caiso_connector, FastAPI) with its response shapes.

The seed stored day-ahead LMPs only (table ``lmp``: ``time`` = UTC interval start as text like
``2020-01-02 01:00:00+00:00``, ``node``, ``mw``), so these read the DAM rows of ``lmp``.

Differences, on purpose: ``/lmp/mean/{region}/{day_of_week}`` computes the mean of the node's
DAM LMPs on that weekday of the Pacific operating date (the seed returned a constant 33.35,
and before that grouped by UTC weekday), rounded to 2 decimals like the seed; a node with no
price on that weekday answers 404 (the seed failed with a 500). The seed's SQLite ``id`` column
is not reproduced. Queries are parameterized (the seed put ``region`` into SQL with f-strings).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel

from wattlake.api.deps import RunnerDep
from wattlake.api.openapi import NOT_FOUND
from wattlake.api.tabular import fetch_rows, json_response
from wattlake.errors import NotFoundError

router = APIRouter(tags=["compat: CAISO LMP"])

SEED_TIME = "%Y-%m-%d %H:%M:%S+00:00"
DAM = {"m": "DAM"}


class DayOfWeek(StrEnum):
    monday = "monday"
    tuesday = "tuesday"
    wednesday = "wednesday"
    thursday = "thursday"
    friday = "friday"
    saturday = "saturday"
    sunday = "sunday"


ISODOW = {d: i for i, d in enumerate(DayOfWeek, start=1)}


class MeanLMP(BaseModel):
    region: str
    day: str
    mean_lmp: float


def _seed_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    utc = value.astimezone(UTC) if value.tzinfo else value
    return f"{utc:{SEED_TIME}}"


@router.get("/row-count", summary="How many DAM LMP rows are stored")
def row_count(runner: RunnerDep) -> dict[str, int]:
    rows = fetch_rows(runner.engine, "SELECT count(*) FROM lmp WHERE market = $m", DAM)[1]
    return {"row-count": int(rows[0][0])}


@router.get("/time-ranges", summary="Oldest and newest DAM interval start (UTC)")
def time_ranges(runner: RunnerDep) -> dict[str, str | None]:
    lo, hi = fetch_rows(
        runner.engine,
        "SELECT min(interval_start_utc) AS lo, max(interval_start_utc) AS hi FROM lmp "
        "WHERE market = $m",
        DAM,
    )[1][0]
    return {"oldest timestamp": _seed_time(lo), "newest timestamp": _seed_time(hi)}


@router.get("/lmp", summary="Every node with DAM prices, as the seed's list of 1-element lists")
def regions(runner: RunnerDep) -> dict[str, list[list[str]]]:
    sql = "SELECT DISTINCT node FROM lmp WHERE market = $m ORDER BY node"
    return {"regions": [[n] for (n,) in fetch_rows(runner.engine, sql, DAM)[1]]}


@router.get(
    "/lmp/{region}",
    response_model=list[dict[str, Any]],
    summary="Every DAM LMP of one node: [{time, node, mw}] by time",
)
def lmp_by_region(region: str, runner: RunnerDep) -> Response:
    t = runner.engine.query(
        "SELECT interval_start_utc AS time, node, lmp AS mw FROM lmp "
        "WHERE market = $m AND node = $node ORDER BY interval_start_utc",
        {**DAM, "node": region},
    )
    if not t.num_rows:
        return json_response([])
    seconds = t.column("time").cast(pa.timestamp("s", tz="UTC"), safe=False)  # no fraction
    t = t.set_column(0, "time", pc.strftime(seconds, format=SEED_TIME))
    return json_response(t.to_pylist())


@router.get(
    "/lmp/mean/{region}/{day_of_week}",
    response_model=MeanLMP,
    summary="Mean DAM LMP of a node on a weekday (Pacific operating date), 2 decimals",
    responses=NOT_FOUND,
)
def mean_lmp(region: str, day_of_week: DayOfWeek, runner: RunnerDep) -> MeanLMP:
    ((mean,),) = fetch_rows(
        runner.engine,
        "SELECT avg(lmp) AS mean FROM lmp WHERE market = $m AND node = $node "
        "AND extract(isodow FROM opr_date) = $dow",
        {**DAM, "node": region, "dow": ISODOW[day_of_week]},
    )[1]
    if mean is None:
        raise NotFoundError(
            f"no DAM LMP for {region} on a {day_of_week.value}",
            hint="list nodes at /lmp; load prices with `wattlake run caiso-lmp`",
        )
    return MeanLMP(region=region, day=day_of_week.value, mean_lmp=round(float(mean), 2))
