"""The shared parser's generic behaviour: rejects with file/line/reason, quoting, blank lines,
encodings, null tokens, units, id rules, type mapping and the row accounting."""

from __future__ import annotations

import datetime as dt
import io
import tomllib
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattlake.errors import InputError
from wattlake.parsing import FileReport
from wattlake.sources.hosting_capacity import parse_hosting_capacity, parser_for
from wattlake.sources.hosting_capacity.formats import FileFormat, parse_format

from .helpers import fmt_named, parse_bytes, parse_text

U2_FEEDERS = (
    "Master_CDF,feeder_voltage,feeder_max_hc,feeder_min_hc,feeder_dg_connected_since_refresh,"
    "hca_refresh_date,color,shape_length\n"
)
U2_DER = (
    "DER_ID,SERVICE_STREET_ADDRESS,DER_TYPE,DER_NAMEPLATE_RATING,DER_INTERCONNECTION_LOCATION,"
    "INTERCONNECTION_COST\n"
)


def make_format(toml: str) -> FileFormat:
    return parse_format(tomllib.loads(toml), Path("test_format.toml"))


TEST_FEEDERS = make_format(
    """
utility = "testco"
dataset = "circuits"
files = ["testco_circuits*.csv"]
verification = "published_field_list"
null_tokens = ["n/a"]
[columns]
"Feeder" = "native_feeder_id"
"Max HC (kW)" = "max_hc_mw"
"Voltage (V)" = "voltage_kv"
"Substation" = "substation"
"Studied" = "hca_refresh_date"
[units]
max_hc_mw = "kW"
voltage_kv = "V"
[dates]
hca_refresh_date = ["%d.%m.%Y"]
[ids]
upper = true
strip_float_suffix = true
null_values = ["none"]
"""
)


def test_adding_a_utility_is_a_format_file_with_unit_conversion() -> None:
    text = (
        "Feeder,Max HC (kW),Voltage (V),Substation,Studied\n"
        "f-01,1250,13200,North,31.12.2023\n"
        "2204511.0,n/a,4160,South,01.02.2024\n"
        "None,1,1,West,01.02.2024\n"
    )
    parsed = parse_text("testco_circuits.csv", text, TEST_FEEDERS)
    assert [(r.line, r.field, r.rule) for r in parsed.report.rejects] == [
        (4, "Feeder", "missing_id")
    ]
    rows = parsed.rows("feeders")
    assert [(r["feeder_uid"], r["max_hc_mw"], r["voltage_kv"]) for r in rows] == [
        ("testco:F-01", 1.25, 13.2),
        ("testco:2204511", None, 4.16),
    ]
    assert rows[0]["hca_refresh_date"] == dt.date(2023, 12, 31)


@pytest.mark.parametrize(
    ("line", "field", "rule"),
    [
        ("36_01_1,13.2,abc,0,0,2022/10/01 00:00:00+00,red,1", "feeder_max_hc", "bad_number"),
        ("36_01_1,13.2,1,0,0,2022/13/01 00:00:00+00,red,1", "hca_refresh_date", "bad_date"),
        ("36_01_1,13.2,1,0,0,2023/02/30 00:00:00+00,red,1", "hca_refresh_date", "bad_date"),
        ("36_01_1,13.2,1,0,0,yesterday,red,1", "hca_refresh_date", "bad_date"),
        ("null,13.2,1,0,0,2022/10/01 00:00:00+00,red,1", "Master_CDF", "missing_id"),
        ("36_01_1,13.2,1,0,0,2022/10/01 00:00:00+00,red", None, "bad_column_count"),
        ("36_01_1,13.2,1,0,0,2022/10/01 00:00:00+00,red,1,extra", None, "bad_column_count"),
        ("36_01_0,13.2,1,0,0,2022/10/01 00:00:00+00,red,1", "Master_CDF", "duplicate_key"),
    ],
)
def test_bad_row_goes_to_rejects_with_line_and_reason(
    line: str, field: str | None, rule: str
) -> None:
    text = U2_FEEDERS + "36_01_0,13.2,1,0,0,2022/10/01 00:00:00+00,red,1\n" + line + "\n"
    text += "36_01_9,4.8,2,0,0,2022/10/01 00:00:00+00,red,1\n"
    parsed = parse_text("utility2_circuits.csv", text)
    (reject,) = parsed.report.rejects
    assert (reject.source_file, reject.line, reject.field, reject.rule) == (
        "utility2_circuits.csv",
        3,
        field,
        rule,
    )
    assert reject.raw == line
    assert [r["native_feeder_id"] for r in parsed.rows("feeders")] == ["36_01_0", "36_01_9"]


def test_first_problem_of_a_row_is_reported_once() -> None:
    text = U2_FEEDERS + "36_01_1,x,y,0,0,bad,red,1\n"
    parsed = parse_text("utility2_circuits.csv", text)
    assert [(r.field, r.rule) for r in parsed.report.rejects] == [("feeder_voltage", "bad_number")]


def test_quoted_values_blank_lines_and_line_numbers() -> None:
    text = (
        "\ufeff" + U2_DER + '1,"12 Main St, Apt 4\nRear",Solar,7.6,36_01_1,0\n'
        "\n"
        '2,null,"Natural Gas",1,000,36_01_1,0\n'
        "3,null,Solar,oops,36_01_1,0\n"
    )
    parsed = parse_text("utility2_install_der.csv", text)
    # Quoted fields never span lines (issue 7, item 1): the address broken over lines 2-3 is
    # two rejected lines, each on its own; a quoted comma within a line is fine (line 5's
    # "Natural Gas" is quoted; its unquoted 1,000 is one field too many).
    assert [(r.line, r.field, r.rule) for r in parsed.report.rejects] == [
        (2, None, "bad_quote"),
        (3, None, "bad_column_count"),
        (5, None, "bad_column_count"),  # unquoted thousands separator: one field too many
        (6, "DER_NAMEPLATE_RATING", "bad_number"),
    ]
    assert parsed.report.rejects[0].raw == '1,"12 Main St, Apt 4'
    assert parsed.report.rejects[3].raw == "3,null,Solar,oops,36_01_1,0"
    assert parsed.rows("ders") == []
    one_line = U2_DER + '1,"12 Main St, Apt 4 Rear",Solar,7.6,36_01_1,0\n'
    assert [
        r["native_id"] for r in parse_text("utility2_install_der.csv", one_line).rows("ders")
    ] == ["1"]


def test_thousands_separator_when_declared() -> None:
    fmt = replace(fmt_named("utility2_install_der"), thousands_separator=",")
    text = U2_DER + '2,null,Solar,"1,250.5",36_01_1,"12,000"\n'
    (row,) = parse_text("x.csv", text, fmt).rows("ders")
    assert (row["nameplate_kw"], row["interconnection_cost_usd"]) == (1250.5, 12000.0)


def test_null_tokens_are_case_insensitive_and_trimmed() -> None:
    text = U2_DER + "1, NULL ,Solar,  ,  Null  ,\n2,null,None,5,null,0\n"
    rows = parse_text("utility2_install_der.csv", text).rows("ders")
    assert [(r["nameplate_kw"], r["feeder_uid"], r["interconnection_cost_usd"]) for r in rows] == [
        (None, None, None),
        (5.0, None, 0.0),
    ]
    assert [(r["native_type"], r["der_type"]) for r in rows] == [
        ("Solar", "solar_pv"),
        ("None", "unknown"),
    ]


def test_der_type_mapping_default_and_missing() -> None:
    text = U2_DER + "1,null,Tidal,5,36_01_1,0\n2,null,null,5,36_01_1,0\n3,null,SOLAR,5,x,0\n"
    rows = parse_text("utility2_install_der.csv", text).rows("ders")
    assert [r["der_type"] for r in rows] == ["other", "unknown", "solar_pv"]


def test_encoding_declared_in_the_format() -> None:
    fmt = replace(TEST_FEEDERS, encoding="cp1252")
    data = "Feeder,Max HC (kW),Voltage (V),Substation,Studied\nF1,1,1,Québec,01.01.2024\n"
    (row,) = parse_bytes("x.csv", data.encode("cp1252"), fmt).rows("feeders")
    assert row["substation"] == "Québec"
    # Declared UTF-8: the line with the cp1252 byte is rejected on its own, not the file.
    wrong = parse_bytes("x.csv", data.encode("cp1252"), replace(TEST_FEEDERS, encoding="utf-8"))
    assert wrong.rows("feeders") == []
    assert [(r.line, r.rule) for r in wrong.report.rejects] == [(2, "bad_encoding")]
    assert "Qu\\xe9bec" in wrong.report.rejects[0].raw


def test_missing_column_names_the_column_and_the_format_file() -> None:
    text = U2_FEEDERS.replace("feeder_max_hc", "max_hc_feeder") + "36_01_1,1,1,0,0,,red,1\n"
    with pytest.raises(InputError, match=r"feeder_max_hc.*utility2_circuits") as info:
        parse_text("utility2_circuits.csv", text)
    assert "utility2_circuits.toml" in str(info.value)


def test_optional_column_may_be_absent() -> None:
    header = (
        "Feeder,Substation,Network,Feeder Voltage (kV),Maximum Hosting Capacity (MW),"
        "Minimum Hosting Capacity (MW),Queued Generation (MW),Connected Generation (MW),"
        "Refresh Date\n"
    )
    (row,) = parse_text("coned_circuits.csv", header + "1B01,S,N,13,1,0,0,0,1/1/2024\n").rows(
        "feeders"
    )
    assert row["dg_connected_since_refresh_mw"] is None


def test_header_matching_ignores_case_and_spaces() -> None:
    text = " master_cdf ,FEEDER_VOLTAGE,feeder_max_hc,feeder_min_hc,"
    text += "feeder_dg_connected_since_refresh,hca_refresh_date,color,shape_length\n"
    text += "36_01_1,13.2,1,0,0,2022/10/01,Red,1\n"
    (row,) = parse_text("utility2_circuits.csv", text).rows("feeders")
    assert (row["feeder_uid"], row["voltage_kv"], row["map_color"]) == (
        "utility2:36_01_1",
        13.2,
        "red",
    )


def test_empty_and_header_only_files() -> None:
    with pytest.raises(InputError, match="empty"):
        parse_bytes("utility2_circuits.csv", b"")
    parsed = parse_text("utility2_circuits.csv", U2_FEEDERS)
    assert parsed.tables["feeders"].num_rows == 0
    assert parsed.report.rows_read == 0


def test_unknown_file_name_names_the_known_patterns() -> None:
    with pytest.raises(InputError, match=r"utility2_circuits\*\.csv") as info:
        parser_for("mystery_feeders.csv")
    assert "mystery_feeders.csv" in str(info.value)


def test_parser_for_binds_the_format_and_fits_the_parser_protocol() -> None:
    parser = parser_for("/lake/bronze/2024/UTILITY2_CIRCUITS.CSV")
    assert parser.fmt.name == "utility2_circuits"
    report = FileReport("f.csv")
    batches = list(parser(io.BytesIO((U2_FEEDERS + "a,1,1,1,1,,red,1\n").encode()), report))
    assert [(name, t.num_rows) for name, t in batches] == [("feeders", 1)]


def test_wide_reject_mode_and_project_rows() -> None:
    fmt = fmt_named("utility1_install_der")
    assert fmt.wide is not None
    techs = ",".join(fmt.wide.technologies)
    header = "ProjectID,ProjectType,NamePlateRating,TotalChargesCESIR,TotalChargesConstruction,"
    header += f"CESIR_EST,SystemUpgrade_EST,ProjectCircuitID,Hybrid,{techs}\n"
    text = header + "7,Transmission,4000,NULL,NULL,NULL,NULL,T1,N" + ",0" * 14 + "\n"
    (row,) = parse_text("utility1_install_der.csv", text).rows("ders")
    assert (row["der_uid"], row["technology"], row["der_type"], row["nameplate_kw"]) == (
        "utility1:installed:7",
        None,
        "other",
        4000.0,
    )
    strict = replace(fmt, wide=replace(fmt.wide, no_technology="reject"))
    parsed = parse_text("x.csv", text, strict)
    assert [(r.line, r.rule) for r in parsed.report.rejects] == [(2, "no_technology")]


def test_wide_bad_technology_value_rejects_the_line() -> None:
    fmt = fmt_named("utility1_install_der")
    assert fmt.wide is not None
    header = "ProjectID,ProjectType,NamePlateRating,TotalChargesCESIR,TotalChargesConstruction,"
    header += (
        f"CESIR_EST,SystemUpgrade_EST,ProjectCircuitID,Hybrid,{','.join(fmt.wide.technologies)}\n"
    )
    text = header + "8,PVESS,10,NULL,NULL,NULL,NULL,T1,maybe,5,five" + ",0" * 12 + "\n"
    parsed = parse_text("utility1_install_der.csv", text)
    assert [(r.field, r.rule) for r in parsed.report.rejects] == [("Hybrid", "bad_boolean")]
    assert parsed.report.rows_read == 1


def test_note_counts_physical_data_lines() -> None:
    report = FileReport("utility2_circuits.csv")
    text = U2_FEEDERS + "a,1,1,1,1,,red,1\nb,1,1,1,1,,red,1\n"
    list(parse_hosting_capacity(io.BytesIO(text.encode()), report, fmt_named("utility2_circuits")))
    assert report.note == "2 data lines (utility2_circuits)"


CELL = st.sampled_from(["", "null", "1", "2.5", "-3", "x", "1e3", "36_01_1", "10000", "7/4/2023"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.lists(CELL, min_size=22, max_size=24), max_size=12))
def test_every_line_is_accounted_for(rows: list[list[str]]) -> None:
    """Whatever the cells hold, rows_read == rows_loaded + rows_rejected (asserted by the
    helper), every data line is read, and every reject points at a data line."""
    fmt = fmt_named("utility1_planned_der")
    assert fmt.wide is not None
    header = "ProjectType,NamePlateRating,InServiceDate,ProjectStatus,ProjectID,CompletionDate,"
    header += f"ProjectCircuitID,Hybrid,{','.join(fmt.wide.technologies)}"
    lines = [header, *(",".join(r) for r in rows)]
    parsed = parse_bytes("utility1_planned_der.csv", "\r\n".join(lines).encode())
    assert parsed.report.rows_read >= len(rows)
    assert all(r.line is not None and 2 <= r.line <= len(rows) + 1 for r in parsed.report.rejects)
    assert all(r.raw == lines[r.line - 1] for r in parsed.report.rejects if r.line)


def test_unterminated_quote_costs_only_its_own_line() -> None:
    text = U2_DER + '1,"oops,Solar,5,x,0\n2,null,Solar,5,x,0\n'
    parsed = parse_text("utility2_install_der.csv", text)
    assert [(r.line, r.rule) for r in parsed.report.rejects] == [(2, "bad_quote")]
    assert parsed.report.rejects[0].raw == '1,"oops,Solar,5,x,0'
    assert [r["native_id"] for r in parsed.rows("ders")] == ["2"]


def test_unreadable_csv_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise pa.ArrowInvalid("straddling object straddles two block boundaries")

    monkeypatch.setattr(pacsv, "read_csv", broken)
    with pytest.raises(InputError, match=r"utility2_circuits\.csv: not readable as CSV"):
        parse_text("utility2_circuits.csv", U2_FEEDERS + "a,1,1,1,1,,red,1\n")
