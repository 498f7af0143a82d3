"""CAISO locational marginal prices ($/MWh): intervals (silver ``lmp``) and daily statistics
(gold ``lmp_daily``), filtered by node, market and Pacific operating date; JSON pages or CSV."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import StringConstraints

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
from wattlake.sources.caiso.schema import Market

router = APIRouter(prefix="/v1/lmp", tags=["prices: CAISO LMP"])

MAX_NODES = 100
NodeName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,100}$")]
INTERVAL_COLUMNS = (
    "market, node, interval_start_utc, interval_end_utc, opr_date, opr_hour, opr_interval, "
    "lmp, energy, congestion, loss, ghg"
)
DAILY_COLUMNS = (
    "market, node, opr_date, avg_lmp, min_lmp, max_lmp, n_intervals, on_peak_avg_lmp, "
    "off_peak_avg_lmp, on_peak_intervals, off_peak_intervals, peak_day"
)

Nodes = Annotated[
    list[NodeName] | None,
    Query(
        max_length=MAX_NODES,
        description=f"Pricing node, e.g. TH_NP15_GEN-APND; repeat for up to {MAX_NODES}",
    ),
]
MarketParam = Annotated[Market | None, Query(description="DAM, RTM, RTPD or HASP (default: all)")]
Start = Annotated[
    IsoDate | None, Query(description="First Pacific operating date (inclusive), YYYY-MM-DD")
]
End = Annotated[IsoDate | None, Query(description="Last Pacific operating date (inclusive)")]
FormatParam = Annotated[Format, Query(description="json (paginated) or csv")]


def _filters(
    node: list[str] | None, market: Market | None, start: date | None, end: date | None
) -> Filters:
    check_range(start, end)
    nodes = sorted(set(node or []))
    if len(nodes) > MAX_NODES:
        raise HTTPException(422, f"at most {MAX_NODES} nodes per request, got {len(nodes)}")
    return (
        Filters()
        .add_in("node", nodes)
        .add("market", "=", market.value if market else None)
        .add("opr_date", ">=", start)
        .add("opr_date", "<=", end)
    )


@router.get(
    "",
    response_model=Page,
    summary="LMP intervals ($/MWh) with their components, by node, market and operating date",
    responses={200: {"content": {"text/csv": {}}}},
)
def lmp_intervals(
    request: Request,
    runner: RunnerDep,
    node: Nodes = None,
    market: MarketParam = None,
    start: Start = None,
    end: End = None,
    limit: Limit = 1000,
    offset: Offset = 0,
    format: FormatParam = Format.json,
) -> Response | Page:
    """One row per (market, node, interval); intervals are UTC ``[start, end)``, ``opr_hour``
    is hour-ending Pacific (25 = the repeated fall-back hour)."""
    return query_page(
        request, runner.engine, table="lmp", columns=INTERVAL_COLUMNS,
        order="market, node, interval_start_utc", filters=_filters(node, market, start, end),
        limit=limit, offset=offset, fmt=format,
    )  # fmt: skip


@router.get(
    "/daily",
    response_model=Page,
    summary="Daily average / min / max and on-peak / off-peak LMP ($/MWh) per node",
    responses={200: {"content": {"text/csv": {}}}},
)
def lmp_daily(
    request: Request,
    runner: RunnerDep,
    node: Nodes = None,
    market: MarketParam = None,
    start: Start = None,
    end: End = None,
    limit: Limit = 1000,
    offset: Offset = 0,
    format: FormatParam = Format.json,
) -> Response | Page:
    """One row per (market, node, Pacific operating date) over that date's 23, 24 or 25 hours.
    On-peak: HE7-HE22 Monday-Saturday except NERC holidays (``peak_day``); the rest off-peak."""
    return query_page(
        request, runner.engine, table="lmp_daily", columns=DAILY_COLUMNS,
        order="market, node, opr_date", filters=_filters(node, market, start, end),
        limit=limit, offset=offset, fmt=format,
    )  # fmt: skip
