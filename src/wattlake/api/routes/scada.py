"""Wind SCADA: the turbines in the warehouse and their 10-minute statistics (gold
``scada_10min``), JSON pages or CSV. Values are in the source's units; times are UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StringConstraints

from wattlake.api.deps import RunnerDep
from wattlake.api.openapi import NOT_FOUND
from wattlake.api.tabular import (
    Filters,
    Format,
    Limit,
    Offset,
    Owner,
    Page,
    check_range,
    query_page,
)
from wattlake.errors import NotFoundError
from wattlake.sources.scada.schema import GOLD_COLUMNS, NAME, TURBINE

router = APIRouter(prefix="/v1/scada", tags=["wind SCADA"])

MAX_SIGNALS = 50
TURBINES = (
    "(SELECT turbine, count(DISTINCT signal) AS signals, count(*) AS buckets, "
    "min(bucket_start_utc) AS first_bucket_utc, max(bucket_start_utc) AS last_bucket_utc "
    "FROM scada_10min GROUP BY turbine) AS t"
)
SignalName = Annotated[str, StringConstraints(pattern=NAME.pattern)]
FormatParam = Annotated[Format, Query(description="json (paginated) or csv")]


class TurbineSummary(BaseModel):
    turbine: str = Field(description="turbine id; 'default': the source's default turbine")
    signals: int = Field(description="distinct signals (source columns)")
    buckets: int = Field(description="10-minute rows over all signals")
    first_bucket_utc: datetime
    last_bucket_utc: datetime


class Bucket(BaseModel):
    turbine: str
    signal: str = Field(description="source column, e.g. wind_speed")
    bucket_start_utc: datetime = Field(description="bin start, UTC; the bin is [start, +10 min)")
    mean: float | None
    min: float | None
    max: float | None
    std: float | None = Field(description="sample standard deviation (ddof=1); null under 2")
    count: int = Field(description="samples in the bin")


class TurbinePage(Page):
    items: list[TurbineSummary]  # type: ignore[assignment]


class BucketPage(Page):
    items: list[Bucket]  # type: ignore[assignment]


def _utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@router.get(
    "/turbines",
    response_model=TurbinePage,
    summary="Turbines with 10-minute statistics, with their signal count and time span",
    responses={200: {"content": {"text/csv": {}}}},
)
def turbines(
    request: Request,
    runner: RunnerDep,
    limit: Limit = 1000,
    offset: Offset = 0,
    format: FormatParam = Format.json,
) -> Response | Page:
    return query_page(
        request, runner.engine, table=TURBINES,
        columns="turbine, signals, buckets, first_bucket_utc, last_bucket_utc",
        order="turbine", filters=Filters(), limit=limit, offset=offset, fmt=format,
    )  # fmt: skip


@router.get(
    "/{turbine}/10min",
    response_model=BucketPage,
    summary="10-minute mean / min / max / std / count of one turbine's signals",
    responses={200: {"content": {"text/csv": {}}}, **NOT_FOUND},
)
def ten_minutes(
    request: Request,
    runner: RunnerDep,
    turbine: Annotated[str, Path(pattern=TURBINE.pattern, description="Turbine id")],
    start: Annotated[
        datetime | None,
        Query(description="First bin start (inclusive), ISO; no zone means UTC"),
    ] = None,
    end: Annotated[
        datetime | None, Query(description="Bins starting before this (exclusive), ISO")
    ] = None,
    signals: Annotated[
        list[SignalName] | None,
        Query(
            max_length=MAX_SIGNALS,
            description=f"Signal, e.g. wind_speed; repeat for up to {MAX_SIGNALS}",
        ),
    ] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
    format: FormatParam = Format.json,
) -> Response | Page:
    """One row per (signal, 10-minute bin) in ``[start, end)``, ordered by signal and time."""
    lo, hi = _utc(start), _utc(end)
    check_range(lo, hi)
    names = sorted(set(signals or []))
    if len(names) > MAX_SIGNALS:
        raise HTTPException(422, f"at most {MAX_SIGNALS} signals per request, got {len(names)}")
    filters = (
        Filters()
        .add("turbine", "=", turbine)
        .add_in("signal", names)
        .add("bucket_start_utc", ">=", lo)
        .add("bucket_start_utc", "<", hi)
    )
    return query_page(
        request, runner.engine, table="scada_10min", columns=GOLD_COLUMNS,
        order="signal, bucket_start_utc", filters=filters, limit=limit, offset=offset, fmt=format,
        owner=Owner("scada_10min", Filters(prefix="t").add("turbine", "=", turbine), NotFoundError(
            f"no 10-minute data for turbine {turbine}",
            hint="list turbines at /v1/scada/turbines; load days with `wattlake run scada`",
        )),
    )  # fmt: skip
