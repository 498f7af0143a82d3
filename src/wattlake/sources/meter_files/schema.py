"""Silver tables of the meter-files source and the file layouts it reads.

Times in the files are local wall-clock times (``dd/mm/YYYY[ H]H:MM[:SS]``); silver keeps them
as written (``*_local``) and as UTC instants (``*_utc``) using ``WATTLAKE_METER_TIMEZONE``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from wattlake.tables import LOCAL_TS, UTC_TS, Column, TableSpec

S, F64 = pa.string(), pa.float64()

METER_READS = TableSpec(
    "meter_reads",
    (
        Column("meter_code", S, "meter point code"),
        Column("serial", S, "meter serial number"),
        Column("plant_code", S, "plant code"),
        Column("reading_local", LOCAL_TS, "interval time as written in the file (local)"),
        Column("reading_utc", UTC_TS, "the same instant in UTC"),
        Column("local_date", pa.date32(), "local calendar day of the reading"),
        Column("data_type", S, "e.g. 'Import Wh Total', 'Voltage Phase A Min'"),
        Column("value", F64, "reading in `units`"),
        Column("units", S, "unit as written (kwh, kvarh, V, A, deg, …)"),
        Column("status", S, "LP status flag (empty, GN, PL II …)"),
        Column("quality", S, "TOU interval quality flag (A = actual)"),
        Column(
            "stream", S, "TOU stream (B1 import Wh, K1 import varh, E1 export Wh, Q1 export varh)"
        ),
        Column("layout", S, "file layout: LP or TOU_B"),
        Column("_source_file", S, "file the row came from"),
    ),
    primary_key=("meter_code", "serial", "data_type", "reading_local", "layout"),
    partition_by="local_date",  # the day of reading_local
    doc="Interval values from load-profile (LP) and interval TOU (layout B) files.",
)

METER_REGISTERS = TableSpec(
    "meter_registers",
    (
        Column("meter_code", S), Column("serial", S), Column("plant_code", S),
        Column("read_local", LOCAL_TS, "register read time as written (local)"),
        Column("read_utc", UTC_TS), Column("local_date", pa.date32()),
        Column("data_type", S), Column("energy", F64, "register energy in `units`"),
        Column("max_demand", F64, "maximum demand in `units`"),
        Column("max_demand_local", LOCAL_TS, "time of maximum demand (null when the file has 30/12/1899)"),
        Column("units", S), Column("status", S),
        Column("period", S, "Total | Billing Total | Current | Previous"),
        Column("dls_active", pa.bool_(), "daylight saving active at read time"),
        Column("billing_reset_count", pa.int64()),
        Column("billing_reset_local", LOCAL_TS),
        Column("rate", S, "Unified | Rate 1 …"),
        Column("_source_file", S),
    ),
    primary_key=("meter_code", "serial", "read_local", "data_type", "period", "rate"),
    partition_by="local_date",  # the day of read_local
    doc="Billing registers from TOU layout A (the 2015 ERM Power export).",
)  # fmt: skip


@dataclass(frozen=True)
class Layout:
    """A file layout, recognised by its exact header line."""

    name: str
    table: TableSpec
    header: tuple[str, ...]
    fields: tuple[str, ...]  # canonical name of each header column, in order
    required: tuple[str, ...]  # must be non-empty
    timestamp_field: str  # the row's reading time (required)
    optional_timestamps: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()  # float fields (required ones are also in `required`)
    integers: tuple[str, ...] = ()
    booleans: tuple[str, ...] = ()


LP = Layout(
    "LP",
    METER_READS,
    ("MeterPoint Code", "Serial Number", "Plant Code", "Date/Time", "Data Type", "Data Value", "Units", "Status"),
    ("meter_code", "serial", "plant_code", "reading_local", "data_type", "value", "units", "status"),
    required=("meter_code", "serial", "reading_local", "data_type", "value"),
    timestamp_field="reading_local",
    numbers=("value",),
)  # fmt: skip
TOU_B = Layout(
    "TOU_B",
    METER_READS,
    ("MeterCode", "Serial", "PlantCode", "DateTime", "Quality", "Stream", "DataType", "Energy", "Units"),
    ("meter_code", "serial", "plant_code", "reading_local", "quality", "stream", "data_type", "value", "units"),
    required=("meter_code", "serial", "reading_local", "data_type", "value"),
    timestamp_field="reading_local",
    numbers=("value",),
)  # fmt: skip
TOU_A = Layout(
    "TOU_A",
    METER_REGISTERS,
    (
        "MeterPoint Code", "Serial Number", "Plant Code", "Date/Time", "Data Type", "Energy",
        "Maximum Demand", "Time of Max Demand", "Units", "Status", "Period", "DLS Active",
        "Billing Reset Count", "Billing Reset Date/Time", "Rate",
    ),
    (
        "meter_code", "serial", "plant_code", "read_local", "data_type", "energy", "max_demand",
        "max_demand_local", "units", "status", "period", "dls_active", "billing_reset_count",
        "billing_reset_local", "rate",
    ),
    required=("meter_code", "serial", "read_local", "data_type", "energy"),
    timestamp_field="read_local",
    optional_timestamps=("max_demand_local", "billing_reset_local"),
    numbers=("energy", "max_demand"),
    integers=("billing_reset_count",),
    booleans=("dls_active",),
)  # fmt: skip

LAYOUTS = (LP, TOU_B, TOU_A)
