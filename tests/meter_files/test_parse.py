"""Parser behaviour, table-driven: layouts, encodings, and every kind of broken row."""

from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from tests._support import samples

from wattlake.errors import InputError
from wattlake.parsing import FileReport
from wattlake.sources.meter_files.parse import parse_meter_file
from wattlake.sources.meter_files.schema import LP, TOU_A, TOU_B

LP_HEAD = ",".join(LP.header)
TOUB_HEAD = ",".join(TOU_B.header)
TOUA_HEAD = ",".join(TOU_A.header)


def parse(text: str | bytes) -> tuple[FileReport, list[dict[str, object]], str]:
    data = text.encode() if isinstance(text, str) else text
    report = FileReport("f.csv")
    batches = list(parse_meter_file(io.BytesIO(data), report))
    rows = [r for _, t in batches for r in t.to_pylist()]
    table = batches[0][0] if batches else ""
    return report, rows, table


def test_lp_row_fields_and_times() -> None:
    report, rows, table = parse(
        f"{LP_HEAD}\n210095893,210095893,ED031000001,31/08/2015 00:45:00,Import Wh Total,1.500000,kwh,GN\n"
    )
    assert table == "meter_reads" and report.rows_read == 1 and not report.rejects
    row = rows[0]
    assert row["reading_local"] == datetime(2015, 8, 31, 0, 45)
    # NEM market time is UTC+10 all year.
    assert row["reading_utc"].replace(tzinfo=None) == datetime(2015, 8, 30, 14, 45)
    assert row["local_date"] == date(2015, 8, 31)
    assert row["value"] == 1.5 and row["status"] == "GN" and row["layout"] == "LP"
    assert row["_source_file"] == "f.csv"


def test_tou_b_unpadded_hour_crlf_and_bom() -> None:
    text = (
        "\ufeff"
        + TOUB_HEAD
        + "\r\n212621147,212621147,ED011300245,12/09/2018 5:00,A,B1,Import Wh Total,105.6,kwh\r\n\r\n"
    )
    report, rows, table = parse(text.encode("utf-8"))
    assert table == "meter_reads" and report.rows_read == 1 and not report.rejects
    assert rows[0]["reading_local"] == datetime(2018, 9, 12, 5, 0)
    assert (rows[0]["quality"], rows[0]["stream"], rows[0]["layout"]) == ("A", "B1", "TOU_B")


def test_tou_a_registers_and_ole_zero_date() -> None:
    line = (
        "212621145,212621145,ED011300245,11/09/2015 00:41:02,Export Wh Total,409646.700000,"
        "1275.368000,30/12/1899 00:00:00,kwh,.....R....,Total,False,26,01/09/2015 00:00:00,Unified"
    )
    report, rows, table = parse(f"{TOUA_HEAD}\n{line}\n")
    assert table == "meter_registers" and report.rows_read == 1 and not report.rejects
    row = rows[0]
    assert row["energy"] == 409646.7 and row["max_demand"] == 1275.368
    assert row["max_demand_local"] is None  # the exporter's "no time"
    assert row["billing_reset_local"] == datetime(2015, 9, 1)
    assert row["dls_active"] is False and row["billing_reset_count"] == 26
    assert (row["period"], row["rate"]) == ("Total", "Unified")


GOOD = "1,1,P,12/09/2018 5:00,A,B1,Import Wh Total,7,kwh"


@pytest.mark.parametrize(
    ("bad_line", "line", "field", "rule"),
    [
        ("1,1,P,12/09/2018 5:00,A,B1,Import Wh Total", 3, None, "wrong_field_count"),
        ("1,1,P,12/09/2018 5:00,A,B1,Import Wh Total,7,kwh,extra", 3, None, "wrong_field_count"),
        ("1,1,P,31/02/2018 5:00,A,B1,Import Wh Total,7,kwh", 3, "reading_local", "bad_date"),
        ("1,1,P,2018-09-12 5:00,A,B1,Import Wh Total,7,kwh", 3, "reading_local", "bad_date"),
        ("1,1,P,12/09/2018 25:00,A,B1,Import Wh Total,7,kwh", 3, "reading_local", "bad_date"),
        ("1,1,P,12/09/2018 5:00,A,B1,Import Wh Total,7.2.1,kwh", 3, "value", "bad_number"),
        ("1,1,P,12/09/2018 5:00,A,B1,Import Wh Total,,kwh", 3, "value", "missing_field"),
        (",1,P,12/09/2018 5:00,A,B1,Import Wh Total,7,kwh", 3, "meter_code", "missing_field"),
        ("1,1,P,,A,B1,Import Wh Total,7,kwh", 3, "reading_local", "missing_field"),
    ],
)
def test_bad_row_is_rejected_and_the_rest_loads(
    bad_line: str, line: int, field: str | None, rule: str
) -> None:
    text = f"{TOUB_HEAD}\n{GOOD}\n{bad_line}\n{GOOD.replace('5:00', '6:00')}\n"
    report, rows, _ = parse(text)
    assert [(r.line, r.field, r.rule) for r in report.rejects] == [(line, field, rule)]
    assert report.rejects[0].raw.startswith(bad_line[:10])
    assert len(rows) == 2 and report.rows_read == 3


def test_line_numbers_survive_blank_and_unsplittable_lines() -> None:
    text = (
        f"{TOUB_HEAD}\n{GOOD}\n\n1,2\n"  # line 3 blank, line 4 short
        f"{GOOD.replace('7,kwh', 'x,kwh')}\n"  # line 5 bad number
        f"{GOOD.replace('5:00', '6:00')}\n\n"
    )
    report, rows, _ = parse(text)
    assert [(r.line, r.rule) for r in report.rejects] == [
        (4, "wrong_field_count"),
        (5, "bad_number"),
    ]
    assert len(rows) == 2 and report.rows_read == 4


def test_a_line_of_spaces_is_blank_and_keeps_later_line_numbers() -> None:
    text = f"{TOUB_HEAD}\n{GOOD}\n   \n{GOOD.replace('7,kwh', 'x,kwh')}\n"
    report, rows, _ = parse(text)
    assert [(r.line, r.rule) for r in report.rejects] == [(4, "bad_number")]
    assert len(rows) == 1 and report.rows_read == 2


def test_blocks_of_any_size_give_the_same_rows_and_rejects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Blocks parse on several threads; cutting the file anywhere changes nothing: every
    kind of reject keeps its physical line and the first of a repeated key wins."""
    good = [
        GOOD.replace("12/09/2018 5:00", f"{d:02d}/09/2018 {h}:00")
        for d in (1, 2)
        for h in range(12)
    ]
    body = [
        *good[:5], "", good[2], "1,2", '"ab,c', GOOD.replace("7,kwh", "1e400,kwh"),
        *good[5:15], "   ", GOOD.replace("7,kwh", "x,kwh"), "\x00", *good[15:],
    ]  # fmt: skip
    data = "\n".join([TOUB_HEAD, *body]).encode() + b"\n\xe9,\n"
    whole = parse(data)
    assert sorted((r.line, r.rule) for r in whole[0].rejects) == [
        (8, "duplicate_key"), (9, "wrong_field_count"), (10, "bad_quote"), (11, "bad_number"),
        (23, "bad_number"), (24, "control_character"), (34, "bad_encoding"),
    ]  # fmt: skip
    import wattlake.sources.meter_files.parse as parse_mod

    for size in (1, 90, 300, 1000):
        monkeypatch.setattr(parse_mod, "BLOCK_SIZE", size)
        report, rows, _ = parse(data)
        assert [(r.line, r.rule, r.raw) for r in report.rejects] == [
            (r.line, r.rule, r.raw) for r in whole[0].rejects
        ]
        assert rows == whole[1] and report.rows_read == whole[0].rows_read


def test_unknown_header_names_the_expected_ones() -> None:
    with pytest.raises(InputError) as err:
        parse("a,b,c\n1,2,3\n")
    assert "MeterPoint Code" in str(err.value) and "MeterCode" in str(err.value)


def test_header_only_file_reads_nothing() -> None:
    report, rows, _ = parse(LP_HEAD + "\n")
    assert report.rows_read == 0 and rows == []


def test_real_samples_parse_without_rejects() -> None:
    folder = samples("meter_files")
    files = sorted(folder.rglob("*.csv"))
    assert len(files) == 12
    for path in files:
        report = FileReport(path.name)
        rows = sum(t.num_rows for _, t in parse_meter_file(path.open("rb"), report))
        expected = sum(1 for line in path.read_text().splitlines()[1:] if line.strip())
        assert (report.rows_read, rows, report.rejects) == (expected, expected, []), path.name
