"""Parse one day's answer of the SCADA source API (``GET /data``) into ``scada_samples`` rows.

The answer is a JSON array of objects, ``timestamp`` first then the asked columns::

    [{"timestamp": "2024-05-20T00:00:00", "wind_speed": 12.3, "power": 45.6}, ...]

Each (object, asked column) is one sample: ``rows_read`` counts samples, and every sample is
loaded or rejected with a reason. Pure: bytes in, Arrow out, no network, no database.

Timestamps. A timestamp with an offset (``Z``, ``+02:00``) is taken as is. One without (the
original source stores ``timestamp without time zone``) is read in ``zone``. In a zone with DST,
a wall time of the fall-back hour appears twice: its first occurrence in the answer is read as
the earlier instant, the second as the later one (the source serves in time order). A wall time
that does not exist (the spring-forward gap) is rejected (``nonexistent_local_time``).

Rejects (rule names): ``bad_json`` (the whole answer), ``bad_row`` (not an object),
``missing_timestamp``, ``bad_timestamp``, ``nonexistent_local_time``, ``outside_window``
(not in the day asked for), ``duplicate_timestamp``, ``missing_field``, ``bad_number``
(not a number, a boolean, NaN or infinite). A JSON ``null`` value is loaded as null.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import pyarrow as pa

from wattlake.parsing import MAX_ABS, FileReport, Parser
from wattlake.sources.scada.schema import SCADA_SAMPLES

MAX_ANSWER_BYTES = 512 * 1024 * 1024


def _raw(obj: Any) -> str:
    try:
        return json.dumps(obj, default=str)[:2000]
    except (TypeError, ValueError):
        return repr(obj)[:2000]


def to_utc(
    text: str, zone: ZoneInfo, seen: dict[datetime, int]
) -> tuple[datetime | None, str | None]:
    """(UTC instant as a naive datetime, None) or (None, reject rule)."""
    try:
        ts = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None, "bad_timestamp"
    if ts.tzinfo is not None:
        return ts.astimezone(UTC).replace(tzinfo=None), None
    early, late = ts.replace(tzinfo=zone, fold=0), ts.replace(tzinfo=zone, fold=1)
    if early.utcoffset() != late.utcoffset():
        back = early.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if back != ts:  # a wall time in the spring-forward gap
            return None, "nonexistent_local_time"
        n = seen.get(ts, 0)
        seen[ts] = n + 1
        chosen = late if n % 2 else early  # fall-back: first occurrence earlier, then later
        return chosen.astimezone(UTC).replace(tzinfo=None), None
    return early.astimezone(UTC).replace(tzinfo=None), None


def _number(v: Any) -> tuple[float | None, bool]:
    """(value, ok); the number rule every parser shares (``parsing.MAX_ABS``): NaN, ±inf and
    absurd magnitudes are not numbers."""
    if v is None:
        return None, True
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None, False
    try:
        f = float(v)
    except OverflowError:  # an int too large for a float
        return None, False
    return (f, True) if abs(f) <= MAX_ABS else (None, False)


def parse_scada_day(
    stream: BinaryIO,
    report: FileReport,
    *,
    turbine: str,
    columns: tuple[str, ...],
    zone: str = "UTC",
    start_utc: datetime | None = None,
    end_utc: datetime | None = None,
) -> Iterator[tuple[str, pa.Table]]:
    """Yield ``("scada_samples", table)`` for one answer; ``[start_utc, end_utc)`` (aware or
    naive UTC) is the window asked for, samples outside it are rejected."""
    data = stream.read(MAX_ANSWER_BYTES + 1)
    if len(data) > MAX_ANSWER_BYTES:
        report.rows_read += 1
        report.reject(None, None, "too_large", f"answer larger than {MAX_ANSWER_BYTES} bytes")
        return
    try:
        rows = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        report.rows_read += 1
        report.reject(None, None, "bad_json", f"{exc}: {data[:200]!r}")
        return
    if not isinstance(rows, list):
        report.rows_read += 1
        report.reject(None, None, "bad_json", f"expected a JSON array, got {_raw(rows)[:200]}")
        return
    tz = ZoneInfo(zone)
    lo = start_utc.astimezone(UTC).replace(tzinfo=None) if start_utc else None
    hi = end_utc.astimezone(UTC).replace(tzinfo=None) if end_utc else None
    seen_wall: dict[datetime, int] = {}
    seen_utc: set[datetime] = set()
    out: dict[str, tuple[list[datetime], list[float | None]]] = {c: ([], []) for c in columns}
    for line, obj in enumerate(rows, start=1):
        report.rows_read += len(columns)
        if not isinstance(obj, dict):
            for c in columns:
                report.reject(line, c, "bad_row", _raw(obj))
            continue
        ts_text = obj.get("timestamp")
        rule: str | None = None
        ts: datetime | None = None
        if ts_text is None:
            rule = "missing_timestamp"
        elif not isinstance(ts_text, str):
            rule = "bad_timestamp"
        else:
            ts, rule = to_utc(ts_text, tz, seen_wall)
        if ts is not None and ((lo is not None and ts < lo) or (hi is not None and ts >= hi)):
            rule = "outside_window"
        elif ts is not None and ts in seen_utc:
            rule = "duplicate_timestamp"
        if rule is not None or ts is None:
            for _c in columns:
                report.reject(line, "timestamp", rule or "bad_timestamp", _raw(obj))
            continue
        seen_utc.add(ts)
        for c in columns:
            if c not in obj:
                report.reject(line, c, "missing_field", _raw(obj))
                continue
            value, ok = _number(obj[c])
            if not ok:
                report.reject(line, c, "bad_number", _raw(obj))
                continue
            out[c][0].append(ts)
            out[c][1].append(value)
    for c in columns:
        times, values = out[c]
        if not times:
            continue
        n = len(times)
        table = pa.Table.from_arrays(
            [
                pa.array([turbine] * n, pa.string()),
                pa.array([c] * n, pa.string()),
                pa.array(times, pa.timestamp("us")).cast(SCADA_SAMPLES.arrow_schema.field(2).type),
                pa.array(values, pa.float64()),
                pa.array([report.source_file] * n, pa.string()),
            ],
            schema=SCADA_SAMPLES.arrow_schema,
        )
        yield SCADA_SAMPLES.name, table


def day_parser(
    *,
    turbine: str,
    columns: tuple[str, ...],
    zone: str,
    start_utc: datetime | None = None,
    end_utc: datetime | None = None,
) -> Parser:
    """A parser (the runner's ``(stream, report)`` contract) bound to one request."""
    return partial(
        parse_scada_day, turbine=turbine, columns=columns, zone=zone,
        start_utc=start_utc, end_utc=end_utc,
    )  # fmt: skip
