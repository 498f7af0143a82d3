"""Green Button usage points: the list, their daily energy (gold ``usage_daily``) and their
intervals (silver ``interval_reads``). A usage point is addressed by its id as the utility
sends it (``6345172663``, ``NET_USAGE``); ``custodian`` narrows it when two utilities share an
id. Energy is in kWh (electricity) or therms (gas) per day; intervals keep the file's unit."""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from wattlake.api.deps import RunnerDep
from wattlake.api.openapi import NOT_FOUND
from wattlake.api.tabular import (
    Filters,
    Format,
    IsoDate,
    Limit,
    Offset,
    Owner,
    Page,
    check_range,
    query_page,
)
from wattlake.errors import NotFoundError, WarehouseError
from wattlake.pipeline import Runner

router = APIRouter(prefix="/v1/usage-points", tags=["energy use: Green Button"])

UP_COLUMNS = (
    "custodian, usage_point_id, service_kind, service, status, time_zone, tz_offset_s, "
    "dst_offset_s, dst_start_rule, dst_end_rule"
)
DAILY_COLUMNS = (
    "custodian, usage_point_id, flow_direction, local_date, unit, consumption, export, net, "
    "interval_count, covered_seconds, day_seconds, completeness"
)
INTERVAL_COLUMNS = (
    "custodian, usage_point_id, reading_type_id, meter_reading_id, interval_start_utc, "
    "interval_end_utc, duration_s, local_start, utc_offset_s, service_kind, commodity, "
    "flow_direction, raw_value, power_of_ten, uom, unit, value, cost, currency, quality, "
    "estimated, tou, consumption_tier, cpp"
)


class Flow(IntEnum):
    forward = 1
    reverse = 19
    net = 4


UsagePointId = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_.=+\-,]{1,200}$", description="usage point id, e.g. 6345172663")
]
Custodian = Annotated[
    str | None, Query(max_length=200, description="utility / feed, when ids collide")
]
FlowParam = Annotated[
    Flow | None, Query(description="1 forward (consumption), 19 reverse (export), 4 net")
]
FormatParam = Annotated[Format, Query(description="json (paginated) or csv")]


def _exists(runner: RunnerDep, up: str, custodian: str | None) -> None:
    f = Filters().add("usage_point_id", "=", up).add("custodian", "=", custodian)
    if not runner.engine.table_exists("usage_points"):
        raise NotFoundError(f"usage point {up!r} not found", hint="load Green Button data first")
    got = runner.engine.query(f"SELECT count(*) FROM usage_points{f.sql}", f.params)
    if not got.column(0)[0].as_py():
        raise _missing(up)


def _missing(up: str) -> NotFoundError:
    return NotFoundError(f"usage point {up!r} not found", hint="GET /v1/usage-points lists them")


def _usage_page(
    request: Request, runner: Runner, up: str, custodian: str | None, **page: Any
) -> Response:
    """``query_page`` of the usage point ``up`` (404 when it is unknown) in one statement;
    only when that fails (a table not created yet) is the usage point looked up on its own,
    so an unknown one is still a 404 rather than the warehouse's error."""
    f = Filters(prefix="u").add("usage_point_id", "=", up).add("custodian", "=", custodian)
    try:
        return query_page(request, runner.engine, owner=Owner("usage_points", f, _missing(up)),
                          **page)  # fmt: skip
    except WarehouseError:
        _exists(runner, up, custodian)
        raise


@router.get("", response_model=Page, summary="Green Button usage points (meters / services)",
            responses={200: {"content": {"text/csv": {}}}})  # fmt: skip
def list_usage_points(
    request: Request,
    runner: RunnerDep,
    custodian: Custodian = None,
    service_kind: Annotated[
        int | None, Query(ge=0, le=9, description="0 electricity, 1 gas")
    ] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
    format: FormatParam = Format.json,
) -> Response | Page:
    f = Filters().add("custodian", "=", custodian).add("service_kind", "=", service_kind)
    return query_page(
        request, runner.engine, table="usage_points", columns=UP_COLUMNS,
        order="custodian, usage_point_id", filters=f, limit=limit, offset=offset, fmt=format,
    )  # fmt: skip


@router.get("/{usage_point_id}/daily", response_model=Page,
            summary="Daily consumption, export and net (kWh or therms) per local day",
            responses={200: {"content": {"text/csv": {}}}, **NOT_FOUND})  # fmt: skip
def usage_point_daily(
    request: Request,
    runner: RunnerDep,
    usage_point_id: UsagePointId,
    start: Annotated[IsoDate | None, Query(description="first local day (inclusive)")] = None,
    end: Annotated[IsoDate | None, Query(description="last local day (inclusive)")] = None,
    flow: FlowParam = None,
    custodian: Custodian = None,
    limit: Limit = 1000,
    offset: Offset = 0,
    format: FormatParam = Format.json,
) -> Response | Page:
    """One row per flow direction and local day (the utility's zone; 23/24/25 h days).
    ``completeness`` is the share of the day its intervals cover."""
    check_range(start, end)
    f = (
        Filters().add("usage_point_id", "=", usage_point_id).add("custodian", "=", custodian)
        .add("local_date", ">=", start).add("local_date", "<=", end)
        .add("flow_direction", "=", int(flow) if flow is not None else None)
    )  # fmt: skip
    return _usage_page(
        request, runner, usage_point_id, custodian, table="usage_daily", columns=DAILY_COLUMNS,
        order="custodian, flow_direction, local_date, unit", filters=f, limit=limit,
        offset=offset, fmt=format,
    )  # fmt: skip


@router.get("/{usage_point_id}/intervals", response_model=Page,
            summary="Interval readings with raw value, multiplier, unit, cost and quality",
            responses={200: {"content": {"text/csv": {}}}, **NOT_FOUND})  # fmt: skip
def usage_point_intervals(
    request: Request,
    runner: RunnerDep,
    usage_point_id: UsagePointId,
    start: Annotated[
        datetime | None, Query(description="interval start >= (UTC if no zone)")
    ] = None,
    end: Annotated[datetime | None, Query(description="interval start < (UTC if no zone)")] = None,
    flow: FlowParam = None,
    custodian: Custodian = None,
    limit: Limit = 1000,
    offset: Offset = 0,
    format: FormatParam = Format.json,
) -> Response | Page:
    """One row per interval and channel, keyed on its UTC start; ``local_start`` is a label."""
    check_range(start, end)
    f = (
        Filters().add("usage_point_id", "=", usage_point_id).add("custodian", "=", custodian)
        .add("interval_start_utc", ">=", _utc(start)).add("interval_start_utc", "<", _utc(end))
        .add("flow_direction", "=", int(flow) if flow is not None else None)
    )  # fmt: skip
    return _usage_page(
        request, runner, usage_point_id, custodian, table="interval_reads",
        columns=INTERVAL_COLUMNS, order="custodian, reading_type_id, interval_start_utc",
        filters=f, limit=limit, offset=offset, fmt=format,
    )  # fmt: skip


def _utc(t: datetime | None) -> datetime | None:
    from datetime import UTC

    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
