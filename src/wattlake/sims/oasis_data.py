"""What the OASIS stand-in serves: synthetic prices shaped like CAISO's, written in the exact
CSV layout of each query and version, zipped like OASIS, and the OASIS error XML envelope.

Prices ($/MWh): a seasonal level, an evening peak and a solar midday dip, node-specific
congestion and losses, occasional spikes and negative prices, zero-priced EIM base nodes, MGHG
rows from a given date on. ``LMP = MCE + MCC + MCL + MGHG`` to within 1e-5. Values depend only
on (seed, market, node, interval), never on the request.
"""

from __future__ import annotations

import io
import math
import random
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from wattlake.sims.oasis_queries import (
    DAM,
    RTM,
    TRADING_HUBS,
    XML_DATA_ITEMS,
    OasisQuery,
    query_for,
)

PACIFIC = ZoneInfo("America/Los_Angeles")
DISCLAIMER = (
    "The contents of these pages are subject to change without notice. Decisions based on "
    "information contained within the California ISO's web site are the visitor's sole "
    "responsibility."
)

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
    _system: dict[tuple[str, datetime], tuple[float, float]] = field(default_factory=dict)
    _nodes: dict[str, tuple[int, float, float, float, bool]] = field(default_factory=dict)

    def _u(self, *parts: int) -> float:
        h = _mix(self.seed & _M64)
        for p in parts:
            h = _mix(h ^ (p & _M64))
        return h / 2.0**64

    def _system_at(self, market: str, t: datetime) -> tuple[float, float]:
        """(energy price, congestion index) for the whole system at interval start ``t``."""
        market = str(market)
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
        if market != DAM:
            sigma = 0.15 if market == RTM else 0.08
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

    def components(self, market: str, node: str, t: datetime) -> dict[str, float]:
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


def _labels(t: datetime, q: OasisQuery) -> tuple[date, str, str]:
    """(OPR_DT, OPR_HR, OPR_INTERVAL) for interval start ``t`` (hour-ending, 25 = repeat)."""
    lt = t.astimezone(PACIFIC)
    hour = 25 if lt.fold and lt.hour == 1 else lt.hour + 1
    if q.market == DAM:
        return lt.date(), str(hour), "0"
    minutes = int(q.interval.total_seconds() // 60)
    return lt.date(), f"{hour:02d}", str(lt.minute // minutes + 1)


def price_column(q: OasisQuery, version: int) -> str:
    """The price column of ``q``'s CSV in ``version`` (PRC_INTVL_LMP v1 ``MW``, v3 ``VALUE``)."""
    return q.price_column(version)


def generate_csv(
    market: str,
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
    q = query_for(market)
    ver = q.version if version is None else version
    model = model or PriceModel(seed)
    header = q.header(ver)
    after_price = q.opr_interval_after_price(ver)
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
    dam = q.market == DAM
    order = ["LMP", "MCC", "MCE", "MCL", "MGHG"] if dam else ["MCC", "MCE", "MCL", "LMP", "MGHG"]
    rng = random.Random(model.seed ^ int(start.timestamp()))
    out = [",".join(header)]
    group = 0
    mkt = q.market
    for dt in sorted(blocks):
        ivs = blocks[dt]
        for node in sorted(set(nodes)):
            vals = [model.components(q.market, node, iv[0]) for iv in ivs]
            ids = f"{node},{node},{node},{mkt}"
            for comp in order:
                if comp not in vals[0]:
                    continue
                group += 1
                item = XML_DATA_ITEMS[comp]
                idx = list(range(len(ivs)))
                if dam:  # real DAM files shuffle the hours inside a group
                    rng.shuffle(idx)
                for i in idx:
                    _t, hr, iv, ts = ivs[i]
                    p = fmt_price(vals[i][comp])
                    if after_price:
                        out.append(
                            f"{ts},{dt},{hr},{ids},{comp},{item},{node},ALL_APNODES,0,{p},{iv},{group}"
                        )
                    else:
                        out.append(
                            f"{ts},{dt},{hr},{iv},{ids},{comp},{item},{node},ALL_APNODES,0,{p},{group}"
                        )
    return ("\n".join(out) + "\n").encode()


def member_stem(q: OasisQuery, version: int, start: datetime, end: datetime, gen: datetime) -> str:
    """``{d1}_{d2}_{QUERY}_{MKT}_{generated}_v{ver}``: d1 = Pacific date of start, d2 = Pacific
    date of (end - 1 day), never before d1 (assessment from three real names)."""
    d1 = start.astimezone(PACIFIC).date()
    d2 = max(d1, (end - timedelta(days=1)).astimezone(PACIFIC).date())
    return f"{d1:%Y%m%d}_{d2:%Y%m%d}_{q.queryname}_{q.market}_{gen:%Y%m%d_%H_%M_%S}_v{version}"


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
