"""The HTTP app of the Fonte stand-in (the contract is described in ``scada_source``).

``create_app(source)`` builds the FastAPI app over anything with ``store``, ``turbines`` and
``default_turbine`` (the ``ScadaSourceSim``). Rows are read by ``scada_store`` and encoded
here, in FastAPI's compact JSON, by ``json``'s C encoder.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

from fastapi import FastAPI, HTTPException, Query, Request, Response
from pydantic import BaseModel

from wattlake.sims.scada_data import COLUMNS, VALUE_COLUMNS
from wattlake.sims.scada_store import Row, ScadaStore

DEFAULT_LIMIT = 50_000
MAX_LIMIT = 500_000
_INT4 = 2**31
_ROW_KEYS = ("timestamp", *VALUE_COLUMNS, "id")


class Source(Protocol):
    """What the app reads: the database and the farm's turbine names."""

    @property
    def store(self) -> ScadaStore: ...

    turbines: list[str]
    default_turbine: str


class DataRow(BaseModel):
    """One source row (``/data/{data_id}``); ``/data`` answers the requested subset of keys."""

    timestamp: datetime
    wind_speed: float | None
    power: float | None
    ambient_temperature: float | None
    id: int


class DataItem(BaseModel):
    """One element of the ``/data`` array: ``timestamp`` and the requested columns only."""

    timestamp: datetime
    wind_speed: float | None = None
    power: float | None = None
    ambient_temperature: float | None = None
    id: int | None = None


class Turbine(BaseModel):
    name: str
    default: bool


class Detail(BaseModel):
    detail: str


def _naive_utc(t: datetime | None) -> datetime | None:
    if t is None or t.tzinfo is None:
        return t
    return t.astimezone(UTC).replace(tzinfo=None)


def _clean(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def encode_rows(keys: Sequence[str], rows: Sequence[Row]) -> bytes:
    """The JSON array FastAPI would send for these rows (compact separators, ISO timestamps,
    float repr), through the C encoder of ``json``; NaN and infinities as null. Keys named
    ``timestamp`` or ``timestamp__N`` hold datetimes."""
    tis = [i for i, k in enumerate(keys) if k.split("__")[0] == "timestamp"]
    out = []
    for r in rows:
        vals = list(r)
        for ti in tis:
            t = vals[ti]
            vals[ti] = t.isoformat() if t is not None else None
        out.append(dict(zip(keys, vals, strict=True)))
    try:
        text = json.dumps(out, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:  # NaN or infinity in the data
        out = [{k: _clean(v) for k, v in d.items()} for d in out]
        text = json.dumps(out, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode()


def answer_keys(columns: Sequence[str]) -> tuple[list[str], list[str]]:
    """(columns to select, keys of the answer) for a ``columns`` list, as the original: unknown
    names dropped, ``timestamp`` put first unless listed, a repeated name answered again under
    ``name__1``, ``name__2`` … (SQLAlchemy 2's labels for a repeated column). Empty: none valid.
    """
    cols = [c for c in columns if c in COLUMNS]
    if cols and "timestamp" not in cols:
        cols.insert(0, "timestamp")
    seen: dict[str, int] = {}
    keys = []
    for c in cols:
        n = seen.get(c, 0)
        seen[c] = n + 1
        keys.append(c if n == 0 else f"{c}__{n}")
    return cols, keys


def create_app(sim: Source) -> FastAPI:
    app = FastAPI(
        title="Fonte — wind SCADA source (wattlake stand-in)",
        version="1.0",
        description=(
            "1-minute wind-turbine data from the source table `data(id, timestamp, wind_speed, "
            "power, ambient_temperature)`. The original contract plus `turbine` and "
            "`limit`/`offset` (next page in the `Link` header)."
        ),
    )

    def resolve(turbine: str | None) -> str | None:
        if turbine is None or turbine == sim.default_turbine:
            return None
        if turbine not in sim.turbines:
            raise HTTPException(status_code=404, detail="Turbine not found")
        return turbine

    @app.get(
        "/data",
        response_model=list[DataItem],
        responses={
            400: {"model": Detail, "description": "No valid column name"},
            404: {"model": Detail, "description": "Unknown turbine"},
        },
        summary="Rows in [start_timestamp, end_timestamp), with the chosen columns",
    )
    def get_data(
        request: Request,
        start_timestamp: Annotated[
            datetime | None, Query(description="Inclusive lower bound (ISO datetime)")
        ] = None,
        end_timestamp: Annotated[
            datetime | None, Query(description="Exclusive upper bound (ISO datetime)")
        ] = None,
        columns: Annotated[
            list[str] | None,
            Query(description="Repeat for several: columns=wind_speed&columns=power"),
        ] = None,
        turbine: Annotated[
            str | None, Query(description="Turbine name (default: the default turbine)")
        ] = None,
        limit: Annotated[
            int | None,
            Query(ge=1, le=MAX_LIMIT, description=f"Page size (default {DEFAULT_LIMIT})"),
        ] = None,
        offset: Annotated[int, Query(ge=0, description="Rows to skip")] = 0,
    ) -> Response:
        if columns:
            cols, keys = answer_keys(columns)
            if not cols:
                raise HTTPException(status_code=400, detail="Invalid column names")
        else:
            cols = keys = list(_ROW_KEYS)
        which = resolve(turbine)
        page = limit or DEFAULT_LIMIT
        rows = sim.store.select(
            which, cols, _naive_utc(start_timestamp), _naive_utc(end_timestamp), page + 1, offset
        )
        headers = {}
        if len(rows) > page:
            rows = rows[:page]
            nxt = request.url.include_query_params(offset=offset + page, limit=page)
            headers["Link"] = f'<{nxt}>; rel="next"'
        return Response(encode_rows(keys, rows), media_type="application/json", headers=headers)

    @app.get(
        "/data/{data_id}",
        response_model=DataRow,
        responses={404: {"model": Detail, "description": "No row with this id"}},
        summary="One row by id",
    )
    def get_data_by_id(
        data_id: int,
        turbine: Annotated[
            str | None, Query(description="Turbine name (default: the default turbine)")
        ] = None,
    ) -> Response:
        which = resolve(turbine)
        row = sim.store.get(which, data_id) if -_INT4 <= data_id < _INT4 else None
        if row is None:
            raise HTTPException(status_code=404, detail="Data not found")
        body = encode_rows(_ROW_KEYS, [row])[1:-1]
        return Response(body, media_type="application/json")

    @app.get("/turbines", response_model=list[Turbine], summary="The turbines served")
    def get_turbines() -> list[Turbine]:
        return [Turbine(name=n, default=n == sim.default_turbine) for n in sim.turbines]

    return app
