"""One hand-written fixture per shipped mapping (all five utilities, all three data sets): the
file name picks the format, and the canonical values come out in canonical units."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from wattlake.sources.hosting_capacity.formats import load_formats

from .helpers import parse_bytes, parse_text

U1_TECHS = (
    "SolarPV,EnergyStorageSystem,Wind,MicroTurbine,SynchronousGenerator,InductionGenerator,"
    "FarmWaste,FuelCell,CombinedHeatandPower,GasTurbine,Hydro,InternalCombustionEngine,"
    "SteamTurbine,Other"
)
ZEROS = ",0" * 13
JU_INSTALLED = (
    "DER_ID,SERVICE_STREET_ADDRESS,DER_TYPE,DER_NAMEPLATE_RATING,"
    "DER_INTERCONNECTION_LOCATION,INTERCONNECTION_COST\n"
)
JU_PLANNED = (
    "DER_TYPE,DER_NAMEPLATE_RATING,INVERTER_NAMEPLATE_RATING,PLANNED_INSTALLATION_DATE,"
    "DER_STATUS,DER_STATUS_RATIONALE,TOTAL_MW_FOR_SUBSTATION,INTERCONNECTION_QUEUE_REQUEST_ID,"
    "INTERCONNECTION_QUEUE_POSITION,DER_INTERCONNECTION_LOCATION\n"
)
D = dt.date

# (file name, file text, table, expected rows: each a subset of the parsed row's columns)
CASES: list[tuple[str, str, str, list[dict[str, Any]]]] = [
    (
        "utility1_circuits.csv",
        ",Circuits_Phase3_CIRCUIT,Circuits_Phase3_NUMPHASES,Circuits_Phase3_OVERUNDER,"
        "Circuits_Phase3_PHASE,NYHCPV_csv_NSECTION,NYHCPV_csv_NFEEDER,NYHCPV_csv_NVOLTAGE,"
        "NYHCPV_csv_NMAXHC,NYHCPV_csv_NMAPCOLOR,NYHCPV_csv_FFEEDER,NYHCPV_csv_FVOLTAGE,"
        "NYHCPV_csv_FMAXHC,NYHCPV_csv_FMINHC,NYHCPV_csv_FHCADATE,NYHCPV_csv_FNOTES,Shape_Length\n"
        "0,2204511,3,O,ABC,300000001,2204511,12.47,2.5,2.00 TO 2.99 LIGHT BLUE-8EC9F0,2204511,"
        "12.47,0.4,0.1,2022-10-15 00:00:00+00:00,,0.0005\n"
        "1,2204511,1,U,B,300000002,2204511,12.47,0.4,0.30 TO 0.49 RED-D7301F,2204511,"
        "12.47,0.4,0.1,2022-10-15 00:00:00+00:00,Thermal,0.0007\n",
        "feeders",
        [
            {
                "feeder_uid": "utility1:2204511",
                "voltage_kv": 12.47,
                "max_hc_mw": 0.4,
                "min_hc_mw": 0.1,
                "map_color": "red",
                "hca_refresh_date": D(2022, 10, 15),
                "section_count": 2,
                "notes": "Thermal",
            }
        ],
    ),
    (
        "utility1_install_der.csv",
        f"ProjectID,ProjectType,NamePlateRating,TotalChargesCESIR,TotalChargesConstruction,"
        f"CESIR_EST,SystemUpgrade_EST,ProjectCircuitID,Hybrid,{U1_TECHS}\n"
        "501,PVESS,40.2,NULL,NULL,NULL,NULL,0101RO0202,Y,15.2,25" + ",0" * 12 + "\n",
        "ders",
        [
            {
                "der_uid": "utility1:installed:501:SolarPV",
                "der_type": "solar_pv",
                "native_type": "PVESS",
                "nameplate_kw": 15.2,
                "project_nameplate_kw": 40.2,
                "hybrid": True,
                "feeder_uid": "utility1:0101RO0202",
            },
            {
                "der_uid": "utility1:installed:501:EnergyStorageSystem",
                "der_type": "energy_storage",
                "nameplate_kw": 25.0,
            },
        ],
    ),
    (
        "utility1_planned_der.csv",
        f"ProjectType,NamePlateRating,InServiceDate,ProjectStatus,ProjectID,CompletionDate,"
        f"ProjectCircuitID,Hybrid,{U1_TECHS}\n"
        f"RESPHOTO,8,3/31/2024,NULL,20569,03:18.0,0001RO0304,N,8{ZEROS}\n",
        "ders",
        [
            {
                "der_uid": "utility1:planned:20569:SolarPV",
                "status": "planned",
                "native_id": "20569",
                "nameplate_kw": 8.0,
                "planned_install_date": D(2024, 3, 31),
                "feeder_uid": "utility1:0001RO0304",
            }
        ],
    ),
    (
        "utility2_circuits.csv",
        "Master_CDF,feeder_voltage,feeder_max_hc,feeder_min_hc,feeder_dg_connected_since_refresh,"
        "hca_refresh_date,color,shape_length\n"
        "36_01_50001,4.16,2.75,0.3,-0.2,2022/10/01 00:00:00+00,light blue,0.5\n",
        "feeders",
        [
            {
                "feeder_uid": "utility2:36_01_50001",
                "voltage_kv": 4.16,
                "max_hc_mw": 2.75,
                "min_hc_mw": 0.3,
                "dg_connected_since_refresh_mw": -0.2,
                "hca_refresh_date": D(2022, 10, 1),
                "map_color": "light blue",
                "shape_length": 0.5,
                "section_count": None,
            }
        ],
    ),
    (
        "utility2_install_der.csv",
        "\ufeff" + JU_INSTALLED + "9001,null,Battery Add-On,12.5,36_01_50001,1500.25\n",
        "ders",
        [
            {
                "der_uid": "utility2:installed:9001",
                "der_type": "energy_storage",
                "nameplate_kw": 12.5,
                "interconnection_cost_usd": 1500.25,
                "feeder_uid": "utility2:36_01_50001",
            }
        ],
    ),
    (
        "utility2_planned_der.csv",
        "\ufeff" + JU_PLANNED + "Solar,11.4,null,7/24/2020,null,null,11.4,300474,"
        "7/13/2020 11:54,36_32_36552\n",
        "ders",
        [
            {
                "der_uid": "utility2:planned:300474",
                "native_id": "300474",
                "planned_install_date": D(2020, 7, 24),
                "queue_date": D(2020, 7, 13),
            }
        ],
    ),
    (
        "coned_circuits.csv",
        "Feeder,Substation,Network,Feeder Voltage (kV),Maximum Hosting Capacity (MW),"
        "Minimum Hosting Capacity (MW),Queued Generation (MW),Connected Generation (MW),"
        "DG Connected Since Last HCA Refresh (MW),Refresh Date\n"
        "5r12,Harbor 3,Harbor Network,13.8,1.2,0.4,0.75,2.5,N/A,10/1/2023\n",
        "feeders",
        [
            {
                "feeder_uid": "coned:5R12",
                "native_feeder_id": "5R12",
                "substation": "Harbor 3",
                "voltage_kv": 13.8,
                "max_hc_mw": 1.2,
                "queued_dg_mw": 0.75,
                "connected_dg_mw": 2.5,
                "dg_connected_since_refresh_mw": None,
                "hca_refresh_date": D(2023, 10, 1),
            }
        ],
    ),
    (
        "coned_install_der.csv",
        JU_INSTALLED + "77,N/A,Fuel Cell,500,5r12,0\n",
        "ders",
        [{"der_uid": "coned:installed:77", "der_type": "fuel_cell", "feeder_uid": "coned:5R12"}],
    ),
    (
        "coned_planned_der.csv",
        JU_PLANNED + "Energy Storage,2000,N/A,,N/A,N/A,,88,1/2/2023 9:05,5R12\n",
        "ders",
        [
            {
                "der_uid": "coned:planned:88",
                "der_type": "energy_storage",
                "queue_date": D(2023, 1, 2),
            }
        ],
    ),
    (
        "cenhud_circuits.csv",
        "Feeder,Substation/Bank Name,Substation/Bank Rating (MW),Feeder Voltage (kV),"
        "Local Hosting Capacity (MW),Minimum Hosting Capacity (MW),"
        "DG Connected Since Last HCA Refresh (MW),Date\n"
        "WR-1234,Maple Bank 2,33.3,13.2,4.5,1.1,0.25,2023-04-01\n",
        "feeders",
        [
            {
                "feeder_uid": "cenhud:WR-1234",
                "substation": "Maple Bank 2",
                "substation_rating_mw": 33.3,
                "max_hc_mw": 4.5,
                "min_hc_mw": 1.1,
                "dg_connected_since_refresh_mw": 0.25,
                "hca_refresh_date": D(2023, 4, 1),
            }
        ],
    ),
    (
        "cenhud_install_der.csv",
        JU_INSTALLED + "1,null,Solar,7.6,WR-1234,0\n",
        "ders",
        [{"der_uid": "cenhud:installed:1", "der_type": "solar_pv", "nameplate_kw": 7.6}],
    ),
    (
        "cenhud_planned_der.csv",
        JU_PLANNED + "Wind,1500,null,6/1/2025,null,null,,2,5/5/2024 10:00,WR-1234\n",
        "ders",
        [{"der_uid": "cenhud:planned:2", "planned_install_date": D(2025, 6, 1)}],
    ),
    (
        "oru_circuits.csv",
        "\ufeffFeeder ID,Substation,Voltage (kV),Maximum Hosting Capacity (MW),"
        "Minimum Hosting Capacity (MW),Queued Generation (MW),Connected Generation (MW),HCA Date\n"
        '45-2-13,"Ridge, North",34.5,6.1,2,1.5,3.25,6/30/2023\n',
        "feeders",
        [
            {
                "feeder_uid": "oru:45-2-13",
                "substation": "Ridge, North",
                "voltage_kv": 34.5,
                "max_hc_mw": 6.1,
                "queued_dg_mw": 1.5,
                "connected_dg_mw": 3.25,
                "hca_refresh_date": D(2023, 6, 30),
            }
        ],
    ),
    (
        "oru_install_der.csv",
        "\ufeff" + JU_INSTALLED + "10,null,Combined Heat and Power,250,45-2-13,0\n",
        "ders",
        [{"der_uid": "oru:installed:10", "der_type": "chp", "feeder_uid": "oru:45-2-13"}],
    ),
    (
        "oru_planned_der.csv",
        "\ufeff" + JU_PLANNED + "Solar,5000,null,,null,null,,11,2/3/2022 14:00,45-2-13\n",
        "ders",
        [{"der_uid": "oru:planned:11", "nameplate_kw": 5000.0, "queue_date": D(2022, 2, 3)}],
    ),
]


def test_every_shipped_mapping_has_a_fixture() -> None:
    covered = {name.removesuffix(".csv") for name, *_ in CASES}
    assert covered == {f.name for f in load_formats()}


@pytest.mark.parametrize(("name", "text", "table", "expected"), CASES, ids=[c[0] for c in CASES])
def test_mapping(name: str, text: str, table: str, expected: list[dict[str, Any]]) -> None:
    parsed = parse_text(name, text)
    assert parsed.report.rejects == []
    rows = parsed.rows(table)
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert {k: row[k] for k in want} == want
        assert row["_source_file"] == name


def test_utility1_circuits_also_yields_sections() -> None:
    name, text, _, _ = CASES[0]
    sections = parse_text(name, text).rows("feeder_sections")
    assert [(s["native_section_id"], s["map_color"], s["phase_count"]) for s in sections] == [
        ("300000001", "light blue", 3),
        ("300000002", "red", 1),
    ]
    assert {s["feeder_uid"] for s in sections} == {"utility1:2204511"}


def test_mapping_works_with_lf_and_no_bom() -> None:
    name, text, table, expected = CASES[4]
    parsed = parse_bytes(name, text.removeprefix("\ufeff").encode())
    assert parsed.rows(table)[0]["der_uid"] == expected[0]["der_uid"]
