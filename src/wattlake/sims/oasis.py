"""A local stand-in for CAISO OASIS SingleZip LMP queries (caiso-oasis.md §8).

It serves ``GET /oasisapi/SingleZip`` with the real parameter names, validation and error codes,
answers HTTP 200 with a one-member zip (``application/x-zip-compressed``) holding either the CSV
in the query's layout (header, price column MW/VALUE/PRC, GROUP counters, shuffled DAM hours,
``-00:00`` timestamps, hour-ending OPR_HR with 25 on the fall-back day and no 3 on the
spring-forward day) or the OASIS error XML envelope, and answers HTTP 429 (empty body) to a
client that calls again within ``rate_limit_s``.

Prices ($/MWh, generated in ``oasis_data``) are synthetic but shaped like CAISO's: a seasonal level, an evening peak and a
solar midday dip, node-specific congestion and losses, occasional spikes and negative prices,
zero-priced EIM base nodes, and MGHG rows from ``ghg_from`` on. ``LMP = MCE + MCC + MCL + MGHG``
to within 1e-5. Values depend only on (seed, market, node, interval), never on the request.

Not simulated: GroupZip, XML result formats (``resultformat`` other than 6 gets error 1001).
Where CAISO's behaviour is not documented (error code for too-long all-nodes windows, empty
windows) the choice is an assessment and says so below. Stdlib only; written from caiso-oasis.md
and never importing ``wattlake.sources`` (queries, versions and columns: ``oasis_queries``).
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from wattlake.sims._server import Faults, Reply, Request, SimServer
from wattlake.sims.oasis_data import (
    PACIFIC,
    PriceModel,
    default_nodes,
    error_xml,
    generate_csv,
    member_stem,
    zip_one,
)
from wattlake.sims.oasis_queries import DAM, QUERIES, OasisQuery

__all__ = ["OasisSim", "PriceModel", "default_nodes", "generate_csv", "main", "zip_one"]

PATH = "/oasisapi/SingleZip"
RETENTION_DAYS = 1187  # about 39 months
ERRORS = {
    "1000": "No data returned for the specified selection",
    "1001": "Invalid parameters",
    "1002": "Invalid datetime format, please use valid datetime format",
    "1004": "Data can be requested for period of 31 days only",
    "1005": "Report name does not exist, please use valid report name",
    "1011": "Empty Query; Please Enter Report Name, Startdate, EndDate and Other Parameters",
    "1015": "GroupZip DownLoad is in Processing, Please Submit request after Sometime",
    "1017": "Please select a maximum of 10 nodes or use the ALL option",
    "1018": "Invalid Selection, cannot select multiple hours for this query",
    "1020": "Version parameter is missing or is invalid",
}
FAULTS = ("429", "500", "truncate", "corrupt", "1015")


def _parse_time(s: str) -> datetime | None:
    try:
        return datetime.strptime(s, "%Y%m%dT%H:%M%z").astimezone(UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class SimRequest:
    """One request the sim saw: path, first value of each parameter, status and outcome."""

    path: str
    params: dict[str, str]
    status: int
    outcome: str  # "csv", an error code like "1000", "429", or an injected fault


class OasisSim(SimServer):
    """The OASIS stand-in. ``start()`` returns the base URL (``http://host:port/oasisapi``).

    ``nodes`` is the full APNode list (default :func:`default_nodes` of ``all_nodes_count``);
    ``rate_limit_s`` the least time between two accepted requests from one client address;
    ``retention_days`` how far back data exists; ``now`` a fixed clock (data exists up to now
    for real-time markets and up to the end of the next operating day for DAM).
    ``fail_next(*kinds)`` queues faults (see FAULTS) for the next requests.
    """

    def __init__(
        self,
        *,
        nodes: Sequence[str] | None = None,
        all_nodes_count: int = 300,
        seed: int = 0,
        rate_limit_s: float = 5.0,
        host: str = "127.0.0.1",
        port: int = 0,
        retention_days: int | None = RETENTION_DAYS,
        now: datetime | None = None,
        ghg_from: date = date(2024, 1, 1),
    ) -> None:
        self.nodes = (
            sorted(set(nodes)) if nodes is not None else sorted(default_nodes(all_nodes_count))
        )
        self.seed, self.rate_limit_s, self.retention_days = seed, rate_limit_s, retention_days
        super().__init__(host, port)
        self._now = now
        self.model = PriceModel(seed, ghg_from)
        self.requests: list[SimRequest] = []
        self.faults = Faults(FAULTS)
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def start(self) -> str:
        """Serve in a background thread; the base URL (``http://host:port/oasisapi``)."""
        super().start()
        return self.base_url

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/oasisapi"

    def fail_next(self, *kinds: str) -> None:
        self.faults.add(*kinds)

    def now(self) -> datetime:
        return self._now or datetime.now(UTC)

    # -- requests ----------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        params, client = request.params, request.client
        with self._lock:
            last = self._last.get(client)
            limited = last is not None and time.monotonic() - last < self.rate_limit_s
            if not limited:
                self._last[client] = time.monotonic()
        fault = self.faults.take() if not limited and request.path == PATH else None
        headers: dict[str, str] = {"Content-Type": "text/plain"}
        if request.method != "GET" or request.path != PATH:
            status, outcome, body = 404, "404", b"Not Found"
        elif limited or fault == "429":
            status, outcome, body = 429, "429", b""
        elif fault == "500":
            status, outcome, body = 500, "500", b"Internal Server Error"
        else:
            status, (outcome, headers, body) = 200, self.answer(params, fault)
        self.requests.append(SimRequest(request.path, params, status, fault or outcome))
        if fault == "corrupt":
            body = b"\x00" * len(body)
        return Reply(status, body, headers, truncate=fault == "truncate")

    def answer(
        self, params: dict[str, str], fault: str | None = None
    ) -> tuple[str, dict[str, str], bytes]:
        """(outcome, headers, zip body) for one SingleZip request, as OASIS would answer it."""
        gen = self.now()
        result = "1015" if fault == "1015" else self._select(params)
        if isinstance(result, tuple):
            q, version, start, end, nodes = result
            csv = generate_csv(q.market, start, end, nodes, version=version, model=self.model)
            if csv.count(b"\n") > 1:  # more than the header
                name = member_stem(q, version, start, end, gen) + ".csv"
                return "csv", _zip_headers(name), zip_one(name, csv, gen)
            result = "1000"
        query = QUERIES.get(params.get("queryname", ""))
        t0 = _parse_time(params.get("startdatetime", ""))
        t1 = _parse_time(params.get("enddatetime", ""))
        if result == "1000" and query and t0 and t1:  # no data: a dated member name
            name = member_stem(query, int(params["version"]), t0, t1, gen) + ".xml"
        else:
            name = "INVALID_REQUEST.xml"
        body = zip_one(name, error_xml(result, ERRORS[result], gen), gen)
        return result, _zip_headers(name), body

    def _select(
        self, p: dict[str, str]
    ) -> str | tuple[OasisQuery, int, datetime, datetime, list[str]]:
        """Validate like OASIS: an error code, or (query, version, start, end, nodes)."""
        if not p.get("queryname") or not p.get("startdatetime") or not p.get("enddatetime"):
            return "1011"
        q = QUERIES.get(p["queryname"])
        if q is None:
            return "1005"
        version = int(p["version"]) if p.get("version", "").isdigit() else None
        if version not in q.headers:
            return "1020"
        start, end = _parse_time(p["startdatetime"]), _parse_time(p["enddatetime"])
        if start is None or end is None:
            return "1002"
        if end - start >= timedelta(days=31):
            return "1004"
        if p.get("resultformat") != "6":
            return "1001"
        if p.get("market_run_id", q.market) != q.market:
            return "1000"  # the wrong market for the query answers "no data" (us-power-poc)
        if "grp_type" in p:
            if p["grp_type"] not in ("ALL_APNODES", "ALL") or "node" in p:
                return "1001"
            slack = timedelta(hours=1 if q.market == DAM else 0)  # 25-hour days
            if end - start > q.all_nodes_span + slack:
                return "1018"  # assessment: OASIS refuses longer all-node windows
            nodes = self.nodes
        elif "node" in p:
            asked = [n.strip() for n in p["node"].split(",") if n.strip()]
            if len(asked) > 10:
                return "1017"
            nodes = [n for n in asked if n in set(self.nodes)]
        else:
            return "1011"
        now = self.now()
        if self.retention_days is not None:
            start = max(start, now - timedelta(days=self.retention_days))
        end = min(end, now if q.market != DAM else _next_day_end(now))
        if end <= start or not nodes:
            return "1000"
        return q, version, start, end, nodes


def _next_day_end(now: datetime) -> datetime:
    d = now.astimezone(PACIFIC).date() + timedelta(days=2)
    return datetime(d.year, d.month, d.day, tzinfo=PACIFIC).astimezone(UTC)


def _zip_headers(member: str) -> dict[str, str]:
    return {
        "Content-Type": "application/x-zip-compressed",
        "Content-Disposition": f"inline; filename={member}.zip;",
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m wattlake.sims.oasis --port 8001 --rate-limit 5``: serve until Ctrl-C."""
    ap = argparse.ArgumentParser(prog="python -m wattlake.sims.oasis", description="OASIS stand-in")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8001)
    ap.add_argument("--rate-limit", type=float, default=5.0, help="s between requests, else 429")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--nodes", type=int, default=300, help="APNodes for all-node queries")
    ap.add_argument("--retention-days", type=int, default=RETENTION_DAYS)
    a = ap.parse_args(argv)
    sim = OasisSim(
        all_nodes_count=a.nodes, seed=a.seed, rate_limit_s=a.rate_limit, host=a.host,
        port=a.port, retention_days=a.retention_days,
    )  # fmt: skip
    print(f"OASIS stand-in at {sim.start()}/SingleZip, {len(sim.nodes)} APNodes", flush=True)
    sim.serve_until_interrupted()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
