"""The small ESPI resources of a feed (UsagePoint, MeterReading, ReadingType,
LocalTimeParameters, UsageSummary) as read from their entries, and the feed-wide state."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from wattlake.sources.espi.blocks import E
from wattlake.sources.espi.links import Index, last_segment, parent_of
from wattlake.sources.espi.localtime import DstRule, LocalTimeParameters
from wattlake.sources.espi.schema import UOMS as UNIT_NAMES

Links = dict[str, list[str]]


def _int(node: etree._Element, path: str) -> int | None:
    text = node.findtext(path)
    if text is None or not text.strip():
        return None
    try:
        return int(text.strip())
    except ValueError:
        try:
            return int(float(text.strip()))
        except ValueError:
            return None


def _p(*names: str) -> str:
    return "/".join(E + n for n in names)


@dataclass
class UsagePoint:
    path: str
    id: str
    kind: int | None
    status: int | None
    ltp_paths: list[str]
    line: int
    implicit: bool = False


@dataclass
class MeterReading:
    path: str
    id: str
    up_path: str | None
    rt_path: str | None
    line: int


RT_FIELDS = {
    "accumulation": "accumulationBehaviour", "commodity": "commodity", "currency": "currency",
    "data_qualifier": "dataQualifier", "default_quality": "defaultQuality",
    "flow_direction": "flowDirection", "interval_length_s": "intervalLength", "kind": "kind",
    "power_of_ten": "powerOfTenMultiplier", "time_attribute": "timeAttribute", "uom": "uom",
    "measuring_period": "measuringPeriod",
}  # fmt: skip


@dataclass
class ReadingType:
    path: str
    id: str
    fields: dict[str, int | None]
    line: int


@dataclass
class Summary:
    path: str
    id: str
    up_path: str | None
    row: dict[str, Any]
    line: int


@dataclass
class FeedState:
    """Everything known about the feed so far."""

    zone: str | None = None
    custodian: str | None = None
    base: str = ""
    feed_id: str | None = None
    host: str | None = None
    usage_points: Index[UsagePoint] = field(default_factory=lambda: Index(("UsagePoint",)))
    meter_readings: Index[MeterReading] = field(
        default_factory=lambda: Index(("UsagePoint", "MeterReading"))
    )
    reading_types: Index[ReadingType] = field(default_factory=lambda: Index(("ReadingType",)))
    ltps: Index[LocalTimeParameters] = field(
        default_factory=lambda: Index(("LocalTimeParameters",))
    )
    summaries: list[Summary] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)
    repeats: Counter[str] = field(default_factory=Counter)
    foreigners: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    notes: dict[str, None] = field(default_factory=dict)  # ordered set
    changed: bool = False

    def key(self) -> str:
        return self.custodian or self.host or self.feed_id or "unknown"

    def first_sight(self, self_path: str, tag: str) -> bool:
        k = (self_path, tag)
        if k in self.seen:
            self.repeats[tag.rsplit("}", 1)[-1]] += 1
            return False
        self.seen.add(k)
        return True

    def foreign(self, tag: str) -> None:
        self.foreigners[tag] += 1

    def skipped_resource(self, kind: str) -> None:
        self.skipped[kind] += 1

    def note(self, text: str) -> None:
        self.notes[text] = None


def block_owner(links: Links) -> str | None:
    """The MeterReading path an IntervalBlock entry belongs to (its ``up``, else ``self``)."""
    for rel in ("up", "self"):
        for path in links.get(rel, ()):
            owner = parent_of(path, "IntervalBlock")
            if owner:
                return owner
    return None


def _self(links: Links, kind: str, line: int) -> str:
    paths = links.get("self") or []
    if paths:
        return paths[0]
    up = links.get("up") or []
    return f"{up[0]}/?{line}" if up else f"{kind}/?{line}"


def on_usage_point(
    state: FeedState, node: etree._Element, links: Links, line: int, _t: Any
) -> None:
    path = _self(links, "UsagePoint", line)
    ltps = [p for p in links.get("related", []) if "LocalTimeParameters" in p]
    kind = _int(node, _p("ServiceCategory", "kind"))
    up = UsagePoint(path, last_segment(path), kind, _int(node, E + "status"), ltps, line)
    state.usage_points.add(path, up)


def on_meter_reading(
    state: FeedState, node: etree._Element, links: Links, line: int, _t: Any
) -> None:
    path = _self(links, "MeterReading", line)
    up_path = parent_of(path, "MeterReading")
    if not up_path:
        up_path = next((parent_of(p, "MeterReading") for p in links.get("up", [])), None)
    rt_path = next((p for p in links.get("related", []) if "ReadingType" in p), None)
    nested = node.find(E + "ReadingType")  # tolerated although the XSD does not allow it
    if nested is not None:
        rt_path = rt_path or f"{path}/ReadingType"
        on_reading_type(state, nested, {"self": [rt_path]}, line, None)
    state.meter_readings.add(path, MeterReading(path, last_segment(path), up_path, rt_path, line))


def on_reading_type(
    state: FeedState, node: etree._Element, links: Links, line: int, _t: Any
) -> None:
    path = _self(links, "ReadingType", line)
    fields = {col: _int(node, E + tag) for col, tag in RT_FIELDS.items()}
    state.reading_types.add(path, ReadingType(path, last_segment(path), fields, line))


def on_ltp(state: FeedState, node: etree._Element, links: Links, line: int, _t: Any) -> None:
    path = _self(links, "LocalTimeParameters", line)
    tz = _int(node, E + "tzOffset")
    if tz is None:
        state.note(f"LocalTimeParameters {path} without tzOffset: ignored")
        return
    start_t, end_t = node.findtext(E + "dstStartRule"), node.findtext(E + "dstEndRule")
    try:
        start = DstRule.decode(start_t) if start_t and start_t.strip() else None
        end = DstRule.decode(end_t) if end_t and end_t.strip() else None
    except ValueError as exc:
        state.note(f"LocalTimeParameters {path}: {exc}; DST ignored")
        start = end = None
    if (start is None) != (end is None):
        start = end = None
    dst = _int(node, E + "dstOffset") or 0
    ltp = LocalTimeParameters(tz, dst, start, end, start_t, end_t)
    if tz == 0 and start is not None:
        state.note("LocalTimeParameters tzOffset 0 with DST rules: times may be local wall time")
    if tz > 0 and start is not None and start.month in (3, 4) and end is not None:
        state.note(f"LocalTimeParameters tzOffset +{tz} with northern DST rules: sign suspect")
    state.ltps.add(path, ltp)


def on_summary(state: FeedState, node: etree._Element, links: Links, line: int, _t: Any) -> None:
    path = _self(links, "UsageSummary", line)
    up_path = None
    for p in [path, *links.get("up", [])]:
        for kind in ("UsageSummary", "ElectricPowerUsageSummary"):
            owner = parent_of(p, kind)
            if owner and "UsagePoint" in owner:
                up_path = owner
                break
        if up_path:
            break
    start = _int(node, _p("billingPeriod", "start"))
    status = _int(node, E + "statusTimeStamp")
    if status is not None and status > 10**11:  # milliseconds (PG&E), although TimeType is s
        status //= 1000
    overall = node.find(E + "overallConsumptionLastPeriod")
    value = unit = None
    if overall is not None:
        raw, p10 = _int(overall, E + "value"), _int(overall, E + "powerOfTenMultiplier") or 0
        uom = _int(overall, E + "uom")
        value = raw * 10.0**p10 if raw is not None else None
        unit = UNIT_NAMES.get(uom) if uom is not None else None

    def money(tag: str) -> float | None:
        v = _int(node, E + tag)
        return v / 100000 if v is not None else None

    row = {
        "billing_start_utc": start * 1_000_000 if start is not None else None,
        "billing_duration_s": _int(node, _p("billingPeriod", "duration")),
        "bill_last_period": money("billLastPeriod"), "bill_to_date": money("billToDate"),
        "cost_additional_last_period": money("costAdditionalLastPeriod"),
        "currency": _int(node, E + "currency"), "overall_consumption": value,
        "overall_unit": unit, "commodity": _int(node, E + "commodity"),
        "tariff_profile": (node.findtext(E + "tariffProfile") or "").strip() or None,
        "status_utc": status * 1_000_000 if status is not None else None,
    }  # fmt: skip
    state.summaries.append(Summary(path, last_segment(path), up_path, row, line))


HANDLERS: dict[str, Callable[[FeedState, etree._Element, Links, int, Any], None]] = {
    "UsagePoint": on_usage_point,
    "MeterReading": on_meter_reading,
    "ReadingType": on_reading_type,
    "LocalTimeParameters": on_ltp,
    "UsageSummary": on_summary,
    "ElectricPowerUsageSummary": on_summary,
}
