"""Wind SCADA: the silver and gold tables, the signal naming and the names users may pass.

Units are the source's (wind speed m/s, power kW, ambient temperature °C in the stand-in; the
original source was unitless random data). Every instant is UTC. The source's timestamps carry
no zone: they are read in ``WATTLAKE_SCADA_TIMEZONE`` (default ``UTC``), so with the default
the UTC instants equal the source's clock. A "day" is that zone's calendar day ``[00:00, next
00:00)`` — 23 or 25 hours on DST days of zones that have them.
"""

from __future__ import annotations

import re

import pyarrow as pa

from wattlake.tables import UTC_TS, Column, TableSpec

DEFAULT_COLUMNS = ("wind_speed", "power")  # the original ETL's defaults
KNOWN_COLUMNS = ("wind_speed", "power", "ambient_temperature")
AGGREGATES = ("mean", "min", "max", "std")  # in the original's order (signal ids 1..4, 5..8)
BUCKET_SECONDS = 600
DEFAULT_TURBINE = "default"  # silver label of data fetched without a ``turbine`` parameter
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")  # a source column
TURBINE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")

SCADA_SAMPLES = TableSpec(
    "scada_samples",
    (
        Column("turbine", pa.string(), f"turbine id; {DEFAULT_TURBINE!r}: the source's default"),
        Column("signal", pa.string(), "source column, e.g. wind_speed, power"),
        Column("ts_utc", UTC_TS, "sample time, UTC (the source's 1-minute timestamp)"),
        Column("value", pa.float64(), "the value as the source sent it; null if it sent null"),
        Column("_source_file", pa.string(), "bronze key of the day's answer"),
    ),
    primary_key=("turbine", "signal", "ts_utc"),
    partition_by="ts_utc",  # Spark: one partition per UTC day
    doc="One row per turbine, signal and minute, as fetched from the SCADA source API.",
)

SCADA_10MIN = TableSpec(
    "scada_10min",
    (
        Column("turbine", pa.string(), "turbine id"),
        Column("signal", pa.string(), "source column"),
        Column("bucket_start_utc", UTC_TS, "start of the 10-minute bin [start, start+10min)"),
        Column("mean", pa.float64(), "mean of the samples in the bin"),
        Column("min", pa.float64(), "smallest sample"),
        Column("max", pa.float64(), "largest sample"),
        Column("std", pa.float64(), "sample standard deviation (ddof=1); null under 2 samples"),
        Column("count", pa.int64(), "non-null samples in the bin (missing minutes lower it)"),
    ),
    primary_key=("turbine", "signal", "bucket_start_utc"),
    partition_by="bucket_start_utc",  # Spark: one partition per UTC day
    doc="10-minute statistics per turbine and signal (gold, model scada_10min).",
)
GOLD_COLUMNS = "turbine, signal, bucket_start_utc, mean, min, max, std, count"


def check_columns(columns: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Distinct column names in the order given; raises ValueError on a malformed name."""
    out: list[str] = []
    for c in columns:
        if not NAME.match(c) or c in ("id", "timestamp"):
            raise ValueError(f"invalid column name {c!r}: use source columns like wind_speed")
        if c not in out:
            out.append(c)
    if not out:
        raise ValueError("name at least one column")
    return tuple(out)


def check_turbine(turbine: str) -> str:
    if not TURBINE.match(turbine):
        raise ValueError(f"invalid turbine id {turbine!r}: letters, digits, '_', '-', '.'")
    return turbine


def signal_name(column: str, agg: str) -> str:
    """The original's target signal name: ``<column>_<agg>``, e.g. ``wind_speed_mean``."""
    return f"{column}_{agg}"
