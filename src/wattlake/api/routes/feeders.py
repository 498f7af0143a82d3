"""Feeders (hosting capacity) and their DER, from the hosting-capacity pipeline; its refresh.

A feeder is addressed by ``feeder_uid`` = ``<utility>:<the utility's own feeder id>``, e.g.
``utility2:36_39_01251``. Hosting capacity is in MW, voltage in kV, DER nameplate in kW.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from wattlake.api.deps import RunnerDep, require_api_key
from wattlake.api.openapi import NOT_FOUND
from wattlake.api.tabular import (
    Filters,
    Format,
    Limit,
    Offset,
    Owner,
    Page,
    fetch_rows,
    json_items,
    json_response,
    query_page,
)
from wattlake.errors import NotFoundError
from wattlake.sources.hosting_capacity.pipeline import RefreshReport, refresh

router = APIRouter(prefix="/v1", tags=["hosting capacity"])

UTILITY = r"^[a-z0-9_]{1,40}$"
FeederUid = Annotated[
    str,
    Path(
        pattern=r"^[a-z0-9_]{1,40}:[^/]{1,200}$",
        description="<utility>:<feeder id as the utility writes it>, e.g. utility2:36_39_01251",
    ),
]
FEEDER_COLUMNS = (
    "feeder_uid, utility, native_feeder_id, substation, substation_rating_mw, voltage_kv, "
    "max_hc_mw, min_hc_mw, dg_connected_since_refresh_mw, connected_dg_mw, queued_dg_mw, "
    "map_color, hca_refresh_date, section_count, shape_length, notes"
)
DER_COLUMNS = (
    "der_uid, utility, status, native_id, technology, der_type, native_type, nameplate_kw, "
    "project_nameplate_kw, hybrid, feeder_uid, native_feeder_id, planned_install_date, "
    "queue_date, interconnection_cost_usd"
)
# Numeric ids in numeric order (shorter first), others after in text order; der_uid breaks ties.
DER_ORDER = "status, length(native_id), native_id, der_uid"
FEEDER_NAMES = [c.strip() for c in FEEDER_COLUMNS.split(",")]
BY_TYPE = ["der_type", "installed_count", "installed_kw", "planned_count", "planned_kw"]
BY_STATUS = ["projects", "n_rows", "nameplate_kw"]
# One feeder in one statement: its feeder_summary row (404 without one) with its attributes,
# repeated beside each of its DER types (feeder_summary) and DER totals per status (ders).
FEEDER_SQL = f"""
WITH s AS (
    SELECT feeder_uid, utility, native_feeder_id, has_hosting_capacity FROM feeder_summary
    WHERE feeder_uid = $u LIMIT 1
),
d AS (
    SELECT der_type, installed_count, installed_kw, planned_count, planned_kw,
        CAST(NULL AS VARCHAR) AS status, CAST(NULL AS BIGINT) AS projects,
        CAST(NULL AS BIGINT) AS n_rows, CAST(NULL AS DOUBLE) AS nameplate_kw, 0 AS part
    FROM feeder_summary WHERE feeder_uid = $u AND der_type IS NOT NULL
    UNION ALL
    SELECT NULL, NULL, NULL, NULL, NULL, status, count(DISTINCT native_id), count(*),
        coalesce(sum(nameplate_kw), 0), 1
    FROM ders WHERE feeder_uid = $u GROUP BY status
)
SELECT {", ".join(f"f.{c}" for c in FEEDER_NAMES)}, f.feeder_uid IS NOT NULL AS has_attrs,
    s.feeder_uid AS s_feeder_uid, s.utility AS s_utility, s.native_feeder_id AS s_native_feeder_id,
    s.has_hosting_capacity, {", ".join(f"d.{c}" for c in [*BY_TYPE, "status", *BY_STATUS])}
FROM s LEFT JOIN feeders AS f ON f.feeder_uid = s.feeder_uid LEFT JOIN d ON TRUE
ORDER BY d.part, d.der_type, d.status
"""


class DerStatus(StrEnum):
    installed = "installed"
    planned = "planned"


def _no_feeder(feeder_uid: str) -> NotFoundError:
    return NotFoundError(
        f"no feeder {feeder_uid}",
        hint="feeder_uid is <utility>:<feeder id>; list feeders at /v1/feeders",
    )


def _known_feeder(feeder_uid: str) -> Owner:
    """Feeders are those of feeder_summary (with hosting capacity or with DER)."""
    return Owner("feeder_summary", Filters(prefix="f").add("feeder_uid", "=", feeder_uid),
                 _no_feeder(feeder_uid))  # fmt: skip


@router.get(
    "/feeders",
    response_model=Page,
    summary="Feeders with their hosting capacity (MW), filtered; paginated JSON or CSV",
    responses={200: {"content": {"text/csv": {}}}},
)
def list_feeders(
    request: Request,
    runner: RunnerDep,
    min_max_hc_mw: Annotated[
        float | None,
        Query(allow_inf_nan=False, description="Only feeders whose max HC is at least this, MW"),
    ] = None,
    utility: Annotated[
        str | None, Query(pattern=UTILITY, description="Utility code, e.g. utility2, coned")
    ] = None,
    voltage_kv: Annotated[
        float | None, Query(gt=0, allow_inf_nan=False, description="Feeder voltage, kV (13.2)")
    ] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
    format: Annotated[Format, Query(description="json (paginated) or csv")] = Format.json,
) -> Response | Page:
    filters = Filters().add("max_hc_mw", ">=", min_max_hc_mw).add("utility", "=", utility)
    if voltage_kv is not None:  # within a microvolt: kV converted from V need not be exact
        filters.add_sql("abs(voltage_kv - $kv) < 1e-6", kv=voltage_kv)
    return query_page(
        request, runner.engine, table="feeders", columns=FEEDER_COLUMNS, order="feeder_uid",
        filters=filters, limit=limit, offset=offset, fmt=format,
    )  # fmt: skip


@router.get(
    "/feeders/der-counts",
    response_model=Page,
    summary="Installed and planned DER per feeder (projects and kW, all types); JSON or CSV",
    responses={200: {"content": {"text/csv": {}}}},
)
def feeder_der_counts(
    request: Request,
    runner: RunnerDep,
    utility: Annotated[
        str | None, Query(pattern=UTILITY, description="Utility code, e.g. utility2, coned")
    ] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
    format: Annotated[Format, Query(description="json (paginated) or csv")] = Format.json,
) -> Response | Page:
    """One row per feeder of ``feeder_summary``: counts are per standard DER type, summed over
    types (a project with two types counts in each), kW summed; feeders without DER have 0."""
    table = (
        "(SELECT feeder_uid, utility, CAST(sum(installed_count) AS BIGINT) AS installed_count, "
        "CAST(sum(installed_kw) AS DOUBLE) AS installed_kw, "
        "CAST(sum(planned_count) AS BIGINT) AS planned_count, "
        "CAST(sum(planned_kw) AS DOUBLE) AS planned_kw "
        "FROM feeder_summary GROUP BY feeder_uid, utility) AS c"
    )
    return query_page(
        request, runner.engine, table=table,
        columns="feeder_uid, utility, installed_count, installed_kw, planned_count, planned_kw",
        order="feeder_uid", filters=Filters().add("utility", "=", utility),
        limit=limit, offset=offset, fmt=format,
    )  # fmt: skip


@router.get(
    "/feeders/{feeder_uid}",
    response_model=dict[str, Any],
    summary="One feeder: hosting capacity and DER by type",
    responses=NOT_FOUND,
)
def get_feeder(runner: RunnerDep, feeder_uid: FeederUid) -> Response:
    """The feeder's attributes (null where the utility publishes no hosting capacity for it),
    its DER per standard type (counts are distinct projects, kW summed per technology row) and
    totals per status."""
    names, rows = fetch_rows(runner.engine, FEEDER_SQL, {"u": feeder_uid})
    if not rows:
        raise _no_feeder(feeder_uid)
    first = json_items(names, rows[:1])[0]
    if first["has_attrs"]:
        out: dict[str, Any] = {c: first[c] for c in FEEDER_NAMES}
    else:  # a feeder known only from its DER
        out = dict.fromkeys(FEEDER_NAMES)
        out.update({c: first[f"s_{c}"] for c in ("feeder_uid", "utility", "native_feeder_id")})
    out["has_hosting_capacity"] = first["has_hosting_capacity"]
    by_type, by_status = [], {}
    for r in rows:
        row = dict(zip(names, r, strict=True))
        if row["der_type"] is not None:
            by_type.append({c: row[c] for c in BY_TYPE})
        if row["status"] is not None:
            by_status[row["status"]] = {c: row[c] for c in BY_STATUS}
    out["der_by_type"] = by_type
    empty = {"projects": 0, "n_rows": 0, "nameplate_kw": 0.0}
    out["der_totals"] = {s.value: by_status.get(s.value, empty) for s in DerStatus}
    return json_response(out)


@router.get(
    "/feeders/{feeder_uid}/ders",
    response_model=Page,
    summary="The DER on one feeder (installed and/or planned); paginated JSON or CSV",
    responses={200: {"content": {"text/csv": {}}}, **NOT_FOUND},
)
def feeder_ders(
    request: Request,
    runner: RunnerDep,
    feeder_uid: FeederUid,
    status: Annotated[DerStatus | None, Query(description="installed or planned")] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
    format: Annotated[Format, Query(description="json (paginated) or csv")] = Format.json,
) -> Response | Page:
    filters = Filters().add("feeder_uid", "=", feeder_uid)
    filters.add("status", "=", status.value if status else None)
    return query_page(
        request, runner.engine, table="ders", columns=DER_COLUMNS, order=DER_ORDER,
        filters=filters, limit=limit, offset=offset, fmt=format,
        owner=_known_feeder(feeder_uid),
    )  # fmt: skip


@router.post(
    "/refresh/hosting-capacity",
    response_model=RefreshReport,
    summary="Load new or changed files of the landing folder; report per layer and data set",
    dependencies=[Depends(require_api_key)],
)
def refresh_hosting_capacity(
    runner: RunnerDep,
    force: Annotated[bool, Query(description="Reload every file even if unchanged")] = False,
) -> RefreshReport:
    """Files come from ``$WATTLAKE_HOME/landing/hosting_capacity/<utility>/``. Unchanged files
    (same sha256) are not parsed again; a changed file replaces its rows; a removed file's
    rows are deleted. ``status`` is ``partial`` when a step failed (see ``errors``)."""
    return refresh(runner, force=force)
