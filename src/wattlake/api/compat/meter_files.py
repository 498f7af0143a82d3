"""The meter seed's endpoints (Flask "Backend Energy API"), byte for byte where callers see it.

Differences, on purpose: ``/load-data`` loads the landing folder idempotently instead of
dropping and recreating the tables; ``/populate-view`` rebuilds the gold models (the view is
also rebuilt by every load); ``id`` is deterministic (rank by meter, serial, plant, day) where
the seed's depended on the order PostgreSQL returned groups.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from wattlake.api.deps import LauncherDep, RunnerDep, require_api_key
from wattlake.api.tabular import records
from wattlake.registry import get_pipeline

router = APIRouter(tags=["compat: meter files"])

_BAD_REQUEST = (
    "<!doctype html>\n<html lang=en>\n<title>400 Bad Request</title>\n"
    "<h1>Bad Request</h1>\n<p>{}</p>\n"
)


# /get-data reads its parameters itself (to check them in the seed's order, with its messages),
# so FastAPI cannot see them; they are declared here. All three are needed: a missing or
# malformed one is a 400 HTML page, as in the seed.
GET_DATA_PARAMETERS = [
    {
        "name": "meter_code",
        "in": "query",
        "required": True,
        "description": "Meter point code, e.g. 210095893",
        "schema": {"type": "string", "minLength": 1},
    },
    {
        "name": "serial_code",
        "in": "query",
        "required": True,
        "description": "Meter serial number, e.g. 210095893",
        "schema": {"type": "string", "minLength": 1},
    },
    {
        "name": "date_time",
        "in": "query",
        "required": True,
        "description": "The local day as dd/mm/YYYY (leading zeros optional), e.g. 01/09/2015",
        "schema": {
            "type": "string",
            "pattern": "^(0?[1-9]|[12][0-9]|3[01])/(0?[1-9]|1[0-2])/[0-9]{4}$",
        },
    },
]


def flask_json(body: dict[str, Any], status: int = 200) -> Response:
    """What Flask's ``jsonify`` sends: sorted keys, compact, trailing newline."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n"
    return Response(text, status_code=status, media_type="application/json")


def bad_request(message: str) -> HTMLResponse:
    """Werkzeug's 400 page."""
    return HTMLResponse(_BAD_REQUEST.format(message), status_code=400)


@router.get("/", summary="Seed root", response_class=HTMLResponse)
def root() -> HTMLResponse:
    return HTMLResponse("Root Loaded \n")


@router.get(
    "/load-data",
    summary="Load every file in $WATTLAKE_HOME/landing/meter_files (idempotent)",
    dependencies=[Depends(require_api_key)],
)
def load_data(launcher: LauncherDep) -> Response:
    # The meter-files job over the whole landing folder, under its partition lease.
    launcher.run_now("meter-files")
    return flask_json({"message": "Load data complete"})


@router.get(
    "/populate-view",
    summary="Rebuild the daily aggregates",
    dependencies=[Depends(require_api_key)],
)
def populate_view(runner: RunnerDep) -> Response:
    spec = get_pipeline("meter-files")
    run = runner.runs.start("populate-view")
    try:
        runner.build_gold(spec, run)
    except BaseException as exc:
        run.finish(exc)
        raise
    run.finish()
    return flask_json({"message": "Load data in view complete"})


@router.get(
    "/get-data",
    summary="Mixed daily min/max/avg of one meter on one day (dd/mm/YYYY)",
    responses={400: {"content": {"text/html": {}}, "description": "Werkzeug-style HTML page"}},
    openapi_extra={"parameters": GET_DATA_PARAMETERS},
)
def get_data(request: Request, runner: RunnerDep) -> Response:
    q = request.query_params
    try:
        day: date = datetime.strptime(q.get("date_time") or "", "%d/%m/%Y").date()
    except ValueError:
        return bad_request("date_time should be in %d/%m/%Y")
    meter, serial = q.get("meter_code"), q.get("serial_code")
    if not meter:
        return bad_request("meter_code is mandatory")
    if not serial:
        return bad_request("serial_code is mandatory")
    rows = records(
        runner.engine,
        "SELECT id, meter_code, serial_code, plant_code, local_date, max_energy, min_energy, "
        "avg_energy FROM meter_daily_mixed WHERE meter_code = $m AND serial_code = $s "
        "AND local_date = $d ORDER BY id LIMIT 1",
        {"m": meter, "s": serial, "d": day},
    )
    if not rows:
        return flask_json({"message": "energy data not present"})
    row = rows[0]
    midnight = datetime(day.year, day.month, day.day)
    return flask_json(
        {
            "avg_energy": row["avg_energy"],
            "date_time": format_datetime(midnight, usegmt=False).replace("-0000", "GMT"),
            "id": row["id"],
            "max_energy": row["max_energy"],
            "meter_code": row["meter_code"],
            "min_energy": row["min_energy"],
            "plant_code": row["plant_code"],
            "serial_code": row["serial_code"],
        }
    )
