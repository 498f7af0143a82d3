"""The small silver tables of a feed, built once the whole feed is read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wattlake.sources.espi.localtime import LocalTimeParameters
from wattlake.sources.espi.resources import ReadingType, UsagePoint
from wattlake.sources.espi.schema import SERVICE_KINDS, UOMS

if TYPE_CHECKING:
    from wattlake.sources.espi.emit import Emitter

Rows = list[dict[str, Any]]


def metadata_tables(em: Emitter) -> list[tuple[str, Rows]]:
    st = em.state
    cust = st.key()
    src = em.report.source_file
    ups: dict[str, UsagePoint] = {u.path: u for u in st.usage_points.values()}
    ups.update(em.implicit_ups)
    up_rows: Rows = []
    for up in ups.values():
        zone = em._zone(up, final=True)
        ltp = zone if isinstance(zone, LocalTimeParameters) else None
        kind = up.kind
        if kind is None:  # derived from a channel of it, if any
            kind = next((c.service_kind for c in em.channels if c.up is up), None)
        up_rows.append({
            "custodian": cust, "usage_point_id": up.id, "href": up.path, "service_kind": kind,
            "service": SERVICE_KINDS.get(kind) if kind is not None else None,
            "status": up.status,
            "time_zone": ltp.label if ltp else zone,
            "tz_offset_s": ltp.tz_offset_s if ltp else None,
            "dst_offset_s": ltp.dst_offset_s if ltp else None,
            "dst_start_rule": ltp.dst_start_text if ltp else None,
            "dst_end_rule": ltp.dst_end_text if ltp else None,
            "_source_file": src,
        })  # fmt: skip
    rts: dict[str, ReadingType] = {r.path: r for r in st.reading_types.values()}
    rts.update(em.derived_rts)
    rt_rows: Rows = []
    for rt in rts.values():
        row: dict[str, Any] = {"custodian": cust, "reading_type_id": rt.id, "href": rt.path}
        row.update(rt.fields)
        chans = [c for c in em.channels if c.rt is rt]
        derived = list(chans[0].derived) if chans else []
        if chans:
            c = chans[0]
            row.update(commodity=c.commodity, flow_direction=c.flow, power_of_ten=c.p10, uom=c.uom)
            if row.get("interval_length_s") is None:
                durations = set().union(*(ch.durations for ch in chans))
                if len(durations) == 1:
                    row["interval_length_s"] = next(iter(durations))
                    derived.append("interval_length_s from the readings' durations")
        uom = row.get("uom")
        row.update(unit=UOMS.get(uom) if uom is not None else None,
                   derived="; ".join(derived) or None, _source_file=src)  # fmt: skip
        rt_rows.append(row)
    mr_rows: Rows = []
    for mr in st.meter_readings.values():
        chan = next((c for c in em.channels if c.mr is mr), None)
        mup: UsagePoint | None = chan.up if chan else em._usage_point(mr, final=True)
        mrt: ReadingType | None = chan.rt if chan else st.reading_types.find(mr.rt_path)
        mr_rows.append({
            "custodian": cust, "usage_point_id": mup.id if mup else "unknown",
            "meter_reading_id": mr.id, "reading_type_id": mrt.id if mrt else None,
            "href": mr.path, "flow_direction": chan.flow if chan else (
                mrt.fields.get("flow_direction") if mrt else None),
            "interval_count": sum(c.rows for c in em.channels if c.mr is mr),
            "_source_file": src,
        })  # fmt: skip
    sum_rows: Rows = []
    for s in st.summaries:
        owner = st.usage_points.find(s.up_path) or st.usage_points.only()
        if owner is None:
            em._reject(s.line, "UsageSummary", "unresolved_usage_point", s.path)
            continue
        sum_rows.append({"custodian": cust, "usage_point_id": owner.id, "summary_id": s.id,
                         **s.row, "_source_file": src})  # fmt: skip
    return [
        ("usage_points", up_rows),
        ("reading_types", rt_rows),
        ("meter_readings", mr_rows),
        ("usage_summaries", sum_rows),
    ]
