"""The real seed files (shared/samples/hosting_capacity): counts the seed's README and the format
notes state, and zero unexplained rejects. Skipped when the samples are not present."""

from __future__ import annotations

from collections import Counter

import duckdb
import pytest

from .helpers import FIXTURES, Parsed, parse_path

# file -> (rows loaded per table, reject rules). The only expected reject: utility1 ProjectID
# 12979 appears on two lines (same project, different construction cost); the second is rejected.
EXPECTED = {
    "utility1_install_der.csv": ({"ders": 14_144}, {"duplicate_key": 1}),
    "utility1_planned_der.csv": ({"ders": 1_859}, {}),
    "utility2_circuits.csv": ({"feeders": 1_909}, {}),
    "utility2_install_der.csv": ({"ders": 25_537}, {}),
    "utility2_planned_der.csv": ({"ders": 30_957}, {}),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_rows_and_rejects(seed_parsed: dict[str, Parsed], name: str) -> None:
    parsed = seed_parsed[name]
    tables, rules = EXPECTED[name]
    assert {k: t.num_rows for k, t in parsed.tables.items()} == tables
    assert parsed.rules == Counter(rules)
    assert parsed.report.balanced


def test_the_one_reject_is_the_duplicate_project(seed_parsed: dict[str, Parsed]) -> None:
    (reject,) = seed_parsed["utility1_install_der.csv"].report.rejects
    assert (reject.line, reject.field, reject.rule) == (1224, "ProjectID", "duplicate_key")
    assert reject.raw.startswith("12979,NRESPHOTO,5000,")


@pytest.mark.parametrize(
    ("threshold", "count"), [(0, 1_554), (1, 1_321), (5, 438), (9.9, 111), (10, 0)]
)
def test_utility2_feeders_over_max_hc(
    seed_db: duckdb.DuckDBPyConnection, threshold: float, count: int
) -> None:
    sql = "SELECT count(*) FROM feeders WHERE utility = 'utility2' AND max_hc_mw > ?"
    assert seed_db.execute(sql, [threshold]).fetchone() == (count,)


@pytest.mark.parametrize(("status", "rows"), [("installed", 48), ("planned", 54)])
def test_feeder_36_39_01251_der_rows(
    seed_db: duckdb.DuckDBPyConnection, status: str, rows: int
) -> None:
    sql = "SELECT count(*) FROM ders WHERE feeder_uid = 'utility2:36_39_01251' AND status = ?"
    assert seed_db.execute(sql, [status]).fetchone() == (rows,)


def test_feeder_36_39_01251_attributes(seed_db: duckdb.DuckDBPyConnection) -> None:
    row = seed_db.execute(
        "SELECT voltage_kv, max_hc_mw, min_hc_mw, map_color, hca_refresh_date::VARCHAR "
        "FROM feeders WHERE feeder_uid = 'utility2:36_39_01251'"
    ).fetchone()
    assert row == (13.2, 1.3, 0.0, "green", "2022-10-01")


@pytest.mark.parametrize(
    ("status", "technology_rows", "project_rows"),
    # 14,120 (project, technology) cells > 0 in the installed file; one is on the rejected
    # duplicate line, so 14,119 load. 25 projects have every technology at 0: one row each.
    [("installed", 14_119, 25), ("planned", 1_733, 126)],
)
def test_utility1_unpivot(
    seed_db: duckdb.DuckDBPyConnection, status: str, technology_rows: int, project_rows: int
) -> None:
    sql = (
        "SELECT count(technology), count(*) - count(technology) FROM ders "
        "WHERE utility = 'utility1' AND status = ?"
    )
    assert seed_db.execute(sql, [status]).fetchone() == (technology_rows, project_rows)


def test_utility1_unpivot_total_is_14120(seed_parsed: dict[str, Parsed]) -> None:
    parsed = seed_parsed["utility1_install_der.csv"]
    loaded = sum(1 for r in parsed.rows("ders") if r["technology"] is not None)
    assert loaded + parsed.rules["duplicate_key"] == 14_120


def test_utility1_feeder_0033RO0291_has_18_installed_projects(
    seed_db: duckdb.DuckDBPyConnection,
) -> None:
    sql = (
        "SELECT count(DISTINCT native_id) FROM ders "
        "WHERE feeder_uid = 'utility1:0033RO0291' AND status = 'installed'"
    )
    assert seed_db.execute(sql).fetchone() == (18,)


def test_real_values_spot_checks(seed_db: duckdb.DuckDBPyConnection) -> None:
    chp = seed_db.execute(
        "SELECT technology, der_type, nameplate_kw, project_nameplate_kw FROM ders "
        "WHERE der_uid LIKE 'utility1:installed:4926:%' ORDER BY technology"
    ).fetchall()
    assert chp == [
        ("CombinedHeatandPower", "chp", 325.0, 325.0),
        ("SolarPV", "solar_pv", 325.0, 325.0),
    ]
    queue = seed_db.execute(
        "SELECT native_id, nameplate_kw, planned_install_date::VARCHAR, queue_date::VARCHAR, "
        "feeder_uid FROM ders WHERE der_uid = 'utility2:planned:300474'"
    ).fetchone()
    assert queue == ("300474", 11.4, "2020-07-24", "2020-07-13", "utility2:36_32_36552")
    hybrid = seed_db.execute(
        "SELECT count(DISTINCT native_id) FROM ders WHERE utility = 'utility1' "
        "AND status = 'installed' AND hybrid"
    ).fetchone()
    assert hybrid == (251,)


def test_utility1_planned_free_text_dates_load_as_null(seed_db: duckdb.DuckDBPyConnection) -> None:
    rows = seed_db.execute(
        "SELECT count(DISTINCT native_id) FILTER (WHERE planned_install_date IS NOT NULL), "
        "count(DISTINCT native_id) FROM ders WHERE utility = 'utility1' AND status = 'planned'"
    ).fetchone()
    # 100 lines carry a date (one as "12/15/2021 Per AW"); "On Hold", "ASAP", "Q3 2022" do not.
    assert rows == (100, 1_688)


def test_utility1_circuits_fixture_header_and_rollup() -> None:
    path = FIXTURES / "utility1_circuits.fixture_3rows.csv"
    if not path.is_file():
        pytest.skip(f"fixture not found at {path}")
    parsed = parse_path(path)
    assert parsed.report.rejects == []
    sections = parsed.rows("feeder_sections")
    assert [s["native_section_id"] for s in sections] == ["200000064", "200000175", "200000300"]
    assert sections[0]["section_uid"] == "utility1:1105354:200000064"
    assert sections[0]["max_hc_mw"] == 0.2
    feeders = {f["native_feeder_id"]: f for f in parsed.rows("feeders")}
    assert set(feeders) == {"1105354", "1105352"}
    big = feeders["1105354"]
    assert (big["section_count"], big["max_hc_mw"], big["min_hc_mw"], big["voltage_kv"]) == (
        2,
        3.7,
        0.1,
        4.8,
    )
    assert str(big["hca_refresh_date"]) == "2022-10-15"
    assert big["map_color"] == "color1"  # the fixture's made-up colour, lower-cased
    assert big["shape_length"] == pytest.approx(0.000422349 + 0.000365581)
