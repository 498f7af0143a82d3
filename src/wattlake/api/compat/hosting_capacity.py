"""The hosting-capacity seed's endpoints (ESource-Case-Study, FastAPI), under their own names.

Differences, on purpose (see shared/formats/seed-systems.md A.4-A.5):

* ``/refreshData`` loads only new or changed files of the landing folder (the seed re-ran every
  layer over everything) and returns what each layer did, per data set (the seed returned
  ``null``). It changes data, so it needs ``X-API-Key`` when keys are configured.
* ``/getFeeders`` takes ``maxHostingCapacity`` as a number (422 otherwise; the seed pasted the
  text into SQL) and returns JSON objects, not strings of JSON. Feeders are one row per feeder
  for every utility (the seed's utility1 rows repeated per segment). Fields keep the seed's
  names (``circuit_id``, ``feeder_voltage`` kV, ``feeder_max_hc``/``feeder_min_hc`` MW, ...) plus
  ``utility`` and ``feeder_uid``; nulls are kept rather than dropped.
* ``/getDERsForFeeder`` matches the utility's own feeder id (``feederID``), ordered by DER id
  (numeric ids in numeric order). Every DER row is returned: planned DER keep their queue id
  as ``der_id`` (the seed nulled it, then merged rows that became identical), ratings above
  9.9999 kW are kept (the seed's decimal(5,4) nulled them), ``nameplate_kw`` is the row's own
  kW (per technology for utility1's wide files; the project total is ``project_nameplate_kw``),
  ``der_type`` is the standard type (the utility's text is ``native_type``) and ``status`` is
  ``installed``/``planned`` in lower case.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from wattlake.api.deps import LauncherDep, RunnerDep, require_api_key
from wattlake.api.tabular import json_response, records
from wattlake.pipeline import Runner
from wattlake.sources.hosting_capacity.pipeline import RefreshReport, refresh

router = APIRouter(tags=["compat: hosting capacity"])


def _records(runner: Runner, sql: str, params: dict[str, Any]) -> Response:
    return json_response(records(runner.engine, sql, params))


@router.get(
    "/refreshData",
    response_model=RefreshReport,
    summary="Load new or changed files (bronze, silver, gold); report what each layer did",
    dependencies=[Depends(require_api_key)],
)
def refresh_data(runner: RunnerDep, launcher: LauncherDep) -> RefreshReport:
    # Under the same partition lease as POST /v1/runs {"pipeline": "hosting-capacity"}.
    with launcher.leased("hosting-capacity"):
        return refresh(runner)


@router.get(
    "/getFeeders",
    response_model=list[dict[str, Any]],
    summary="Feeders whose max hosting capacity is above a value (MW)",
)
def get_feeders(
    runner: RunnerDep,
    max_hosting_capacity: Annotated[
        float,
        Query(
            alias="maxHostingCapacity",
            allow_inf_nan=False,
            description="Strictly greater than this, in MW",
        ),
    ],
) -> Response:
    return _records(
        runner,
        "SELECT native_feeder_id AS circuit_id, voltage_kv AS feeder_voltage, "
        "max_hc_mw AS feeder_max_hc, min_hc_mw AS feeder_min_hc, map_color, hca_refresh_date, "
        "shape_length, utility, feeder_uid FROM feeders WHERE max_hc_mw > $v "
        "ORDER BY utility, native_feeder_id",
        {"v": max_hosting_capacity},
    )


@router.get(
    "/getDERsForFeeder",
    response_model=list[dict[str, Any]],
    summary="Installed and planned DER on a feeder, by DER id",
)
def get_ders_for_feeder(
    runner: RunnerDep,
    feeder_id: Annotated[
        str,
        Query(
            alias="feederID",
            min_length=1,
            max_length=200,
            description="The feeder id as the utility writes it, e.g. 36_39_01251",
        ),
    ],
) -> Response:
    return _records(
        runner,
        "SELECT native_id AS der_id, der_type, native_type, technology, nameplate_kw, "
        "project_nameplate_kw, native_feeder_id AS circuit_id, status, planned_install_date, "
        "queue_date, utility, feeder_uid, der_uid FROM ders WHERE native_feeder_id = $f "
        "ORDER BY length(native_id), native_id, status, der_uid",
        {"f": feeder_id},
    )
