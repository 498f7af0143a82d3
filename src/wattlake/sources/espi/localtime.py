"""Local wall-clock labels for UTC instants: ESPI LocalTimeParameters rules or an IANA zone.

``LocalTimeParameters`` (espi.xsd ``TimeConfiguration``): ``tzOffset`` is the standard offset
from UTC in seconds, ``dstOffset`` the DST shift, and ``dstStartRule`` / ``dstEndRule`` are
32-bit rules (hex): bits 28-31 month, 25-27 operator (0 day of month, 1 weekday on/after day of
month, 2..6 the 1st..5th weekday of the month, 7 the last), 20-24 day of month, 17-19 weekday
(1 Monday … 7 Sunday), 12-16 hour, 0-11 seconds; ``FFFFFFFF`` = no DST. The rule time is local
standard time for the start and local daylight time for the end.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NO_DST = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class DstRule:
    month: int
    operator: int
    day: int
    weekday: int  # 1 Monday .. 7 Sunday
    hour: int
    seconds: int

    @classmethod
    def decode(cls, text: str) -> DstRule | None:
        """The rule in ``text`` (hex), None for ``FFFFFFFF``; ValueError if not a valid rule."""
        v = int(text.strip(), 16)
        if v == NO_DST:
            return None
        rule = cls(
            month=(v >> 28) & 0xF, operator=(v >> 25) & 0x7, day=(v >> 20) & 0x1F,
            weekday=(v >> 17) & 0x7, hour=(v >> 12) & 0x1F, seconds=v & 0xFFF,
        )  # fmt: skip
        if not 1 <= rule.month <= 12 or rule.hour > 23:
            raise ValueError(f"DST rule {text!r}: month {rule.month}, hour {rule.hour}")
        if rule.operator >= 1 and not 1 <= rule.weekday <= 7:
            raise ValueError(f"DST rule {text!r}: weekday {rule.weekday}")
        return rule

    def local_instant(self, year: int) -> datetime:
        """The naive local date-time the rule names in ``year``."""
        days = calendar.monthrange(year, self.month)[1]
        wd = self.weekday - 1  # Python: Monday = 0
        if self.operator == 0:
            day = min(max(self.day, 1), days)
        elif self.operator == 1:  # first such weekday on or after day-of-month
            d0 = max(self.day, 1)
            day = d0 + (wd - calendar.weekday(year, self.month, d0)) % 7
        elif self.operator == 7:  # last such weekday
            day = days - (calendar.weekday(year, self.month, days) - wd) % 7
        else:  # 2..6: the 1st..5th such weekday
            first = 1 + (wd - calendar.weekday(year, self.month, 1)) % 7
            day = first + 7 * (self.operator - 2)
            while day > days:
                day -= 7
        return datetime(year, self.month, day) + timedelta(hours=self.hour, seconds=self.seconds)


@dataclass(frozen=True, slots=True)
class LocalTimeParameters:
    tz_offset_s: int
    dst_offset_s: int
    dst_start: DstRule | None
    dst_end: DstRule | None
    dst_start_text: str | None = None
    dst_end_text: str | None = None

    @property
    def label(self) -> str:
        sign = "+" if self.tz_offset_s >= 0 else "-"
        h, m = divmod(abs(self.tz_offset_s) // 60, 60)
        dst = (
            "no DST" if self.dst_start is None else f"DST {self.dst_start_text}/{self.dst_end_text}"
        )
        return f"LTP UTC{sign}{h:02d}:{m:02d} {dst}"

    def offsets(self, epoch_s: np.ndarray) -> np.ndarray:
        """UTC offset in seconds for each instant (int64 epoch seconds)."""
        out = np.full(epoch_s.shape, self.tz_offset_s, dtype=np.int64)
        if (
            self.dst_start is None
            or self.dst_end is None
            or len(epoch_s) == 0
            or not self.dst_offset_s
        ):
            return out
        local = (epoch_s + self.tz_offset_s).astype("datetime64[s]")
        years = local.astype("datetime64[Y]").astype(np.int64) + 1970
        for year in np.unique(years):
            y = int(year)
            std = timedelta(seconds=self.tz_offset_s)
            begin = self.dst_start.local_instant(y) - std
            end = self.dst_end.local_instant(y) - std - timedelta(seconds=self.dst_offset_s)
            b, e = _epoch(begin), _epoch(end)
            in_year = years == year
            # northern hemisphere: DST inside the year; southern: across the new year
            dst = (epoch_s >= b) & (epoch_s < e) if b <= e else (epoch_s >= b) | (epoch_s < e)
            out[in_year & dst] += self.dst_offset_s
        return out


def _epoch(naive_utc: datetime) -> int:
    return calendar.timegm(naive_utc.timetuple())


def check_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ValueError naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {name!r} (e.g. America/Los_Angeles)") from None


def local_labels(start_us: pa.Array, zone: str | LocalTimeParameters) -> pa.Array:
    """Wall-clock labels (timestamp[us], no zone) of UTC instants ``start_us`` (int64 µs)."""
    if isinstance(zone, LocalTimeParameters):
        us = start_us.to_numpy(zero_copy_only=False).astype(np.int64)
        offsets = zone.offsets(us // 1_000_000)
        return np_to_arrow(us + offsets * 1_000_000).cast(pa.timestamp("us"))
    ts = start_us.cast(pa.int64()).cast(pa.timestamp("us", tz=zone))
    return pc.local_timestamp(ts)


_NP_TYPES = {np.dtype(np.int64): pa.int64(), np.dtype(np.int32): pa.int32(),
             np.dtype(np.float64): pa.float64()}  # fmt: skip


def np_to_arrow(values: np.ndarray, typ: pa.DataType | None = None) -> pa.Array:
    """A numeric numpy array as Arrow without ``pa.array(ndarray)``, which imports pandas
    (~1-3 s on first use). Booleans become int8 0/1 then bool."""
    if values.dtype == np.bool_:
        return np_to_arrow(values.astype(np.int8).astype(np.int32)).cast(pa.bool_())
    if values.dtype not in _NP_TYPES:
        values = values.astype(np.float64 if values.dtype.kind == "f" else np.int64)
    values = np.ascontiguousarray(values)
    out = pa.Array.from_buffers(_NP_TYPES[values.dtype], len(values), [None, pa.py_buffer(values)])
    return out.cast(typ) if typ is not None and typ != out.type else out


def take_mask(table: pa.Table, mask: np.ndarray) -> pa.Table:
    """The rows of ``table`` where ``mask`` is true."""
    return table.take(np_to_arrow(np.flatnonzero(mask).astype(np.int64)))
