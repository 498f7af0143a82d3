"""Green Button (ESPI) silver tables and the ESPI code tables they decode.

Conventions
- ``custodian`` identifies the data custodian (utility) or, when it cannot be known, the feed:
  the caller's name for it (e.g. ``pge``), else the host of the feed's absolute links
  (``api.pge.com``), else the feed's Atom ``id``. Ids are stable across files of one custodian,
  so overlapping downloads de-duplicate on load.
- ``usage_point_id``, ``meter_reading_id``, ``reading_type_id`` are the last path segment of the
  resource's Atom ``self`` link (opaque strings: ``6345172663``, ``NET_USAGE``, ``Ny61vdRdDjKaSSueEkh=``).
- Times: ``interval_start_utc`` is the IntervalReading ``timePeriod/start`` (epoch seconds, UTC),
  the interval is ``[start, start + duration_s)``. ``local_start`` is the wall-clock label of the
  start in the utility's zone (the feed's LocalTimeParameters, else the configured IANA zone);
  never key on it (the fall-back hour repeats).
- Values: ``raw_value`` is the integer as sent; ``value = raw_value × 10^power_of_ten`` in ``unit``
  (``Wh``, ``therm``, ``m3``…). Costs are in currency units (the file's 1/100000 divided out).
- ``flow_direction``: 1 forward (delivered), 19 reverse (received / exported), 4 net. Rows of
  different directions are different channels (different reading types): never add them.
"""

from __future__ import annotations

import pyarrow as pa

from wattlake.tables import LOCAL_TS, UTC_TS, Column, TableSpec

_SRC = Column("_source_file", pa.string(), "bronze file the row was parsed from")
_CUST = Column("custodian", pa.string(), "data custodian (utility) or feed id", nullable=False)

USAGE_POINTS = TableSpec(
    "usage_points",
    (
        _CUST,
        Column("usage_point_id", pa.string(), "UsagePoint id (self link tail)", nullable=False),
        Column("href", pa.string(), "UsagePoint self link, resolved against xml:base"),
        Column("service_kind", pa.int32(), "ServiceCategory/kind: 0 electricity, 1 gas, 2 water"),
        Column("service", pa.string(), "service kind name (electricity, gas, water, …)"),
        Column("status", pa.int32(), "0 off, 1 on"),
        Column("time_zone", pa.string(), "zone of the local labels: IANA name or LTP rules"),
        Column("tz_offset_s", pa.int32(), "LocalTimeParameters tzOffset (standard offset, s)"),
        Column("dst_offset_s", pa.int32(), "LocalTimeParameters dstOffset (s)"),
        Column("dst_start_rule", pa.string(), "LocalTimeParameters dstStartRule (hex)"),
        Column("dst_end_rule", pa.string(), "LocalTimeParameters dstEndRule (hex)"),
        _SRC,
    ),
    primary_key=("custodian", "usage_point_id"),
    doc="One row per Green Button UsagePoint (a meter / service).",
)

READING_TYPES = TableSpec(
    "reading_types",
    (
        _CUST,
        Column("reading_type_id", pa.string(), "ReadingType id (self link tail)", nullable=False),
        Column("href", pa.string(), "ReadingType self link"),
        Column("accumulation", pa.int32(), "accumulationBehaviour: 4 deltaData, 1 bulk, 3 cumul."),
        Column("commodity", pa.int32(), "1/2/26 electricity, 7 natural gas, 9 water"),
        Column("currency", pa.int32(), "ISO 4217 numeric, 840 = USD"),
        Column("data_qualifier", pa.int32(), "dataQualifier: 12 normal, 2 average, 8 max"),
        Column("default_quality", pa.int32(), "quality assumed when a reading has none"),
        Column("flow_direction", pa.int32(), "1 forward, 19 reverse (export), 4 net"),
        Column("interval_length_s", pa.int64(), "intervalLength in seconds"),
        Column("kind", pa.int32(), "MeasurementKind: 12 energy, 8 demand"),
        Column("power_of_ten", pa.int32(), "powerOfTenMultiplier"),
        Column("time_attribute", pa.int32(), "timeAttribute code"),
        Column("uom", pa.int32(), "UnitSymbolKind: 72 Wh, 169 therm, 42 m3, 119 ft3"),
        Column("unit", pa.string(), "uom as a unit name: Wh, therm, m3, …"),
        Column("measuring_period", pa.int32(), "measuringPeriod code"),
        Column("derived", pa.string(), "fields missing from the file and derived (and how)"),
        _SRC,
    ),
    primary_key=("custodian", "reading_type_id"),
    doc="One row per ReadingType: units, multiplier and direction of a channel.",
)

METER_READINGS = TableSpec(
    "meter_readings",
    (
        _CUST,
        Column("usage_point_id", pa.string(), "owning UsagePoint", nullable=False),
        Column("meter_reading_id", pa.string(), "MeterReading id", nullable=False),
        Column("reading_type_id", pa.string(), "its ReadingType"),
        Column("href", pa.string(), "MeterReading self link"),
        Column("flow_direction", pa.int32(), "from its ReadingType"),
        Column("interval_count", pa.int64(), "interval readings of this file loaded for it"),
        _SRC,
    ),
    primary_key=("custodian", "usage_point_id", "meter_reading_id"),
    doc="One row per MeterReading (channel) of a UsagePoint.",
)

INTERVAL_READS = TableSpec(
    "interval_reads",
    (
        _CUST,
        Column("usage_point_id", pa.string(), "UsagePoint id", nullable=False),
        Column("reading_type_id", pa.string(), "ReadingType id (the channel)", nullable=False),
        Column("interval_start_utc", UTC_TS, "interval start, UTC, inclusive", nullable=False),
        Column("interval_end_utc", UTC_TS, "interval end, UTC, exclusive"),
        Column("duration_s", pa.int64(), "interval length in seconds"),
        Column("local_start", LOCAL_TS, "wall-clock start in the utility's zone (a label)"),
        Column("utc_offset_s", pa.int32(), "local_start - interval_start_utc, seconds"),
        Column("meter_reading_id", pa.string(), "MeterReading id"),
        Column("service_kind", pa.int32(), "0 electricity, 1 gas, …"),
        Column("commodity", pa.int32(), "ReadingType commodity (derived when missing)"),
        Column("flow_direction", pa.int32(), "1 forward, 19 reverse, 4 net"),
        Column("raw_value", pa.int64(), "value as in the file"),
        Column("power_of_ten", pa.int32(), "powerOfTenMultiplier applied"),
        Column("uom", pa.int32(), "UnitSymbolKind code"),
        Column("unit", pa.string(), "unit of value: Wh, therm, m3, …"),
        Column("value", pa.float64(), "raw_value × 10^power_of_ten, in unit"),
        Column("cost", pa.float64(), "cost in currency units (file value / 100000)"),
        Column("currency", pa.int32(), "ISO 4217 numeric"),
        Column("quality", pa.string(), "ReadingQuality codes, comma-separated (else default)"),
        Column("estimated", pa.bool_(), "quality 8 or 9 (estimated)"),
        Column("tou", pa.int32(), "time-of-use code"),
        Column("consumption_tier", pa.int32(), "consumption tier"),
        Column("cpp", pa.int32(), "critical peak pricing bucket"),
        _SRC,
    ),
    primary_key=("custodian", "usage_point_id", "reading_type_id", "interval_start_utc"),
    doc="One row per IntervalReading, per channel, keyed on its UTC start.",
)

USAGE_SUMMARIES = TableSpec(
    "usage_summaries",
    (
        _CUST,
        Column("usage_point_id", pa.string(), "UsagePoint id", nullable=False),
        Column("summary_id", pa.string(), "UsageSummary id (self link tail)", nullable=False),
        Column("billing_start_utc", UTC_TS, "billingPeriod start"),
        Column("billing_duration_s", pa.int64(), "billingPeriod duration"),
        Column("bill_last_period", pa.float64(), "currency units"),
        Column("bill_to_date", pa.float64(), "currency units"),
        Column("cost_additional_last_period", pa.float64(), "currency units"),
        Column("currency", pa.int32(), "ISO 4217 numeric"),
        Column("overall_consumption", pa.float64(), "overallConsumptionLastPeriod, in unit"),
        Column("overall_unit", pa.string(), "unit of overall_consumption"),
        Column("commodity", pa.int32(), "commodity code"),
        Column("tariff_profile", pa.string(), "tariff, e.g. E1"),
        Column("status_utc", UTC_TS, "statusTimeStamp (milliseconds detected)"),
        _SRC,
    ),
    primary_key=("custodian", "usage_point_id", "summary_id"),
    doc="UsageSummary / ElectricPowerUsageSummary: bill-level totals per billing period.",
)

TABLES = (USAGE_POINTS, READING_TYPES, METER_READINGS, INTERVAL_READS, USAGE_SUMMARIES)

SERVICE_KINDS = {
    0: "electricity", 1: "gas", 2: "water", 3: "time", 4: "heat", 5: "refuse",
    6: "sewerage", 7: "rates", 8: "tvLicence", 9: "internet",
}  # fmt: skip
#: UnitSymbolKind codes → unit names.
UOMS = {
    72: "Wh", 169: "therm", 42: "m3", 119: "ft3", 120: "ft3", 132: "btu", 128: "USgal",
    38: "W", 61: "VA", 63: "VAr", 71: "VAh", 73: "VArh", 80: "money", 0: "none",
}  # fmt: skip
#: Commodity per service kind, for ReadingTypes without one (electricity, gas, water).
COMMODITY_OF_SERVICE = {0: 1, 1: 7, 2: 9}
#: Unit per service kind, for ReadingTypes without uom.
UOM_OF_SERVICE = {0: 72, 1: 169}
SERVICE_OF_COMMODITY = {1: 0, 2: 0, 26: 0, 7: 1, 8: 1, 9: 2}
ESTIMATED_QUALITIES = frozenset({8, 9})
