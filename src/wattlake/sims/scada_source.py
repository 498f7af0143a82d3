"""A local stand-in for the Delfos "Fonte" wind SCADA source API (seed-systems.md §C).

The original contract, exactly:

- ``GET /data?start_timestamp=&end_timestamp=&columns=…`` — every parameter optional;
  ``timestamp >= start`` and ``timestamp < end`` (half-open); ``columns`` is a repeated key
  (``columns=wind_speed&columns=power``); unknown names are dropped silently, and when none is
  left the answer is **400** ``{"detail": "Invalid column names"}``; ``timestamp`` is added in
  front unless the caller listed it (then it stays where the caller put it, as in the
  original); any real column may be asked for, ``id`` included; a name asked twice is answered
  twice, the second time as ``name__1`` (what SQLAlchemy 2 labels it in the original).
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
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import Message, Receive, Scope, Send

from wattlake.redact import redact_url
from wattlake.sims._server import Faults, Serving
from wattlake.sims.scada_app import DEFAULT_LIMIT, MAX_LIMIT, create_app, encode_rows
from wattlake.sims.scada_data import (
    DEFAULT_DAYS,
    DEFAULT_START,
    DEFAULT_TURBINE,
    generate_turbine,
    turbine_names,
)
from wattlake.sims.scada_store import ScadaStore, load_csv, load_rows, open_store

__all__ = [
    "DEFAULT_LIMIT", "FAULTS", "MAX_LIMIT", "ScadaSourceSim", "SimRequest", "create_app", "encode_rows", "load_csv",
    "load_rows", "redact_url",
]  # fmt: skip


FAULTS = ("500", "502", "503", "429", "truncate")


@dataclass(frozen=True)
class SimRequest:
    """One request the stand-in answered: path, raw query string, status, injected fault."""

    path: str
    query: str
    status: int
    fault: str | None = None


# -- the stand-in ----------------------------------------------------------------------------


def _as_datetime(v: date | datetime | str) -> datetime:
    if isinstance(v, str):
        v = datetime.fromisoformat(v)
    if not isinstance(v, datetime):
        v = datetime(v.year, v.month, v.day)
    return v.replace(tzinfo=None)


class ScadaSourceSim(Serving):
    """The Fonte stand-in: ``start() -> base_url`` (``http://127.0.0.1:PORT``), ``stop()``,
    or ``with ScadaSourceSim(...) as sim: sim.base_url``.

    ``database_url``: ``None`` (in-memory DuckDB), ``duckdb:///file.duckdb`` or
    ``postgresql://…``. On start an empty ``data`` table is filled with ``turbines`` synthetic
    turbines (``WTG01`` the default) of ``days`` days from ``start``, deterministic per
    ``seed``; ``generate=False`` leaves it empty (then ``load_csv``). An already filled database
    is served as it is. ``timezone`` (IANA name): timestamps in that zone's wall time, with its
    DST gap and repeated hour (default: a plain clock, i.e. UTC).

    For clients' tests: ``requests`` lists every request answered (path, query, status);
    ``fail_next(*kinds)`` makes the next requests fail, one kind each (see ``FAULTS``): ``500``,
    ``502``, ``503`` and ``429`` answer that status (``Retry-After: 0`` on 429 and 503),
    ``truncate`` sends the headers and half the body, then closes the connection.
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
        timezone: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.database_url, self.seed, self.n_turbines = database_url, seed, turbines
        self.start_at, self.days, self.generate = _as_datetime(start), days, generate
        self.timezone = timezone
        self.host, self.port = host, port
        self.turbines: list[str] = []
        self.default_turbine = DEFAULT_TURBINE
        self._store: ScadaStore | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.app = create_app(self)
        self.requests: list[SimRequest] = []
        self.faults = Faults(FAULTS)
        self._lock = threading.Lock()

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
                gen = generate_turbine(self.seed, i, self.start_at, self.days, self.timezone)
                store.replace(None if i == 0 else name, gen.table)
            loaded = [n for n, _ in store.turbines() if n not in names]  # e.g. load_csv(turbine=)
            store.set_turbines([*names, *loaded])
        elif not store.turbines():
            store.set_turbines(names[:1])
        self._refresh()

    def _refresh(self) -> None:
        assert self._store is not None
        listed = self._store.turbines()
        self.turbines = [n for n, _ in listed]
        self.default_turbine = next((n for n, d in listed if d), DEFAULT_TURBINE)

    def fail_next(self, *kinds: str) -> None:
        self.faults.add(*kinds)

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app, with the fault queue in front and the request log behind."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fault = self.faults.take()
        query = scope.get("query_string", b"").decode("latin-1")
        status = 0
        if fault is not None and fault.isdigit():
            status = int(fault)
            body = b'{"detail":"injected fault"}'
            headers = [(b"content-type", b"application/json")]
            headers += [(b"content-length", str(len(body)).encode())]
            if status in (429, 503):
                headers.append((b"retry-after", b"0"))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        else:

            async def watch(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                elif fault == "truncate" and message["type"] == "http.response.body":
                    body = message.get("body", b"")
                    half = {"type": "http.response.body", "body": body[: len(body) // 2]}
                    await send({**half, "more_body": True})
                    self._log(scope, query, status, fault)
                    # uvicorn closes the connection when the app fails after it began answering
                    raise ConnectionAbortedError("injected fault: truncated answer")
                await send(message)

            await self.app(scope, receive, watch)
        self._log(scope, query, status, fault)

    def _log(self, scope: Scope, query: str, status: int, fault: str | None) -> None:
        with self._lock:
            self.requests.append(SimRequest(scope["path"], query, status, fault))

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
        config = uvicorn.Config(
            self._asgi, interface="asgi3", log_level="critical", access_log=False, lifespan="off"
        )  # critical: an injected truncation is an app error to uvicorn; keep it quiet
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
    ap.add_argument("--timezone", default=None, help="IANA zone of the logged wall time")
    a = ap.parse_args(argv)
    sim = ScadaSourceSim(
        a.database_url, seed=a.seed, turbines=a.turbines, start=a.start, days=a.days,
        timezone=a.timezone, host=a.host, port=a.port,
    )  # fmt: skip
    url = sim.start()
    print(f"Fonte stand-in at {url}/data (docs {url}/docs), turbines {sim.turbines}", flush=True)
    sim.serve_until_interrupted()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
