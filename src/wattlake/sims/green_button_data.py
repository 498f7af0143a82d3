"""Synthetic but realistic Green Button data and the ESPI Atom documents that carry it
(green-button-espi.md §1): what the Connect stand-in serves.

* Electricity: 15-minute or hourly Wh (``powerOfTenMultiplier`` -3, so values are mWh), a
  household load with morning and evening peaks and summer cooling; with net metering a second
  MeterReading whose ReadingType has ``flowDirection`` 19 carries what rooftop solar exported,
  and the forward channel what was imported (never both in one interval).
* Gas: one daily reading in therms (uom 169, multiplier -3), more in winter; PG&E-style gas days
  start one second after local midnight (§1.10).
* IntervalBlocks are one *local* day in the usage point's IANA zone (23, 24 or 25 hours).
* A day is estimated (``ReadingQuality`` 8, value 8 % low) until ``revised_after`` after it was
  published, then actual (19): a client that re-reads an overlap sees the revision.

Values depend only on (seed, usage point, channel, interval start): the same request always
gets the same bytes for the same clock. Stdlib only.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
FORWARD, REVERSE = 1, 19


@dataclass(frozen=True)
class UsagePointSpec:
    """One meter of a customer: ``kind`` "electric" or "gas"; ``interval_s`` 900 or 3600 for
    electric (gas is daily); ``service_start`` the first local day with data."""

    usage_point_id: str
    kind: str = "electric"
    interval_s: int = 3600
    net_metering: bool = False
    service_start: date = date(2020, 1, 1)
    zone: str = "America/Los_Angeles"

    @property
    def service_kind(self) -> int:
        return 1 if self.kind == "gas" else 0

    @property
    def channels(self) -> tuple[int, ...]:
        """Flow directions (one MeterReading each; MeterReading id = position + 1)."""
        return (FORWARD, REVERSE) if self.net_metering and self.kind != "gas" else (FORWARD,)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)


def day_start(spec: UsagePointSpec, day: date) -> datetime:
    """UTC start of local day ``day``'s block (gas: one second after local midnight)."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=spec.tz).astimezone(UTC)
    return midnight + timedelta(seconds=1 if spec.kind == "gas" else 0)


def day_block(spec: UsagePointSpec, day: date) -> tuple[datetime, datetime]:
    return day_start(spec, day), day_start(spec, day + timedelta(days=1))


def _noise(seed: int, key: str, ts: int) -> float:
    """A deterministic number in [0, 1) for (seed, key, ts)."""
    mix = sum(ord(c) * 131 ** (i % 16) for i, c in enumerate(key))
    h = int(ts * 2654435761 + seed * 97531 + mix) & (2**64 - 1)
    h ^= h >> 29
    h = (h * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    h ^= h >> 32
    return (h % 1_000_003) / 1_000_003


def _season(local: datetime) -> float:
    """+1 in mid-July, -1 in mid-January."""
    season: float = -math.cos(2 * math.pi * (local.timetuple().tm_yday - 15) / 365.25)
    return season


def electric_wh(spec: UsagePointSpec, seed: int, start: datetime) -> tuple[float, float]:
    """(imported Wh, exported Wh) for the interval starting at ``start`` (UTC)."""
    local = start.astimezone(spec.tz)
    h = local.hour + local.minute / 60 + spec.interval_s / 7200
    ts = int(start.timestamp())
    load_kw = (
        0.35
        + 0.55 * math.exp(-(((h - 19.0) / 2.5) ** 2))
        + 0.30 * math.exp(-(((h - 7.5) / 1.5) ** 2))
        + max(_season(local), 0.0) * 1.2 * math.exp(-(((h - 16.0) / 3.0) ** 2))
        + 0.25 * _noise(seed, spec.usage_point_id, ts)
    )
    solar_kw = 0.0
    if spec.net_metering and 6.0 < h < 19.0:
        daylight = math.sin(math.pi * (h - 6.0) / 13.0)
        clouds = 0.6 + 0.4 * _noise(seed + 1, spec.usage_point_id, ts // 86400)
        solar_kw = 4.0 * daylight * (0.75 + 0.25 * _season(local)) * clouds
    net_kw = load_kw - solar_kw
    hours = spec.interval_s / 3600
    return max(net_kw, 0.0) * 1000 * hours, max(-net_kw, 0.0) * 1000 * hours


def gas_therms(spec: UsagePointSpec, seed: int, start: datetime) -> float:
    local = start.astimezone(spec.tz)
    heating = max(0.0, -_season(local) + 0.3) * 2.4
    return 0.45 + heating + 0.3 * _noise(seed, spec.usage_point_id, int(start.timestamp()))


@dataclass(frozen=True)
class Reading:
    start: int  # epoch seconds UTC
    duration: int
    value: int  # raw value (× 10^-3 of the uom)
    quality: int


def day_readings(
    spec: UsagePointSpec, seed: int, day: date, flow: int, estimated: bool
) -> Iterator[Reading]:
    """The readings of one channel for local day ``day``."""
    lo, hi = day_block(spec, day)
    quality = 8 if estimated else 19
    factor = 0.92 if estimated else 1.0
    if spec.kind == "gas":
        therms = gas_therms(spec, seed, lo) * factor
        yield Reading(
            int(lo.timestamp()), int((hi - lo).total_seconds()), round(therms * 1000), quality
        )
        return
    t = lo
    step = timedelta(seconds=spec.interval_s)
    while t < hi:
        imported, exported = electric_wh(spec, seed, t)
        wh = imported if flow == FORWARD else exported
        yield Reading(int(t.timestamp()), spec.interval_s, round(wh * factor * 1000), quality)
        t += step


def _ts(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(eid: str, links: list[tuple[str, str]], title: str, now: datetime, content: str) -> str:
    link_xml = "".join(f'<link rel="{rel}" href="{escape(href)}"/>' for rel, href in links)
    return (
        f"<entry><id>urn:uuid:{eid}</id>{link_xml}<title>{escape(title)}</title>"
        f"<published>{_ts(now)}</published><updated>{_ts(now)}</updated>"
        f"<content>{content}</content></entry>\n"
    )


def _feed(feed_id: str, title: str, now: datetime, entries: list[str]) -> bytes:
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<feed xmlns="{ATOM}"><id>urn:uuid:{feed_id}</id><title>{escape(title)}</title>'
        f"<updated>{_ts(now)}</updated>\n"
    )
    return (head + "".join(entries) + "</feed>\n").encode()


def _up_content(spec: UsagePointSpec) -> str:
    return (
        f'<UsagePoint xmlns="{ESPI}"><ServiceCategory><kind>{spec.service_kind}</kind>'
        "</ServiceCategory><status>1</status></UsagePoint>"
    )


def _up_entry(base: str, sid: str, spec: UsagePointSpec, now: datetime) -> str:
    up = f"{base}/Subscription/{sid}/UsagePoint"
    me = f"{up}/{spec.usage_point_id}"
    links = [
        ("self", me), ("up", up), ("related", f"{me}/MeterReading"),
        ("related", f"{base}/LocalTimeParameters/{_ltp_id(spec)}"),
    ]  # fmt: skip
    return _entry(
        f"up-{sid}-{spec.usage_point_id}", links, "Green Button usage point", now, _up_content(spec)
    )


def _ltp_id(spec: UsagePointSpec) -> str:
    return spec.zone.replace("/", "-")


def _ltp_content(spec: UsagePointSpec) -> str:
    """US rules (2nd Sunday of March, 1st Sunday of November, 02:00) and the standard offset
    of the zone in January."""
    jan = datetime(2020, 1, 15, tzinfo=spec.tz).utcoffset() or timedelta(0)
    jul = datetime(2020, 7, 15, tzinfo=spec.tz).utcoffset() or timedelta(0)
    dst = int((jul - jan).total_seconds())
    rules = ("360E2000", "B40E2000") if dst else ("FFFFFFFF", "FFFFFFFF")
    return (
        f'<LocalTimeParameters xmlns="{ESPI}"><dstEndRule>{rules[1]}</dstEndRule>'
        f"<dstOffset>{dst}</dstOffset><dstStartRule>{rules[0]}</dstStartRule>"
        f"<tzOffset>{int(jan.total_seconds())}</tzOffset></LocalTimeParameters>"
    )


def _reading_type(spec: UsagePointSpec, flow: int) -> str:
    gas = spec.kind == "gas"
    interval = 86400 if gas else spec.interval_s
    return (
        f'<ReadingType xmlns="{ESPI}"><accumulationBehaviour>4</accumulationBehaviour>'
        f"<commodity>{7 if gas else 1}</commodity><dataQualifier>12</dataQualifier>"
        f"<defaultQuality>19</defaultQuality><flowDirection>{flow}</flowDirection>"
        f"<intervalLength>{interval}</intervalLength><kind>12</kind>"
        f"<powerOfTenMultiplier>-3</powerOfTenMultiplier><timeAttribute>0</timeAttribute>"
        f"<uom>{169 if gas else 72}</uom></ReadingType>"
    )


def usage_point_list(base: str, sid: str, specs: list[UsagePointSpec], now: datetime) -> bytes:
    """``GET Subscription/{sid}/UsagePoint``: the usage point entries only."""
    return _feed(f"list-{sid}", "UsagePoint", now, [_up_entry(base, sid, s, now) for s in specs])


@dataclass(frozen=True)
class Block:
    day: date
    start: datetime
    end: datetime
    estimated: bool


def batch_feed(
    base: str,
    sid: str,
    spec: UsagePointSpec,
    seed: int,
    blocks: list[Block],
    now: datetime,
) -> bytes:
    """``GET Batch/Subscription/{sid}/UsagePoint/{upid}``: the usage point, its local time
    parameters, MeterReadings (each followed by its ReadingType) and the given day blocks."""
    upid = spec.usage_point_id
    me = f"{base}/Subscription/{sid}/UsagePoint/{upid}"
    entries = [_up_entry(base, sid, spec, now)]
    ltp = f"{base}/LocalTimeParameters/{_ltp_id(spec)}"
    entries.append(
        _entry(f"ltp-{_ltp_id(spec)}", [("self", ltp), ("up", f"{base}/LocalTimeParameters")],
               f"DST for {spec.zone}", now, _ltp_content(spec))
    )  # fmt: skip
    for i, flow in enumerate(spec.channels, start=1):
        mr = f"{me}/MeterReading/{i}"
        rt = f"{base}/ReadingType/{upid}-{i}"
        entries.append(
            _entry(f"mr-{upid}-{i}", [("self", mr), ("up", f"{me}/MeterReading"),
                   ("related", f"{mr}/IntervalBlock"), ("related", rt)],
                   "delivered" if flow == FORWARD else "received", now,
                   f'<MeterReading xmlns="{ESPI}"/>')
        )  # fmt: skip
        entries.append(
            _entry(f"rt-{upid}-{i}", [("self", rt), ("up", f"{base}/ReadingType")],
                   "reading type", now, _reading_type(spec, flow))
        )  # fmt: skip
        for b in blocks:
            entries.append(_block_entry(mr, spec, seed, b, flow, now))
    return _feed(f"batch-{sid}-{upid}", "Green Button batch", now, entries)


def _block_entry(
    mr: str, spec: UsagePointSpec, seed: int, b: Block, flow: int, now: datetime
) -> str:
    start = int(b.start.timestamp())
    duration = int((b.end - b.start).total_seconds())
    parts = [
        f'<IntervalBlock xmlns="{ESPI}"><interval><duration>{duration}</duration>'
        f"<start>{start}</start></interval>"
    ]
    for r in day_readings(spec, seed, b.day, flow, b.estimated):
        parts.append(
            f"<IntervalReading><ReadingQuality><quality>{r.quality}</quality></ReadingQuality>"
            f"<timePeriod><duration>{r.duration}</duration><start>{r.start}</start></timePeriod>"
            f"<value>{r.value}</value></IntervalReading>"
        )
    parts.append("</IntervalBlock>")
    self_href = f"{mr}/IntervalBlock/{start}"
    return _entry(
        f"ib-{spec.usage_point_id}-{flow}-{start}",
        [("self", self_href), ("up", f"{mr}/IntervalBlock")],
        f"IntervalBlock_{start}",
        now,
        "".join(parts),
    )
