"""Resolve parsed blocks to their channel (UsagePoint, MeterReading, ReadingType, zone) and
build the silver tables; rows whose channel is not known yet wait until it is or the file ends."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from wattlake.parsing import FileReport
from wattlake.sources.espi.blocks import Columns, RawBatch
from wattlake.sources.espi.links import last_segment
from wattlake.sources.espi.localtime import (
    LocalTimeParameters,
    local_labels,
    np_to_arrow,
    take_mask,
)
from wattlake.sources.espi.resources import FeedState, MeterReading, ReadingType, UsagePoint
from wattlake.sources.espi.schema import (
    COMMODITY_OF_SERVICE,
    INTERVAL_READS,
    METER_READINGS,
    READING_TYPES,
    SERVICE_OF_COMMODITY,
    UOM_OF_SERVICE,
    UOMS,
    USAGE_POINTS,
    USAGE_SUMMARIES,
)

Zone = str | LocalTimeParameters
_MIN_START, _MAX_START = 0.0, 7_258_118_400.0  # 1970 .. 2200


@dataclass
class Channel:
    idx: int
    up: UsagePoint
    mr: MeterReading
    rt: ReadingType
    zone: Zone
    service_kind: int | None
    commodity: int | None
    flow: int
    p10: int
    uom: int | None
    currency: int | None
    default_quality: str | None
    derived: list[str]
    rows: int = 0
    durations: set[int] = field(default_factory=set)


@dataclass
class _Chunk:
    table: pa.Table
    keys: list[Any]
    lines: list[int]


class Emitter:
    def __init__(self, state: FeedState, report: FileReport) -> None:
        self.state = state
        self.report = report
        self.channels: list[Channel] = []
        self.by_owner: dict[str | None, Channel] = {}
        self.pending: list[_Chunk] = []
        self.derived_rts: dict[str, ReadingType] = {}
        self.implicit_ups: dict[str, UsagePoint] = {}
        self.zone_checked = False
        self.groups: dict[tuple[str, str], int] = {}  # (usage point, reading type) -> key id

    # -- resolution ------------------------------------------------------------------------
    def _zone(self, up: UsagePoint, final: bool) -> Zone | None:
        st = self.state
        for path in up.ltp_paths:
            ltp = st.ltps.find(path)
            if ltp is not None:
                return ltp
        if len(st.ltps):
            if len(st.ltps) > 1:
                st.note("several LocalTimeParameters and no link from the UsagePoint: first used")
            return st.ltps.values()[0]
        if not final:
            return None
        if st.zone:
            st.note(f"no LocalTimeParameters: local labels in the configured zone {st.zone}")
            return st.zone
        st.note("no LocalTimeParameters and no zone configured: local labels in UTC")
        return "UTC"

    def _usage_point(self, mr: MeterReading, final: bool) -> UsagePoint | None:
        st = self.state
        up = st.usage_points.find(mr.up_path)
        if up is not None or not final:
            return up
        up = st.usage_points.only()
        if up is not None:
            st.note(f"MeterReading {mr.path}: UsagePoint link unresolved, the feed's only one used")
            return up
        path = mr.up_path or "UsagePoint/unknown"
        if path not in self.implicit_ups:
            st.note(f"no UsagePoint entry for {path}: created from the MeterReading's link")
            kind = None
            self.implicit_ups[path] = UsagePoint(
                path, last_segment(path), kind, None, [], mr.line, True
            )
        return self.implicit_ups[path]

    def _reading_type(self, mr: MeterReading, final: bool) -> ReadingType | None:
        rt = self.state.reading_types.find(mr.rt_path)
        if rt is not None or (not final and mr.rt_path is not None):
            return rt
        path = mr.rt_path or f"{mr.path}/ReadingType"
        if path not in self.derived_rts:
            self.state.note(f"ReadingType {path} missing: everything derived")
            self.derived_rts[path] = ReadingType(path, last_segment(path), {}, mr.line)
        return self.derived_rts[path]

    def channel(self, owner: str | None, final: bool) -> Channel | None:
        ch = self.by_owner.get(owner)
        if ch is not None:
            return ch
        st = self.state
        mr = st.meter_readings.find(owner)
        if mr is None and final:
            mr = st.meter_readings.only()
            if mr is not None:
                st.note(f"IntervalBlocks of {owner}: MeterReading unresolved, the only one used")
        if mr is None:
            return None
        up = self._usage_point(mr, final)
        rt = self._reading_type(mr, final) if up is not None else None
        zone = self._zone(up, final) if up is not None else None
        if up is None or rt is None or zone is None:
            return None
        ch = self._make(up, mr, rt, zone)
        self.by_owner[owner] = ch
        return ch

    def _make(self, up: UsagePoint, mr: MeterReading, rt: ReadingType, zone: Zone) -> Channel:
        f, derived = rt.fields, []
        kind = up.kind
        if kind is None:
            guess = SERVICE_OF_COMMODITY.get(f.get("commodity") or -1)
            if guess is None and f.get("uom") in (72, 169):
                guess = 0 if f.get("uom") == 72 else 1
            kind = guess
            derived.append(
                f"service_kind={guess} from the ReadingType"
                if guess is not None
                else "service kind unknown"
            )
        commodity = f.get("commodity")
        if commodity is None and kind is not None and kind in COMMODITY_OF_SERVICE:
            commodity = COMMODITY_OF_SERVICE[kind]
            derived.append(f"commodity={commodity} from the service kind")
        uom = f.get("uom")
        if uom is None and kind in UOM_OF_SERVICE:
            uom = UOM_OF_SERVICE[kind if kind is not None else -1]
            derived.append(f"uom={uom} from the service kind")
        p10 = f.get("power_of_ten")
        if p10 is None:
            p10 = 0
            derived.append("power_of_ten=0 (missing)")
        flow = f.get("flow_direction")
        if flow is None:
            flow = 1
            derived.append("flow_direction=1 (missing, forward assumed)")
        dq = f.get("default_quality")
        ch = Channel(
            len(self.channels), up, mr, rt, zone, kind, commodity, flow, p10, uom,
            f.get("currency"), str(dq) if dq is not None else None, derived,
        )  # fmt: skip
        if derived:
            self.state.note(f"ReadingType {rt.id}: " + ", ".join(derived))
        if not self.zone_checked and isinstance(zone, LocalTimeParameters) and self.state.zone:
            self.zone_checked = True
            self.state.note(
                f"local labels from LocalTimeParameters ({zone.label}), not {self.state.zone}"
            )
        self.channels.append(ch)
        return ch

    # -- interval rows ---------------------------------------------------------------------
    def take(self, cols: Columns, batch: RawBatch) -> Iterator[tuple[str, pa.Table]]:
        table = cols.table
        lines = batch.block_lines
        if cols.bad:
            blocks = table.column("block").to_numpy()
            keep = np.ones(table.num_rows, dtype=bool)
            for i, fld, raw in cols.bad:
                if keep[i]:
                    keep[i] = False
                    self._reject(lines[blocks[i]], fld, "bad_number", raw)
            table = take_mask(table, keep)
        yield from self._resolve(_Chunk(table, batch.block_keys, lines), final=False)

    def retry(self) -> Iterator[tuple[str, pa.Table]]:
        chunks, self.pending = self.pending, []
        for chunk in chunks:
            yield from self._resolve(chunk, final=False)

    def _resolve(self, chunk: _Chunk, final: bool) -> Iterator[tuple[str, pa.Table]]:
        if chunk.table.num_rows == 0:
            return
        block_ch = np.array(
            [(c.idx if (c := self.channel(k, final)) else -1) for k in chunk.keys], np.int64
        )
        blocks = chunk.table.column("block").to_numpy()
        row_ch = block_ch[blocks]
        ready = row_ch >= 0
        if ready.all():
            yield from self._emit(chunk.table, row_ch, chunk.lines)
            return
        if ready.any():
            yield from self._emit(take_mask(chunk.table, ready), row_ch[ready], chunk.lines)
        rest = take_mask(chunk.table, ~ready)
        if not final:
            self.pending.append(_Chunk(rest, chunk.keys, chunk.lines))
            return
        for row in rest.to_pylist():
            owner = chunk.keys[row["block"]]
            raw = f"start={row['start']} duration={row['duration']} value={row['value']}"
            self._reject(chunk.lines[row["block"]], "IntervalBlock", "unresolved_meter_reading",
                         f"owner={owner} {raw}")  # fmt: skip

    def _reject(self, line: int, fld: str | None, rule: str, raw: str) -> None:
        self.report.rows_read += 1
        self.report.reject(line, fld, rule, raw)

    def _emit(
        self, t: pa.Table, row_ch: np.ndarray, lines: list[int]
    ) -> Iterator[tuple[str, pa.Table]]:
        start = t.column("start").to_numpy(zero_copy_only=False)
        dur = t.column("duration").to_numpy(zero_copy_only=False)
        ok = np.isfinite(start) & (start >= _MIN_START) & (start < _MAX_START) & (dur > 0)
        start_us = np.round(np.where(ok, start, 0) * 1_000_000).astype(np.int64)
        if (start_us % 1_000_000).any():
            self.state.note("fractional start seconds kept to the microsecond")
        chans = self.channels
        group = np.array([self._group(c) for c in chans], np.int64)[row_ch]
        # Duplicate key (same channel key and start) within the batch: the last one wins.
        order = np.lexsort((np.arange(len(start_us)), start_us, group))
        g, s = group[order], start_us[order]
        dup_sorted = np.zeros(len(order), dtype=bool)
        dup_sorted[:-1] = (g[:-1] == g[1:]) & (s[:-1] == s[1:])
        dup = np.zeros(len(order), dtype=bool)
        dup[order] = dup_sorted
        blocks = t.column("block").to_numpy()
        for i in np.nonzero(~ok | (dup & ok))[0]:
            rule = (
                "duplicate_interval" if ok[i] else ("bad_duration" if dur[i] <= 0 else "bad_start")
            )
            raw = f"start={start[i]} duration={dur[i]} value={t.column('value')[i].as_py()}"
            self._reject(lines[blocks[i]], "timePeriod", rule, raw)
        keep = ok & ~dup
        if not keep.all():
            t, row_ch, start_us = take_mask(t, keep), row_ch[keep], start_us[keep]
            dur = dur[keep]
        n = t.num_rows
        if n == 0:
            return
        for c, cnt in zip(*np.unique(row_ch, return_counts=True), strict=True):
            chans[int(c)].rows += int(cnt)
            chans[int(c)].durations.update(np.unique(dur[row_ch == c]).tolist()[:3])
        take = np_to_arrow(row_ch.astype(np.int64))

        def per(values: list[Any], typ: pa.DataType) -> pa.Array:
            return pa.array(values, typ).take(take)

        p10 = np.array([c.p10 for c in chans], np.float64)[row_ch]
        raw = t.column("value")
        value = raw.to_numpy(zero_copy_only=False).astype(np.float64) * np.power(10.0, p10)
        cost = pc.divide(t.column("cost").cast(pa.float64()), 100000.0)
        quality = pc.coalesce(
            t.column("quality"), per([c.default_quality for c in chans], pa.string())
        )
        estimated = pc.match_substring_regex(quality, r"(^|,)(8|9)(,|$)")
        start_arr = np_to_arrow(start_us.astype(np.int64))
        local = self._local(start_arr, row_ch)
        offset = (local.cast(pa.int64()).to_numpy() - start_us) // 1_000_000
        cols = {
            "custodian": pa.array([self.state.key()] * n, pa.string()),
            "usage_point_id": per([c.up.id for c in chans], pa.string()),
            "reading_type_id": per([c.rt.id for c in chans], pa.string()),
            "interval_start_utc": start_arr.cast(pa.timestamp("us", tz="UTC")),
            "interval_end_utc": np_to_arrow(start_us + dur.astype(np.int64) * 1_000_000).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "duration_s": np_to_arrow(dur.astype(np.int64)),
            "local_start": local,
            "utc_offset_s": np_to_arrow(offset.astype(np.int64), pa.int32()),
            "meter_reading_id": per([c.mr.id for c in chans], pa.string()),
            "service_kind": per([c.service_kind for c in chans], pa.int32()),
            "commodity": per([c.commodity for c in chans], pa.int32()),
            "flow_direction": per([c.flow for c in chans], pa.int32()),
            "raw_value": raw,
            "power_of_ten": per([c.p10 for c in chans], pa.int32()),
            "uom": per([c.uom for c in chans], pa.int32()),
            "unit": per(
                [UOMS.get(c.uom) if c.uom is not None else None for c in chans], pa.string()
            ),
            "value": np_to_arrow(value),
            "cost": cost,
            "currency": per([c.currency for c in chans], pa.int32()),
            "quality": quality,
            "estimated": estimated,
            "tou": t.column("tou").cast(pa.int32()),
            "consumption_tier": t.column("consumption_tier").cast(pa.int32()),
            "cpp": t.column("cpp").cast(pa.int32()),
            "_source_file": pa.array([self.report.source_file] * n, pa.string()),
        }
        self.report.rows_read += n
        yield (
            "interval_reads",
            pa.Table.from_arrays(list(cols.values()), schema=INTERVAL_READS.arrow_schema),
        )

    def _group(self, c: Channel) -> int:
        return self.groups.setdefault((c.up.id, c.rt.id), len(self.groups))

    def _local(self, start_us: pa.Array, row_ch: np.ndarray) -> pa.Array:
        zones = [c.zone for c in self.channels]
        used = {id(zones[i]): zones[i] for i in np.unique(row_ch)}
        if len(used) == 1:
            return local_labels(start_us, next(iter(used.values())))
        out = np.zeros(len(start_us), np.int64)
        for z in used.values():
            mask = np.array([zones[i] is z for i in range(len(zones))])[row_ch]
            part = local_labels(
                start_us.take(np_to_arrow(np.flatnonzero(mask).astype(np.int64))), z
            )
            out[mask] = part.cast(pa.int64()).to_numpy()
        return np_to_arrow(out).cast(pa.timestamp("us"))

    # -- the end ---------------------------------------------------------------------------
    def finish(self) -> Iterator[tuple[str, pa.Table]]:
        chunks, self.pending = self.pending, []
        for chunk in chunks:
            yield from self._resolve(chunk, final=True)
        yield from self._metadata()
        self._notes()

    def _metadata(self) -> Iterator[tuple[str, pa.Table]]:
        from wattlake.sources.espi.tables import metadata_tables

        for name, rows in metadata_tables(self):
            if rows:
                self.report.rows_read += len(rows)
                spec = {
                    t.name: t
                    for t in (USAGE_POINTS, READING_TYPES, METER_READINGS, USAGE_SUMMARIES)
                }[name]
                yield name, spec.from_rows(rows)

    def _notes(self) -> None:
        st = self.state
        parts = list(st.notes)
        if st.repeats:
            parts.append("repeated entries read once: " + _counts(st.repeats))
        if st.foreigners:
            parts.append("foreign elements skipped: " + _counts(st.foreigners))
        if st.skipped:
            parts.append("resources not loaded: " + _counts(st.skipped))
        if parts:
            self.report.note = "; ".join(parts)


def _counts(c: dict[str, int]) -> str:
    return ", ".join(f"{k.rsplit('}', 1)[-1] or k} ×{v}" for k, v in sorted(c.items()))
