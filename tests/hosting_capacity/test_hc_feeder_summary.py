"""Gold model feeder_summary: counts and kW by DER type per feeder, on DuckDB and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import sqlglot

from wattlake.sources.hosting_capacity import TABLES
from wattlake.tables import sql_type

from .helpers import SUMMARY_SQL, Parsed, parse_path, parse_text, to_duckdb

U2_FEEDERS = (
    "Master_CDF,feeder_voltage,feeder_max_hc,feeder_min_hc,feeder_dg_connected_since_refresh,"
    "hca_refresh_date,color,shape_length\n"
    "F1,13.2,2.5,0.5,0,2022/10/01,blue,1\n"
    "F2,4.16,0.1,0,0,2022/10/01,brown,1\n"
)
U2_INSTALLED = (
    "DER_ID,SERVICE_STREET_ADDRESS,DER_TYPE,DER_NAMEPLATE_RATING,DER_INTERCONNECTION_LOCATION,"
    "INTERCONNECTION_COST\n"
    "1,null,Solar,7.5,F1,0\n2,null,Solar,10,F1,0\n3,null,Battery Add-On,5,F1,0\n"
    "4,null,Solar,4,F9,0\n5,null,Solar,4,null,0\n"
)
U2_PLANNED = (
    "DER_TYPE,DER_NAMEPLATE_RATING,INVERTER_NAMEPLATE_RATING,PLANNED_INSTALLATION_DATE,"
    "DER_STATUS,DER_STATUS_RATIONALE,TOTAL_MW_FOR_SUBSTATION,INTERCONNECTION_QUEUE_REQUEST_ID,"
    "INTERCONNECTION_QUEUE_POSITION,DER_INTERCONNECTION_LOCATION\n"
    "Solar,2000,null,,null,null,,1,1/1/2023 1:00,F1\n"
)
EXPECTED = [
    # feeder_uid, has_hc, max_hc, der_type, installed n/kW, planned n/kW
    ("utility2:F1", True, 2.5, "energy_storage", 1, 5.0, 0, 0.0),
    ("utility2:F1", True, 2.5, "solar_pv", 2, 17.5, 1, 2000.0),
    ("utility2:F2", True, 0.1, None, 0, 0.0, 0, 0.0),
    ("utility2:F9", False, None, "solar_pv", 1, 4.0, 0, 0.0),
]
COLUMNS = (
    "feeder_uid, has_hosting_capacity, max_hc_mw, der_type, installed_count, installed_kw, "
    "planned_count, planned_kw"
)


def small() -> list[Parsed]:
    return [
        parse_text("utility2_circuits.csv", U2_FEEDERS),
        parse_text("utility2_install_der.csv", U2_INSTALLED),
        parse_text("utility2_planned_der.csv", U2_PLANNED),
    ]


def summary(con: duckdb.DuckDBPyConnection, where: str = "TRUE") -> list[tuple[object, ...]]:
    sql = f"SELECT {COLUMNS} FROM ({SUMMARY_SQL.read_text()}) WHERE {where} ORDER BY 1, 4"
    return con.execute(sql).fetchall()


def test_summary_on_duckdb() -> None:
    assert summary(to_duckdb(small())) == EXPECTED


def test_utility1_technologies_of_one_project_count_once() -> None:
    techs = (
        "SolarPV,EnergyStorageSystem,Wind,MicroTurbine,SynchronousGenerator,InductionGenerator,"
        "FarmWaste,FuelCell,CombinedHeatandPower,GasTurbine,Hydro,InternalCombustionEngine,"
        "SteamTurbine,Other"
    )
    text = "ProjectID,ProjectType,NamePlateRating,TotalChargesCESIR,TotalChargesConstruction,"
    text += f"CESIR_EST,SystemUpgrade_EST,ProjectCircuitID,Hybrid,{techs}\n"
    # MicroTurbine and GasTurbine both map to natural_gas
    text += "1,GAS,30,NULL,NULL,NULL,NULL,C1,Y,0,0,0,10" + ",0" * 5 + ",20,0,0,0,0\n"
    con = to_duckdb([parse_text("utility1_install_der.csv", text)])
    assert summary(con) == [("utility1:C1", False, None, "natural_gas", 1, 30.0, 0, 0.0)]


def test_summary_on_real_samples(seed_db: duckdb.DuckDBPyConnection) -> None:
    rows = summary(seed_db, "native_feeder_id = '36_39_01251'")
    assert rows == [
        ("utility2:36_39_01251", True, 1.3, "natural_gas", 1, 875.0, 1, 875.0),
        (
            "utility2:36_39_01251",
            True,
            1.3,
            "solar_pv",
            47,
            pytest.approx(458.04),
            53,
            pytest.approx(11669.99),
        ),
    ]
    total = seed_db.execute(
        f"SELECT sum(installed_count), sum(planned_count) FROM ({SUMMARY_SQL.read_text()}) "
        "WHERE native_feeder_id = '36_39_01251'"
    ).fetchone()
    assert total == (48, 54)


def test_summary_on_generated_data_counts_every_located_der(generated: list[Path]) -> None:
    con = to_duckdb(parse_path(p) for p in generated)
    got = con.execute(
        f"SELECT sum(installed_count + planned_count) FROM ({SUMMARY_SQL.read_text()})"
    ).fetchone()
    want = con.execute(
        "SELECT count(*) FROM (SELECT DISTINCT feeder_uid, der_type, status, native_id "
        "FROM ders WHERE feeder_uid IS NOT NULL)"
    ).fetchone()
    assert got == want


PG_URL = os.environ.get("WATTLAKE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.mark.postgres
def test_summary_transpiles_to_postgres_and_agrees() -> None:
    psycopg = pytest.importorskip("psycopg")
    try:
        conn = psycopg.connect(PG_URL, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    sql = sqlglot.transpile(SUMMARY_SQL.read_text(), read="duckdb", write="postgres")[0]
    parsed = small()
    with conn:
        cur = conn.cursor()
        for name in ("feeders", "ders"):
            spec = TABLES[name]
            cols = ", ".join(f"{c.name} {sql_type(c.type, 'postgres')}" for c in spec.columns)
            cur.execute(f"CREATE TEMP TABLE {name} ({cols})")
            rows = pa.concat_tables([p.tables[name] for p in parsed if name in p.tables])
            names = ", ".join(spec.column_names)
            with cur.copy(f"COPY {name} ({names}) FROM STDIN") as copy:
                for row in rows.to_pylist():
                    copy.write_row([row[c] for c in spec.column_names])
        cur.execute(f"SELECT {COLUMNS} FROM ({sql}) AS s ORDER BY 1, 4")
        got = [tuple(float(v) if k in (5, 7) else v for k, v in enumerate(r)) for r in cur]
    conn.close()
    assert got == EXPECTED
