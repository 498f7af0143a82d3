"""Silver tables for hosting capacity (feeders, feeder sections) and DER (installed and planned).

Units are fixed here and every mapping converts into them: hosting capacity and DG totals in
**MW**, feeder voltage in **kV**, DER nameplate ratings in **kW**, costs in **US dollars**.

Identifiers are namespaced by utility so that two utilities' native ids never collide:

- ``feeder_uid``  = ``<utility>:<native feeder id>``
- ``section_uid`` = ``<utility>:<native feeder id>:<native section id>``
- ``der_uid``     = ``<utility>:<status>:<native id>`` plus ``:<technology column>`` for rows
  unpivoted from a wide layout (one row per project and technology).

Every key is deterministic, so re-loading the same file upserts the same rows (idempotent).
"""

from __future__ import annotations

import pyarrow as pa

from wattlake.tables import Column, TableSpec

SOURCE_FILE = Column("_source_file", pa.string(), "Bronze file (path or name) the row came from.")

#: The standard DER type vocabulary. Every mapping sends its native types into these values.
DER_TYPES: dict[str, str] = {
    "solar_pv": "Photovoltaic solar (residential, commercial, community).",
    "energy_storage": "Battery / energy storage system, including storage add-ons.",
    "wind": "Wind turbines of any size.",
    "hydro": "Hydroelectric.",
    "chp": "Combined heat and power (cogeneration).",
    "fuel_cell": "Fuel cell.",
    "biogas": "Biogas, landfill gas, farm waste / anaerobic digester.",
    "natural_gas": "Natural-gas fired turbines and microturbines.",
    "combustion_engine": "Reciprocating internal combustion engines, including diesel.",
    "steam": "Steam turbines.",
    "geothermal": "Geothermal.",
    "other": "Anything else (transmission-scale entries, coal, nuclear, machine types only).",
    "unknown": "The file gives no type for the DER.",
}

DER_STATUSES = ("installed", "planned")

FEEDERS = TableSpec(
    name="feeders",
    doc="One row per feeder (circuit) and utility: its hosting capacity and DG totals.",
    primary_key=("feeder_uid",),
    columns=(
        Column("feeder_uid", pa.string(), "<utility>:<native feeder id>.", nullable=False),
        Column("utility", pa.string(), "Utility code, e.g. utility2, coned.", nullable=False),
        Column("native_feeder_id", pa.string(), "Feeder id as the utility writes it."),
        Column("substation", pa.string(), "Substation (or substation/bank) name."),
        Column("substation_rating_mw", pa.float64(), "Substation/bank rating, MW."),
        Column("voltage_kv", pa.float64(), "Feeder voltage, kV."),
        Column("max_hc_mw", pa.float64(), "Maximum (local) hosting capacity, MW."),
        Column("min_hc_mw", pa.float64(), "Minimum hosting capacity, MW."),
        Column(
            "dg_connected_since_refresh_mw",
            pa.float64(),
            "DG connected since the last HCA refresh, MW (may be negative).",
        ),
        Column("connected_dg_mw", pa.float64(), "Connected DG on the feeder, MW."),
        Column("queued_dg_mw", pa.float64(), "Queued DG on the feeder, MW."),
        Column("map_color", pa.string(), "Map colour band of the max HC, lower case."),
        Column("hca_refresh_date", pa.date32(), "Date of the hosting capacity analysis."),
        Column("section_count", pa.int64(), "Sections rolled up into this row (segment files)."),
        Column("shape_length", pa.float64(), "GIS length in the source's units (unknown)."),
        Column("notes", pa.string(), "Free-text notes from the utility."),
        SOURCE_FILE,
    ),
)

FEEDER_SECTIONS = TableSpec(
    name="feeder_sections",
    doc="Segment-level rows, where a utility publishes them (utility1); rolled up into feeders.",
    primary_key=("section_uid",),
    columns=(
        Column(
            "section_uid",
            pa.string(),
            "<utility>:<native feeder id>:<native section id>.",
            nullable=False,
        ),
        Column("utility", pa.string(), "Utility code.", nullable=False),
        Column("native_section_id", pa.string(), "Section id as the utility writes it."),
        Column("feeder_uid", pa.string(), "The feeder this section belongs to."),
        Column("native_feeder_id", pa.string(), "Feeder id as the utility writes it."),
        Column("circuit_id", pa.string(), "GIS circuit id of the section."),
        Column("phase_count", pa.int64(), "Number of phases (1-3)."),
        Column("over_under", pa.string(), "O = overhead, U = underground."),
        Column("phases", pa.string(), "Phase letters, e.g. ABC."),
        Column("voltage_kv", pa.float64(), "Section voltage, kV."),
        Column("max_hc_mw", pa.float64(), "Section maximum hosting capacity, MW."),
        Column("map_color", pa.string(), "Section colour band, lower case."),
        Column("shape_length", pa.float64(), "GIS length in the source's units (unknown)."),
        SOURCE_FILE,
    ),
)

DERS = TableSpec(
    name="ders",
    doc=(
        "Installed and planned DER. Wide files give one row per project and technology, "
        "carrying that technology's kW; long files give one row per DER / queue request."
    ),
    primary_key=("der_uid",),
    indexes=(("feeder_uid",), ("native_feeder_id",)),  # the DER of one feeder (API)
    columns=(
        Column(
            "der_uid",
            pa.string(),
            "<utility>:<status>:<native id>[:<technology>].",
            nullable=False,
        ),
        Column("utility", pa.string(), "Utility code.", nullable=False),
        Column("status", pa.string(), "installed | planned.", nullable=False),
        Column(
            "native_id",
            pa.string(),
            "Utility's DER / project id; for planned DER the interconnection queue id.",
        ),
        Column("technology", pa.string(), "Source technology column (wide layouts only)."),
        Column("der_type", pa.string(), "Standard type, one of DER_TYPES."),
        Column("native_type", pa.string(), "The utility's own type / project type text."),
        Column("nameplate_kw", pa.float64(), "Nameplate of this row (this technology), kW."),
        Column(
            "project_nameplate_kw",
            pa.float64(),
            "Project total nameplate, kW (wide layouts; repeated per technology, do not sum).",
        ),
        Column("hybrid", pa.bool_(), "Project combines several technologies (utility flag)."),
        Column("feeder_uid", pa.string(), "<utility>:<native feeder id>, null if unknown."),
        Column("native_feeder_id", pa.string(), "Feeder / interconnection location as written."),
        Column("planned_install_date", pa.date32(), "Planned in-service date (planned DER)."),
        Column("queue_date", pa.date32(), "Date the interconnection request was queued."),
        Column("interconnection_cost_usd", pa.float64(), "Interconnection cost, USD."),
        SOURCE_FILE,
    ),
)

#: Every table this source produces, by name.
TABLES: dict[str, TableSpec] = {t.name: t for t in (FEEDERS, FEEDER_SECTIONS, DERS)}
