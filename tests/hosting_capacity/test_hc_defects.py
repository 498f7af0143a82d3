"""Each seed defect of format notes §A.5 is fixed, shown with a fixture written here.

1. decimal(5,4) lost every kW value >= 10.
2. M/D/YYYY and M/D/YYYY H:MM dates became null; "NULL"/"null" strings stayed as ids.
3. utility1 feeders not reduced to one row per feeder; utility2 planned DER lost their queue id;
   unpivoted rows carried the project total; gold UNION DISTINCT merged identical rows.
5. ids not namespaced by utility.
(4, SQL built by string formatting and JSON-string responses, belongs to the API layer.)
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from .helpers import SUMMARY_SQL, parse_text, to_duckdb

U1_TECHS = (
    "SolarPV,EnergyStorageSystem,Wind,MicroTurbine,SynchronousGenerator,InductionGenerator,"
    "FarmWaste,FuelCell,CombinedHeatandPower,GasTurbine,Hydro,InternalCombustionEngine,"
    "SteamTurbine,Other"
)
U1_INSTALLED = (
    "ProjectID,ProjectType,NamePlateRating,TotalChargesCESIR,TotalChargesConstruction,"
    f"CESIR_EST,SystemUpgrade_EST,ProjectCircuitID,Hybrid,{U1_TECHS}\n"
)
U1_CIRCUITS = (
    ",Circuits_Phase3_CIRCUIT,Circuits_Phase3_NUMPHASES,Circuits_Phase3_OVERUNDER,"
    "Circuits_Phase3_PHASE,NYHCPV_csv_NSECTION,NYHCPV_csv_NFEEDER,NYHCPV_csv_NVOLTAGE,"
    "NYHCPV_csv_NMAXHC,NYHCPV_csv_NMAPCOLOR,NYHCPV_csv_FFEEDER,NYHCPV_csv_FVOLTAGE,"
    "NYHCPV_csv_FMAXHC,NYHCPV_csv_FMINHC,NYHCPV_csv_FHCADATE,NYHCPV_csv_FNOTES,Shape_Length\n"
)
U2_PLANNED = (
    "DER_TYPE,DER_NAMEPLATE_RATING,INVERTER_NAMEPLATE_RATING,PLANNED_INSTALLATION_DATE,"
    "DER_STATUS,DER_STATUS_RATIONALE,TOTAL_MW_FOR_SUBSTATION,INTERCONNECTION_QUEUE_REQUEST_ID,"
    "INTERCONNECTION_QUEUE_POSITION,DER_INTERCONNECTION_LOCATION\n"
)
U2_INSTALLED = (
    "DER_ID,SERVICE_STREET_ADDRESS,DER_TYPE,DER_NAMEPLATE_RATING,DER_INTERCONNECTION_LOCATION,"
    "INTERCONNECTION_COST\n"
)


def test_1_ratings_of_10_kw_and_more_survive() -> None:
    text = U1_INSTALLED
    text += "1,RESPHOTO,9.9999,NULL,NULL,NULL,NULL,0001RO0304,N,9.9999" + ",0" * 13 + "\n"
    text += "2,RESPHOTO,10,NULL,NULL,NULL,NULL,0001RO0304,N,10" + ",0" * 13 + "\n"
    text += "3,CHP,325,NULL,NULL,NULL,NULL,0001RO0304,N,0" + ",0" * 7 + ",325" + ",0" * 5 + "\n"
    text += "4,Transmission,1300000,NULL,NULL,NULL,NULL,T1,N,0,0,1300000" + ",0" * 11 + "\n"
    rows = parse_text("utility1_install_der.csv", text).rows("ders")
    assert [(r["native_id"], r["nameplate_kw"], r["project_nameplate_kw"]) for r in rows] == [
        ("1", 9.9999, 9.9999),
        ("2", 10.0, 10.0),
        ("3", 325.0, 325.0),
        ("4", 1_300_000.0, 1_300_000.0),
    ]


def test_2_us_dates_and_timestamps_parse() -> None:
    text = U2_PLANNED + "Solar,11.4,null,7/24/2020,null,null,11.4,300474,7/13/2020 11:54,36_1\n"
    text += "Solar,8,null,12/2/2022,null,null,,476677,11/16/2022 19:52,36_1\n"
    rows = parse_text("utility2_planned_der.csv", text).rows("ders")
    assert [(r["planned_install_date"], r["queue_date"]) for r in rows] == [
        (dt.date(2020, 7, 24), dt.date(2020, 7, 13)),
        (dt.date(2022, 12, 2), dt.date(2022, 11, 16)),
    ]


def test_2_null_strings_are_not_ids() -> None:
    text = U1_INSTALLED + "5,RESPHOTO,6,NULL,NULL,NULL,NULL,NULL,N,6" + ",0" * 13 + "\n"
    (u1,) = parse_text("utility1_install_der.csv", text).rows("ders")
    text = U2_INSTALLED + "6,null,Solar,6,null,0\n7,null,Solar,6,NULL,0\n"
    u2 = parse_text("utility2_install_der.csv", text).rows("ders")
    for row in (u1, *u2):
        assert row["native_feeder_id"] is None
        assert row["feeder_uid"] is None


def test_3_utility1_sections_roll_up_to_one_row_per_feeder() -> None:
    text = U1_CIRCUITS
    for i, (feeder, nmax, color) in enumerate(
        [("1105354", 0.2, "BROWN"), ("1105354", 3.5, "BLUE"), ("1105352", 1.1, "GREEN")]
    ):
        text += (
            f"{i},{feeder},3,O,ABC,20000000{i},{feeder},4.8,{nmax},0.00 TO 9.99 {color}-123ABC,"
            f"{feeder},4.8,3.7,0.1,2022-10-15 00:00:00+00:00,,0.0004\n"
        )
    parsed = parse_text("utility1_circuits.csv", text)
    feeders = parsed.rows("feeders")
    assert [(f["feeder_uid"], f["section_count"], f["map_color"]) for f in feeders] == [
        ("utility1:1105352", 1, "green"),
        ("utility1:1105354", 2, "brown"),  # coloured by its most constrained section
    ]
    assert len(parsed.rows("feeder_sections")) == 3


def test_3_planned_der_keep_their_queue_id() -> None:
    text = U2_PLANNED + "Solar,5000,null,,null,null,,293870,6/5/2020 13:47,null\n"
    (row,) = parse_text("utility2_planned_der.csv", text).rows("ders")
    assert (row["native_id"], row["der_uid"]) == ("293870", "utility2:planned:293870")


def test_3_unpivoted_rows_carry_their_own_technology_kw() -> None:
    text = U1_INSTALLED
    text += "20751,PVESS,40.2,NULL,NULL,NULL,NULL,NULL,Y,15.2,25" + ",0" * 12 + "\n"
    rows = parse_text("utility1_install_der.csv", text).rows("ders")
    assert [(r["technology"], r["nameplate_kw"]) for r in rows] == [
        ("SolarPV", 15.2),
        ("EnergyStorageSystem", 25.0),
    ]
    assert {r["project_nameplate_kw"] for r in rows} == {40.2}


def test_3_identical_rows_are_not_merged(tmp_path: Path) -> None:
    # Two queue entries that differ only in their id (and a date the seed could not parse)
    # were one row after the seed's UNION DISTINCT. Both stay, and both count in the summary.
    same = "Solar,7.6,null,,null,null,7.6,{qid},6/5/2020 13:47,36_39_01251\n"
    planned = parse_text(
        "utility2_planned_der.csv", U2_PLANNED + same.format(qid=1) + same.format(qid=2)
    )
    installed = parse_text(
        "utility2_install_der.csv", U2_INSTALLED + "1,null,Solar,7.6,36_39_01251,0\n"
    )
    assert [r["der_uid"] for r in planned.rows("ders")] == [
        "utility2:planned:1",
        "utility2:planned:2",
    ]
    con = to_duckdb([planned, installed])
    summary = con.execute(
        f"SELECT der_type, installed_count, planned_count, planned_kw FROM ({SUMMARY_SQL.read_text()})"
    ).fetchall()
    assert summary == [("solar_pv", 1, 2, 15.2)]


def test_5_ids_are_namespaced_by_utility() -> None:
    u2 = parse_text("utility2_install_der.csv", U2_INSTALLED + "100,null,Solar,5,1B01,0\n")
    coned = parse_text("coned_install_der.csv", U2_INSTALLED + "100,null,Solar,5,1B01,0\n")
    (a,), (b,) = u2.rows("ders"), coned.rows("ders")
    assert (a["der_uid"], a["feeder_uid"]) == ("utility2:installed:100", "utility2:1B01")
    assert (b["der_uid"], b["feeder_uid"]) == ("coned:installed:100", "coned:1B01")
