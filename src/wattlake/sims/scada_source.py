"""A local stand-in for the Delfos "Fonte" wind SCADA source API (seed-systems.md §C).

The original contract, exactly:

- ``GET /data?start_timestamp=&end_timestamp=&columns=…`` — every parameter optional;
  ``timestamp >= start`` and ``timestamp < end`` (half-open); ``columns`` is a repeated key
  (``columns=wind_speed&columns=power``); unknown names are dropped silently, and when none is
  left the answer is **400** ``{"detail": "Invalid column names"}``; ``timestamp`` is added in
  front unless the caller listed it (then it stays where the caller put it, as in the
  original); any real column may be asked for, ``id`` included; a repeated name appears once.
  The answer is a JSON array of objects with the keys in that order, timestamps as ISO text
  without a zone (``2024-05-20T00:00:00``), rows in table order (``id``).
- ``GET /data/{data_id}`` — ``{"timestamp","wind_speed","power","ambient_temperature","id"}``,
  or **404** ``{"detail": "Data not found"}``. (The original may answer 500 here under
  pydantic v2, see §C.4; we serve what it meant.)
- OpenAPI docs at ``/docs`` (``/openapi.json``); bad parameter types answer FastAPI's 422.

Choices where the original is undefined: without ``columns`` the original's answer has no
useful shape, so we answer full rows in the ``/data/{data_id}`` shape; start/end with a zone
are converted to UTC and compared with the zone-less stored times; a NaN value is sent as
``null`` (the original fails with 500).

Additions that leave those calls untouched:

- ``turbine=WTG02`` on both endpoints. Without it (or naming the default turbine, ``WTG01``)
  the answer comes from the original ``data`` table. Unknown turbine: 404
  ``{"detail": "Turbine not found"}``. ``GET /turbines`` lists the farm.
- Pagination: ``limit`` (default 50,000 rows, at most 500,000) and ``offset`` (default 0). A
  page that stops before the end of the range carries ``Link: <…offset=N…>; rel="next"``;
  the last page has no ``Link``. The default page is larger than the original 10 days (14,400
  rows), so the original's unpaginated answers are unchanged.

The database is a real one (``scada_store``): an embedded DuckDB by default, PostgreSQL when
given a URL. On start, if the ``data`` table is empty, it is filled with the synthetic farm of
``scada_data`` (as the original filled it on start-up, only when empty). ``load_csv`` /
``load_rows`` replace a turbine's rows with real data (e.g. the public sample CSV).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import uvicorn
from fastapi import FastAPI, HTTPException, Query, Request, Response
from pydantic import BaseModel

from wattlake.sims.scada_data import (
    COLUMNS,
    DEFAULT_DAYS,
    DEFAULT_START,
    VALUE_COLUMNS,
    generate_turbine,
    turbine_names,
)
from wattlake.sims.scada_store import Row, ScadaStore, open_store

__all__ = [
    "DEFAULT_LIMIT", "MAX_LIMIT", "ScadaSourceSim", "create_app", "load_csv", "load_rows", "redact_url",
]  # fmt: skip

DEFAULT_LIMIT = 50_000
MAX_LIMIT = 500_000
DEFAULT_TURBINE = "WTG01"
_INT4 = 2**31
_ROW_KEYS = ("timestamp", *VALUE_COLUMNS, "id")


class DataRow(BaseModel):
    """One source row (``/data/{data_id}``); ``/data`` answers the requested subset of keys."""

    timestamp: datetime
    wind_speed: float | None
    power: float | None
    ambient_temperature: float | None
    id: int


class Turbine(BaseModel):
    name: str
    default: bool


class Detail(BaseModel):
    detail: str


# -- loading ---------------------------------------------------------------------------------


def _as_store(db: ScadaStore | str | None) -> tuple[ScadaStore, bool]:
    if db is None or isinstance(db, str):
        store = open_store(db)
        store.ensure()
        return store, True
    return db, False


def _default_name(store: ScadaStore) -> str:
    return next((n for n, d in store.turbines() if d), DEFAULT_TURBINE)


def _replace(store: ScadaStore, table: pa.Table, turbine: str | None) -> int:
    known = [n for n, _ in store.turbines()]
    default = _default_name(store)
    name = turbine or default
    n = store.replace(None if name == default else name, table)
    if name not in known or default not in known:
        others = [k for k in known if k != default]
        store.set_turbines([default, *others, *([name] if name not in (default, *others) else [])])
    return n


def _parse_ts(v: Any) -> datetime | None:
    if v is None or isinstance(v, datetime):
        return v
    return datetime.fromisoformat(str(v))


def _opt_float(v: Any) -> float | None:
    return None if v is None or v == "" else float(v)


def load_rows(
    db: ScadaStore | str | None,
    rows: Iterable[Mapping[str, Any] | Sequence[Any]],
    turbine: str | None = None,
) -> int:
    """Replace ``turbine``'s rows (default: the default turbine, i.e. the ``data`` table).

    ``rows`` are mappings with ``timestamp, wind_speed, power, ambient_temperature`` or tuples in
    that order; timestamps are datetimes or ISO text. Ids are 1…n in the given order. Returns
    the number of rows. ``db`` is a store or a database URL.
    """
    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS[1:]}
    for r in rows:
        vals = [r.get(c) for c in COLUMNS[1:]] if isinstance(r, Mapping) else list(r)[:4]
        cols["timestamp"].append(_parse_ts(vals[0]))
        for c, v in zip(VALUE_COLUMNS, vals[1:], strict=True):
            cols[c].append(_opt_float(v))
    table = pa.table(
        {
            "timestamp": pa.array(cols["timestamp"], pa.timestamp("us")),
            **{c: pa.array(cols[c], pa.float64()) for c in VALUE_COLUMNS},
        }
    )
    store, own = _as_store(db)
    try:
        return _replace(store, table, turbine)
    finally:
        if own:
            store.close()


def load_csv(
    path: str | Path, db: ScadaStore | str | None = None, turbine: str | None = None
) -> int:
    """Replace a turbine's rows with a CSV ``timestamp,wind_speed,power,ambient_temperature``
    (the sample's layout; an ``id`` column, if any, is ignored and ids are renumbered 1…n in
    file order). Values keep their full precision. Returns the number of rows."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        return load_rows(db, list(csv.DictReader(f)), turbine)


# -- the HTTP app ----------------------------------------------------------------------------


def _naive_utc(t: datetime | None) -> datetime | None:
    if t is None or t.tzinfo is None:
        return t
    return t.astimezone(UTC).replace(tzinfo=None)


def _clean(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def encode_rows(keys: Sequence[str], rows: Sequence[Row]) -> bytes:
    """The JSON array FastAPI would send for these rows (compact separators, ISO timestamps)."""
    ti = keys.index("timestamp")
    out = []
    for r in rows:
        vals = list(r)
        t = vals[ti]
        vals[ti] = t.isoformat() if t is not None else None
        out.append(dict(zip(keys, vals, strict=True)))
    try:
        text = json.dumps(out, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:  # NaN or infinity in the data: send null
        out = [{k: _clean(v) for k, v in d.items()} for d in out]
        text = json.dumps(out, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode()


def create_app(sim: ScadaSourceSim) -> FastAPI:
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
        response_model=list[DataRow],
        responses={400: {"model": Detail, "description": "No valid column name"}},
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
            keys = list(dict.fromkeys(c for c in columns if c in COLUMNS))
            if not keys:
                raise HTTPException(status_code=400, detail="Invalid column names")
            if "timestamp" not in keys:
                keys.insert(0, "timestamp")
        else:
            keys = list(_ROW_KEYS)
        which = resolve(turbine)
        page = limit or DEFAULT_LIMIT
        rows = sim.store.select(
            which, keys, _naive_utc(start_timestamp), _naive_utc(end_timestamp), page + 1, offset
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


def redact_url(url: str) -> str:
    """``url`` without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


# -- the stand-in ----------------------------------------------------------------------------


def _as_datetime(v: date | datetime | str) -> datetime:
    if isinstance(v, str):
        v = datetime.fromisoformat(v)
    if not isinstance(v, datetime):
        v = datetime(v.year, v.month, v.day)
    return v.replace(tzinfo=None)


class ScadaSourceSim:
    """The Fonte stand-in: ``start() -> base_url`` (``http://127.0.0.1:PORT``), ``stop()``,
    or ``with ScadaSourceSim(...) as sim: sim.base_url``.

    ``database_url``: ``None`` (in-memory DuckDB), ``duckdb:///file.duckdb`` or
    ``postgresql://…``. On start an empty ``data`` table is filled with ``turbines`` synthetic
    turbines (``WTG01`` the default) of ``days`` days from ``start``, deterministic per
    ``seed``; ``generate=False`` leaves it empty (then ``load_csv``). An already filled database
    is served as it is.
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        seed: int = 0,
        turbines: int = 3,
        start: date | datetime | str = DEFAULT_START,
        days: int = DEFAULT_DAYS,
        generate: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.database_url, self.seed, self.n_turbines = database_url, seed, turbines
        self.start_at, self.days, self.generate = _as_datetime(start), days, generate
        self.host, self.port = host, port
        self.turbines: list[str] = []
        self.default_turbine = DEFAULT_TURBINE
        self._store: ScadaStore | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.app = create_app(self)

    @property
    def store(self) -> ScadaStore:
        if self._store is None:
            self.prepare()
        assert self._store is not None
        return self._store

    def prepare(self) -> None:
        """Open the database, create the tables, fill them if ``data`` is empty."""
        if self._store is None:
            self._store = open_store(self.database_url)
            self._store.ensure()
        store = self._store
        names = turbine_names(self.n_turbines)
        if store.row_count() == 0 and self.generate:
            for i, name in enumerate(names):
                gen = generate_turbine(self.seed, i, self.start_at, self.days)
                store.replace(None if i == 0 else name, gen.table)
            store.set_turbines(names)
        elif not store.turbines():
            store.set_turbines(names[:1])
        self._refresh()

    def _refresh(self) -> None:
        assert self._store is not None
        listed = self._store.turbines()
        self.turbines = [n for n, _ in listed]
        self.default_turbine = next((n for n, d in listed if d), DEFAULT_TURBINE)

    def load_rows(
        self, rows: Iterable[Mapping[str, Any] | Sequence[Any]], turbine: str | None = None
    ) -> int:
        n = load_rows(self.store, rows, turbine)
        self._refresh()
        return n

    def load_csv(self, path: str | Path, turbine: str | None = None) -> int:
        n = load_csv(path, self.store, turbine)
        self._refresh()
        return n

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> str:
        self.prepare()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._server, self._thread, self._sock = server, thread, sock
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the SCADA source stand-in did not start")
            time.sleep(0.01)
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        if self._store is not None:
            self._store.close()
        self._server = self._thread = self._sock = self._store = None

    def serve_until_interrupted(self) -> None:
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> ScadaSourceSim:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m wattlake.sims.scada_source --port 8000``: serve until Ctrl-C."""
    ap = argparse.ArgumentParser(prog="python -m wattlake.sims.scada_source")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--database-url", default=None, help="duckdb:///file or postgresql://…")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--turbines", type=int, default=3)
    ap.add_argument("--start", default=DEFAULT_START.date().isoformat())
    ap.add_argument("--days", type=int, default=DEFAULT_DAYS)
    a = ap.parse_args(argv)
    sim = ScadaSourceSim(
        a.database_url, seed=a.seed, turbines=a.turbines, start=a.start, days=a.days,
        host=a.host, port=a.port,
    )  # fmt: skip
    url = sim.start()
    print(f"Fonte stand-in at {url}/data (docs {url}/docs), turbines {sim.turbines}", flush=True)
    sim.serve_until_interrupted()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
