"""A local stand-in for CAISO OASIS SingleZip LMP queries (caiso-oasis.md §8).

It serves ``GET /oasisapi/SingleZip`` with the real parameter names, validation and error codes,
answers HTTP 200 with a one-member zip (``application/x-zip-compressed``) holding either the CSV
in the query's layout (header, price column MW/VALUE/PRC, GROUP counters, shuffled DAM hours,
``-00:00`` timestamps, hour-ending OPR_HR with 25 on the fall-back day and no 3 on the
spring-forward day) or the OASIS error XML envelope, and answers HTTP 429 (empty body) to a
client that calls again within ``rate_limit_s``.

Prices ($/MWh) are synthetic but shaped like CAISO's: a seasonal level, an evening peak and a
solar midday dip, node-specific congestion and losses, occasional spikes and negative prices,
zero-priced EIM base nodes, and MGHG rows from ``ghg_from`` on. ``LMP = MCE + MCC + MCL + MGHG``
to within 1e-5. Values depend only on (seed, market, node, interval), never on the request.

Not simulated: GroupZip, XML result formats (``resultformat`` other than 6 gets error 1001).
Where CAISO's behaviour is not documented (error code for too-long all-nodes windows, empty
windows) the choice is an assessment and says so below. Stdlib only, apart from wattlake.
"""

from __future__ import annotations

import argparse
import io
import math
import random
import threading
import time
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from wattlake.sources.caiso.schema import COMPONENTS, MARKETS, TRADING_HUBS, Market, MarketQuery

PACIFIC = ZoneInfo("America/Los_Angeles")
PATH = "/oasisapi/SingleZip"
RETENTION_DAYS = 1187  # about 39 months
QUERIES: dict[str, MarketQuery] = {q.queryname: q for q in MARKETS.values()}
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
DISCLAIMER = (
    "The contents of these pages are subject to change without notice. Decisions based on "
    "information contained within the California ISO's web site are the visitor's sole "
    "responsibility."
)
FAULTS = ("429", "500", "truncate", "corrupt", "1015")
_FIXED_NODES = (
    *TRADING_HUBS,
    "DLAP_PGAE-APND",
    "DLAP_SCE-APND",
    "DLAP_SDGE-APND",
    "DLAP_VEA-APND",
    "AZPS_CRYSTAL500_NEVP_E_EIMBASE-APND",
    "PACE_BORAH_BASE1-APND",
)
_PLACES = "ALAMIT BELDEN CARBOU DIABLO ELKHIL FRIANT GEYSER HELMPG KERNRV LODIEC MOSSLD".split()  # noqa: SIM905
_UNITS = "GEN UNIT1 UNITS PL1X3 N001 QF SOLAR1 WIND B1 TOT_GEN NAVYII OTAYMS".split()  # noqa: SIM905
_M64 = (1 << 64) - 1


def default_nodes(count: int = 300) -> list[str]:
    """The hubs, DLAPs and two EIM base nodes, then synthetic APNodes up to ``count`` in all."""
    names = list(_FIXED_NODES)
    i = 0
    while len(names) < count:
        place, digit = _PLACES[i % len(_PLACES)], 1 + (i // len(_PLACES)) % 7
        unit = _UNITS[(i // (7 * len(_PLACES))) % len(_UNITS)]
        rnd = i // (7 * len(_PLACES) * len(_UNITS))
        names.append(
            f"{place}_{digit}_{unit}-APND" if rnd == 0 else f"{place}{rnd}_{digit}_{unit}-APND"
        )
        i += 1
    return names


def _mix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _bump(h: float, mu: float, sd: float) -> float:
    return math.exp(-0.5 * ((h - mu) / sd) ** 2)


@dataclass
class PriceModel:
    """Deterministic synthetic prices in $/MWh: ``components(market, node, t)``."""

    seed: int = 0
    ghg_from: date = date(2024, 1, 1)
    _system: dict[tuple[Market, datetime], tuple[float, float]] = field(default_factory=dict)
    _nodes: dict[str, tuple[int, float, float, float, bool]] = field(default_factory=dict)

    def _u(self, *parts: int) -> float:
        h = _mix(self.seed & _M64)
        for p in parts:
            h = _mix(h ^ (p & _M64))
        return h / 2.0**64

    def _system_at(self, market: Market, t: datetime) -> tuple[float, float]:
        """(energy price, congestion index) for the whole system at interval start ``t``."""
        cached = self._system.get((market, t))
        if cached is not None:
            return cached
        lt = t.astimezone(PACIFIC)
        h, doy, day = lt.hour + lt.minute / 60, lt.timetuple().tm_yday, lt.toordinal()
        level = 40 + 10 * math.cos(2 * math.pi * (doy - 220) / 365.25)
        solar = (0.25 + 0.45 * max(0.0, math.cos(2 * math.pi * (doy - 120) / 365.25))) * _bump(
            h, 12.5, 2.8
        )
        shape = 1 + 0.5 * _bump(h, 19.5, 2) + 0.15 * _bump(h, 7.5, 1.5) - solar
        shape -= 0.12 * _bump(h, 3.5, 2.5)
        price = (
            level * (0.8 + 0.4 * self._u(1, day)) * shape * (0.98 + 0.04 * self._u(2, day, lt.hour))
        )
        if solar > 0.45 and self._u(3, day) < 0.15:  # oversupply day: negative midday prices
            price = -(1 + 25 * self._u(4, day, lt.hour))
        minute = int(t.timestamp()) // 60
        if market is not Market.DAM:
            sigma = 0.15 if market is Market.RTM else 0.08
            u1, u2 = max(self._u(5, minute, ord(market[1])), 1e-12), self._u(6, minute)
            price *= 1 + sigma * math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)
            if self._u(7, minute) < 0.003:
                price += 150 + 600 * self._u(8, minute)
        cong = max(0.0, 6 * _bump(h, 18, 3) + 4 * (self._u(9, minute, day) - 0.3))
        cong *= 3.0 if self._u(10, day) < 0.1 else 1.0
        self._system[(market, t)] = (price, cong)
        return price, cong

    def _node(self, node: str) -> tuple[int, float, float, float, bool]:
        prof = self._nodes.get(node)
        if prof is None:
            nid = zlib.crc32(node.encode())
            cf = 0.0 if self._u(11, nid) < 0.35 else 3 * (self._u(12, nid) - 0.5)
            lf = -0.07 + 0.12 * self._u(13, nid)
            ghg = 0.0 if self._u(14, nid) < 0.85 else 0.5 + 3.5 * self._u(15, nid)
            zero = "EIMBASE" in node or "_BASE1" in node
            prof = self._nodes[node] = (nid, cf, lf, ghg, zero)
        return prof

    def components(self, market: Market, node: str, t: datetime) -> dict[str, float]:
        """LMP_TYPE -> price rounded to 5 decimals; MGHG only from ``ghg_from`` (Pacific date)."""
        nid, cf, lf, ghg_w, zero = self._node(node)
        with_ghg = t.astimezone(PACIFIC).date() >= self.ghg_from
        if zero:
            vals = {"MCE": 0.0, "MCC": 0.0, "MCL": 0.0}
        else:
            mce, cong = self._system_at(market, t)
            minute = int(t.timestamp()) // 60
            mcc = cf * cong * (0.9 + 0.2 * self._u(16, nid, minute)) if cf else 0.0
            mcl = mce * lf * (0.85 + 0.3 * self._u(17, nid, minute))
            vals = {"MCE": round(mce, 5), "MCC": round(mcc, 5), "MCL": round(mcl, 5)}
            if with_ghg:
                lt = t.astimezone(PACIFIC)
                vals["MGHG"] = round(ghg_w * _bump(lt.hour + lt.minute / 60, 13, 4), 5)
        if with_ghg:
            vals.setdefault("MGHG", 0.0)
        vals["LMP"] = round(sum(vals.values()), 5)
        return vals


def fmt_price(v: float) -> str:
    """OASIS's short number form: ``41.08``, ``0``, ``-0.5901`` (at most 5 decimals)."""
    s = f"{v:.5f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _labels(t: datetime, q: MarketQuery) -> tuple[date, str, str]:
    """(OPR_DT, OPR_HR, OPR_INTERVAL) for interval start ``t`` (hour-ending, 25 = repeat)."""
    lt = t.astimezone(PACIFIC)
    hour = 25 if lt.fold and lt.hour == 1 else lt.hour + 1
    if q.market is Market.DAM:
        return lt.date(), str(hour), "0"
    minutes = int(q.interval.total_seconds() // 60)
    return lt.date(), f"{hour:02d}", str(lt.minute // minutes + 1)


def price_column(q: MarketQuery, version: int) -> str:
    """PRC_INTVL_LMP v1 used ``MW``; other versions as configured."""
    return "MW" if q.market is Market.RTM and version == 1 else q.price_column


def generate_csv(
    market: Market | str,
    start: datetime,
    end: datetime,
    nodes: Sequence[str],
    *,
    seed: int = 0,
    version: int | None = None,
    model: PriceModel | None = None,
) -> bytes:
    """The OASIS CSV for intervals starting in ``[start, end)`` (UTC) at ``nodes``.

    Rows come in GROUP order: one counter per (OPR_DT, node, LMP_TYPE), nodes sorted; DAM hours
    are shuffled inside a group (seeded), real-time intervals are in time order.
    """
    q = MARKETS[Market(market)]
    ver = q.version if version is None else version
    model = model or PriceModel(seed)
    price_col = price_column(q, ver)
    header = tuple(price_col if c == q.price_column else c for c in q.csv_header)
    step = q.interval
    t = datetime.fromtimestamp(
        math.ceil(start.timestamp() / step.total_seconds()) * step.total_seconds(), UTC
    )
    blocks: dict[date, list[tuple[datetime, str, str, str]]] = {}
    while t < end:
        dt, hr, iv = _labels(t, q)
        blocks.setdefault(dt, []).append(
            (t, hr, iv, f"{t:%Y-%m-%dT%H:%M:%S}-00:00,{t + step:%Y-%m-%dT%H:%M:%S}-00:00")
        )
        t += step
    dam = q.market is Market.DAM
    order = ["LMP", "MCC", "MCE", "MCL", "MGHG"] if dam else ["MCC", "MCE", "MCL", "LMP", "MGHG"]
    rng = random.Random(model.seed ^ int(start.timestamp()))
    out = [",".join(header)]
    group = 0
    mkt = q.market.value
    for dt in sorted(blocks):
        ivs = blocks[dt]
        for node in sorted(set(nodes)):
            vals = [model.components(q.market, node, iv[0]) for iv in ivs]
            ids = f"{node},{node},{node},{mkt}"
            for comp in order:
                if comp not in vals[0]:
                    continue
                group += 1
                item = COMPONENTS[comp][0]
                idx = list(range(len(ivs)))
                if dam:  # real DAM files shuffle the hours inside a group
                    rng.shuffle(idx)
                for i in idx:
                    _t, hr, iv, ts = ivs[i]
                    p = fmt_price(vals[i][comp])
                    if q.opr_interval_after_price:
                        out.append(
                            f"{ts},{dt},{hr},{ids},{comp},{item},{node},ALL_APNODES,0,{p},{iv},{group}"
                        )
                    else:
                        out.append(
                            f"{ts},{dt},{hr},{iv},{ids},{comp},{item},{node},ALL_APNODES,0,{p},{group}"
                        )
    return ("\n".join(out) + "\n").encode()


def member_stem(q: MarketQuery, version: int, start: datetime, end: datetime, gen: datetime) -> str:
    """``{d1}_{d2}_{QUERY}_{MKT}_{generated}_v{ver}``: d1 = Pacific date of start, d2 = Pacific
    date of (end - 1 day), never before d1 (assessment from three real names)."""
    d1 = start.astimezone(PACIFIC).date()
    d2 = max(d1, (end - timedelta(days=1)).astimezone(PACIFIC).date())
    return (
        f"{d1:%Y%m%d}_{d2:%Y%m%d}_{q.queryname}_{q.market.value}_{gen:%Y%m%d_%H_%M_%S}_v{version}"
    )


class _Sink(io.RawIOBase):
    """A write-only, unseekable buffer, so zipfile writes data descriptors like OASIS's writer."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.data += b
        return len(b)

    def tell(self) -> int:
        raise OSError("unseekable")


def zip_one(name: str, payload: bytes, when: datetime) -> bytes:
    """A zip holding one deflated member ``name`` (flag 0x08: sizes in a data descriptor)."""
    sink = _Sink()
    info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 0
    with zipfile.ZipFile(sink, "w") as zf:
        zf.writestr(info, payload)
    return bytes(sink.data)


def error_xml(code: str, description: str, now: datetime) -> bytes:
    """The OASIS error envelope, byte for byte as OASIS sends it (no trailing newline)."""
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<m:OASISReport xmlns:m="http://www.caiso.com/soa/OASISReport_v1.xsd">\n'
        "<m:MessageHeader>\n"
        f"\t<m:TimeDate>{stamp}</m:TimeDate>\n"
        "\t<m:Source>OASIS</m:Source>\n"
        "\t<m:Version>v20131201</m:Version>\n"
        "</m:MessageHeader>\n<m:MessagePayload>\n<m:RTO>\n<m:name>CAISO</m:name>\n"
        f"<m:DISCLAIMER_ITEM>\n<m:DISCLAIMER>{DISCLAIMER}</m:DISCLAIMER>\n</m:DISCLAIMER_ITEM>\n"
        f"<m:ERROR>\n<m:ERR_CODE>{code}</m:ERR_CODE>\n<m:ERR_DESC>{description}</m:ERR_DESC>\n"
        "</m:ERROR>\n\n</m:RTO>\n</m:MessagePayload>\n</m:OASISReport>"
    ).encode()


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


class OasisSim:
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
        self.host, self.port, self._now = host, port, now
        self.model = PriceModel(seed, ghg_from)
        self.requests: list[SimRequest] = []
        self._faults: list[str] = []
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> str:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                sim._serve(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        server = self._server
        self._thread = threading.Thread(target=lambda: server.serve_forever(0.05), daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OasisSim:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/oasisapi"

    def fail_next(self, *kinds: str) -> None:
        unknown = [k for k in kinds if k not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; use {FAULTS}")
        with self._lock:
            self._faults.extend(kinds)

    def now(self) -> datetime:
        return self._now or datetime.now(UTC)

    # -- requests ----------------------------------------------------------------------------

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        client = h.client_address[0]
        with self._lock:
            last = self._last.get(client)
            limited = last is not None and time.monotonic() - last < self.rate_limit_s
            if not limited:
                self._last[client] = time.monotonic()
            ours = self._faults and not limited and url.path == PATH
            fault = self._faults.pop(0) if ours else None
        headers: dict[str, str] = {"Content-Type": "text/plain"}
        if url.path != PATH:
            status, outcome, body = 404, "404", b"Not Found"
        elif limited or fault == "429":
            status, outcome, body = 429, "429", b""
        elif fault == "500":
            status, outcome, body = 500, "500", b"Internal Server Error"
        else:
            status, (outcome, headers, body) = 200, self.answer(params, fault)
        self.requests.append(SimRequest(url.path, params, status, fault or outcome))
        h.send_response(status)
        for k, v in {**headers, "Content-Length": str(len(body))}.items():
            h.send_header(k, v)
        h.end_headers()
        if fault == "truncate":  # promise the full length, send half, hang up
            h.wfile.write(body[: len(body) // 2])
            h.close_connection = True
        else:
            h.wfile.write(b"\x00" * len(body) if fault == "corrupt" else body)

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
    ) -> str | tuple[MarketQuery, int, datetime, datetime, list[str]]:
        """Validate like OASIS: an error code, or (query, version, start, end, nodes)."""
        if not p.get("queryname") or not p.get("startdatetime") or not p.get("enddatetime"):
            return "1011"
        q = QUERIES.get(p["queryname"])
        if q is None:
            return "1005"
        version = int(p["version"]) if p.get("version", "").isdigit() else None
        if version not in (1, q.version):
            return "1020"
        start, end = _parse_time(p["startdatetime"]), _parse_time(p["enddatetime"])
        if start is None or end is None:
            return "1002"
        if end - start >= timedelta(days=31):
            return "1004"
        if p.get("resultformat") != "6":
            return "1001"
        if p.get("market_run_id", q.market.value) != q.market.value:
            return "1000"  # the wrong market for the query answers "no data" (us-power-poc)
        if "grp_type" in p:
            if p["grp_type"] not in ("ALL_APNODES", "ALL") or "node" in p:
                return "1001"
            slack = timedelta(hours=1 if q.market is Market.DAM else 0)  # 25-hour days
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
        end = min(end, now if q.market is not Market.DAM else _next_day_end(now))
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
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
