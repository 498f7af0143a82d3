"""The SCADA day parser: every sample loaded or rejected with its reason; zone-less times read
in the configured zone, the fall-back hour by order, the spring-forward gap rejected."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from wattlake.parsing import FileReport
from wattlake.sources.scada.parse import parse_scada_day

COLS = ("wind_speed", "power")


def parse(rows: Any, zone: str = "UTC", **kw: Any) -> tuple[list[dict[str, Any]], FileReport]:
    body = rows if isinstance(rows, bytes) else json.dumps(rows).encode()
    report = FileReport("T/UTC/2024-05-20/wind_speed,power.json")
    tables = [
        t
        for _n, t in parse_scada_day(
            io.BytesIO(body), report, turbine="T", columns=kw.pop("columns", COLS), zone=zone, **kw
        )
    ]
    out = pa.concat_tables(tables).to_pylist() if tables else []
    report.rows_loaded = len(out)
    return out, report


def test_samples_long_and_balanced() -> None:
    rows, report = parse(
        [
            {"timestamp": "2024-05-20T00:00:00", "wind_speed": 12.5, "power": 40},
            {"timestamp": "2024-05-20T00:01:00", "wind_speed": None, "power": 41.5},
        ]
    )
    assert report.rows_read == 4 and report.balanced and not report.rejects
    got = {(r["signal"], r["ts_utc"].isoformat()): r["value"] for r in rows}
    assert got == {
        ("wind_speed", "2024-05-20T00:00:00+00:00"): 12.5,
        ("wind_speed", "2024-05-20T00:01:00+00:00"): None,
        ("power", "2024-05-20T00:00:00+00:00"): 40.0,
        ("power", "2024-05-20T00:01:00+00:00"): 41.5,
    }
    assert {r["turbine"] for r in rows} == {"T"}
    assert {r["_source_file"] for r in rows} == {report.source_file}


def test_every_bad_sample_is_a_reject_with_its_rule() -> None:
    lo, hi = datetime(2024, 5, 20, tzinfo=UTC), datetime(2024, 5, 21, tzinfo=UTC)
    rows, report = parse(
        [
            {"timestamp": "2024-05-20T00:00:00", "wind_speed": "fast", "power": True},
            {"timestamp": "2024-05-20T00:01:00", "power": 1.0},
            "not an object",
            {"wind_speed": 1, "power": 2},
            {"timestamp": "20/05/2024", "wind_speed": 1, "power": 2},
            {"timestamp": "2024-05-21T00:00:00", "wind_speed": 1, "power": 2},
            {"timestamp": "2024-05-20T00:01:00", "wind_speed": 1, "power": 2},
            {"timestamp": "2024-05-20T02:00:00+02:00", "wind_speed": 3, "power": 4},
        ],
        start_utc=lo,
        end_utc=hi,
    )
    assert report.rows_read == 16 and report.balanced
    rules = sorted((r.line, r.field, r.rule) for r in report.rejects)
    assert rules == [
        (1, "power", "bad_number"),
        (1, "wind_speed", "bad_number"),
        (2, "wind_speed", "missing_field"),
        (3, "power", "bad_row"),
        (3, "wind_speed", "bad_row"),
        (4, "timestamp", "missing_timestamp"),
        (4, "timestamp", "missing_timestamp"),
        (5, "timestamp", "bad_timestamp"),
        (5, "timestamp", "bad_timestamp"),
        (6, "timestamp", "outside_window"),
        (6, "timestamp", "outside_window"),
        (7, "timestamp", "duplicate_timestamp"),
        (7, "timestamp", "duplicate_timestamp"),
        (8, "timestamp", "duplicate_timestamp"),  # 02:00+02:00 is 00:00 UTC, seen on line 1
        (8, "timestamp", "duplicate_timestamp"),
    ]
    assert [(r["signal"], r["value"]) for r in rows] == [("power", 1.0)]


def test_not_json_or_not_an_array_is_one_reject() -> None:
    for body in (b"<html>oops</html>", b'{"detail": "x"}'):
        rows, report = parse(body)
        assert rows == [] and report.rows_read == 1 and report.rejects[0].rule == "bad_json"


def test_zone_less_times_in_a_dst_zone() -> None:
    # America/Chicago falls back on 2024-11-03 at 02:00 CDT -> 01:00 CST: 01:30 happens twice.
    rows, report = parse(
        [
            {"timestamp": "2024-11-03T01:30:00", "wind_speed": 1},
            {"timestamp": "2024-11-03T01:30:00", "wind_speed": 2},
            {"timestamp": "2024-03-10T02:30:00", "wind_speed": 3},  # spring-forward gap
            {"timestamp": "2024-07-01T12:00:00", "wind_speed": 4},
        ],
        zone="America/Chicago",
        columns=("wind_speed",),
    )
    assert report.balanced
    assert [(r.line, r.rule) for r in report.rejects] == [(3, "nonexistent_local_time")]
    got = [(r["ts_utc"].isoformat(), r["value"]) for r in rows]
    assert got == [
        ("2024-11-03T06:30:00+00:00", 1.0),  # first 01:30 is CDT (UTC-5)
        ("2024-11-03T07:30:00+00:00", 2.0),  # second is CST (UTC-6)
        ("2024-07-01T17:00:00+00:00", 4.0),
    ]
