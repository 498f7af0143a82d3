"""Daily meter statistics from the meter-files pipeline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from wattlake.api.deps import RunnerDep
from wattlake.api.tabular import (
    Filters,
    Format,
    IsoDate,
    Limit,
    Offset,
    Page,
    check_range,
    query_page,
)

router = APIRouter(prefix="/v1/meters", tags=["meters"])

CODE = r"^[A-Za-z0-9_.-]{1,64}$"
COLUMNS = (
    "meter_code, serial, plant_code, local_date, data_type, units, "
    "min_value, max_value, avg_value, n_readings"
)


@router.get(
    "",
    response_model=Page,
    summary="Meters with daily statistics: serial, first and last local day, data types",
    responses={200: {"content": {"text/csv": {}}}},
)
def list_meters(
    request: Request,
    runner: RunnerDep,
    limit: Limit = 1000,
    offset: Offset = 0,
    format: Annotated[Format, Query(description="json (paginated) or csv")] = Format.json,
) -> Response | Page:
    """One row per (meter, serial) in ``meter_daily``; days are the meter's local days."""
    table = (
        "(SELECT meter_code, serial, min(local_date) AS first_date, max(local_date) AS last_date, "
        "count(DISTINCT data_type) AS n_data_types FROM meter_daily "
        "GROUP BY meter_code, serial) AS m"
    )
    return query_page(
        request, runner.engine, table=table,
        columns="meter_code, serial, first_date, last_date, n_data_types",
        order="meter_code, serial", filters=Filters(), limit=limit, offset=offset, fmt=format,
    )  # fmt: skip


@router.get(
    "/{meter_code}/daily",
    response_model=Page,
    summary="Daily min / max / average per data type for one meter",
    responses={200: {"content": {"text/csv": {}}}},
)
def meter_daily(
    request: Request,
    runner: RunnerDep,
    meter_code: Annotated[str, Path(pattern=CODE, description="Meter point code")],
    serial: Annotated[str | None, Query(pattern=CODE, description="Meter serial number")] = None,
    start: Annotated[
        IsoDate | None, Query(description="First local day (inclusive), YYYY-MM-DD")
    ] = None,
    end: Annotated[
        IsoDate | None, Query(description="Last local day (inclusive), YYYY-MM-DD")
    ] = None,
    data_type: Annotated[
        str | None, Query(max_length=100, description="e.g. 'Import Wh Total'")
    ] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
    format: Annotated[Format, Query(description="json (paginated) or csv")] = Format.json,
) -> Response | Page:
    check_range(start, end)
    filters = (
        Filters()
        .add("meter_code", "=", meter_code)
        .add("serial", "=", serial)
        .add("local_date", ">=", start)
        .add("local_date", "<=", end)
        .add("data_type", "=", data_type)
    )
    return query_page(
        request, runner.engine, table="meter_daily", columns=COLUMNS,
        order="local_date, serial, data_type, units", filters=filters,
        limit=limit, offset=offset, fmt=format,
    )  # fmt: skip
