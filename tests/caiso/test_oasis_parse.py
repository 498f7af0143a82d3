"""The OASIS parser on real OASIS output, on damaged rows, and on hostile zips."""

from __future__ import annotations

import csv
import io
import zipfile
from collections import Counter
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.caiso.conftest import (
    ALL_NODES_ZIP,
    DAM_2025_EXCERPT,
    ERROR_1000,
    HUBS_EXCERPT,
    RTM_DST_EXCERPT,
    parse_bytes,
    sample,
)
from wattlake.errors import InputError
from wattlake.parsing import FileReport
from wattlake.sources.caiso import response
from wattlake.sources.caiso.parse import (
    OasisResponseError,
    OasisTryLaterError,
    decode_error_xml,
)
from wattlake.sources.caiso.schema import LMP

HUBS = ["AFPR_1_TOT_GEN-APND", "TH_NP15_GEN-APND", "TH_SP15_GEN-APND", "TH_ZP26_GEN-APND"]
COLUMN_OF = {"LMP": "lmp", "MCE": "energy", "MCC": "congestion", "MCL": "loss", "MGHG": "ghg"}


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def utc(s: str) -> datetime:
    return datetime.fromisoformat(s).astimezone(UTC)


# --- the real all-APNode file ------------------------------------------------------------------


def test_real_all_nodes_zip_parses_completely(real_lmp: tuple[pa.Table, FileReport]) -> None:
    table, report = real_lmp
    assert table.schema == LMP.arrow_schema
    assert report.rejects == []
    assert table.num_rows == 162_848 // 4 == 40_712  # 4 components per node-hour
    assert report.rows_read == table.num_rows and report.balanced
    per_node = Counter(table["node"].to_pylist())
    assert len(per_node) == 1_700
    assert sum(1 for n in per_node.values() if n == 24) == 1_693
    assert per_node["TH_NP15_GEN_ONPEAK-APND"] == 10 and per_node["TH_NP15_GEN_OFFPEAK-APND"] == 14
    starts = pc.unique(table["interval_start_utc"]).to_pylist()
    assert sorted(starts)[0] == datetime(2020, 1, 2, tzinfo=UTC) and len(starts) == 24
    assert pc.all(pc.equal(table["market"], "DAM")).as_py()
    assert table["ghg"].null_count == table.num_rows  # no MGHG rows in 2020
    for col in ("energy", "congestion", "loss"):
        assert table[col].null_count == 0
    assert round(pc.min(table["lmp"]).as_py(), 2) == -56.19
    # OPR_DT/OPR_HR are Pacific labels: 00:00Z is 2020-01-01 HE17, 08:00Z is 2020-01-02 HE1.
    first = table.filter(pc.equal(table["node"], "TH_NP15_GEN-APND")).to_pylist()
    assert (first[0]["opr_date"], first[0]["opr_hour"]) == (date(2020, 1, 1), 17)
    assert (first[8]["opr_date"], first[8]["opr_hour"]) == (date(2020, 1, 2), 1)
    key = pc.binary_join_element_wise(
        table["node"], table["interval_start_utc"].cast(pa.int64()).cast(pa.string()), "|"
    )
    assert len(pc.unique(key)) == table.num_rows  # primary key is unique


def test_lmp_equals_sum_of_components_on_every_node_hour(
    real_lmp: tuple[pa.Table, FileReport],
) -> None:
    table, _ = real_lmp
    parts = pc.add(pc.add(table["energy"], table["congestion"]), table["loss"])
    diff = pc.abs(pc.subtract(table["lmp"], parts))
    assert pc.max(diff).as_py() <= 1e-5 + 1e-9
    assert pc.count(diff).as_py() == 40_712


def test_values_match_hubs_excerpt_line_for_line(real_lmp: tuple[pa.Table, FileReport]) -> None:
    table, _ = real_lmp
    wide = {(r["node"], r["interval_start_utc"]): r for r in table.to_pylist() if r["node"] in HUBS}
    lines = list(csv.DictReader(io.StringIO(sample(HUBS_EXCERPT).decode())))
    assert len(lines) == 384
    for line in lines:
        row = wide[(line["NODE"], utc(line["INTERVALSTARTTIME_GMT"]))]
        assert row[COLUMN_OF[line["LMP_TYPE"]]] == float(line["MW"]), line
        assert row["interval_end_utc"] == utc(line["INTERVALENDTIME_GMT"])
        assert row["opr_date"] == date.fromisoformat(line["OPR_DT"])
        assert row["opr_hour"] == int(line["OPR_HR"])
        assert row["opr_interval"] == int(line["OPR_INTERVAL"])


def test_hubs_excerpt_alone_gives_the_same_rows(real_lmp: tuple[pa.Table, FileReport]) -> None:
    full, _ = real_lmp
    table, report = parse_bytes(sample(HUBS_EXCERPT))
    assert report.balanced and report.rows_rejected == 0 and table.num_rows == 96
    expected = full.filter(pc.is_in(full["node"], pa.array(HUBS))).drop_columns(["_source_file"])
    assert table.drop_columns(["_source_file"]).equals(expected)


# --- other real excerpts: MGHG (2025 DAM) and the DST fall-back day (RTM) -----------------------


def test_2025_dam_excerpt_carries_mghg_and_keeps_incomplete_hours() -> None:
    table, report = parse_bytes(sample(DAM_2025_EXCERPT))
    # Only HE18 of 09-01 and HE1 of 09-02 have all five components; the other 22 hours hold only
    # an LMP row: they load with null components and a warning (issue 7, item 4).
    assert table.num_rows == 24 and not report.rejects
    assert report.balanced
    assert report.warnings and report.warnings[0].startswith("22 intervals")
    assert table["energy"].null_count == 22 and table["lmp"].null_count == 0
    he1 = table.filter(pc.equal(table["opr_hour"], 1)).to_pylist()[0]
    assert he1["opr_date"] == date(2025, 9, 2)
    assert he1["interval_start_utc"] == datetime(2025, 9, 2, 7, tzinfo=UTC)
    assert (he1["lmp"], he1["energy"], he1["congestion"], he1["ghg"]) == (
        61.06009,
        63.81,
        -2.74991,
        0.0,
    )


def test_rtm_fall_back_excerpt_keeps_the_repeated_hour() -> None:
    raw = sample(RTM_DST_EXCERPT)
    table, report = parse_bytes(raw)
    assert report.balanced
    # Every interval loads; the only complete one is 09:00Z, labelled HE25.
    assert table.num_rows == 30 and report.rows_rejected == 0
    [row] = [r for r in table.to_pylist() if r["energy"] is not None]
    assert (row["market"], row["opr_hour"], row["opr_interval"]) == ("RTM", 25, 1)
    assert (row["lmp"], row["energy"], row["congestion"], row["loss"]) == (
        44.06993,
        45.82026,
        0.0,
        -1.75033,
    )
    # LMP rows alone: 30 five-minute intervals labelled 02, then 25 (the repeat), then 03.
    lines = raw.decode().splitlines()
    only_lmp = "\n".join([lines[0], *(ln for ln in lines[1:] if ",LMP,LMP_PRC," in ln)]) + "\n"
    table, report = parse_bytes(only_lmp.encode())
    assert report.rows_rejected == 0 and table.num_rows == 30
    assert Counter(table["opr_hour"].to_pylist()) == {2: 12, 25: 12, 3: 6}
    starts = table["interval_start_utc"].to_pylist()
    assert starts == sorted(starts) and len(set(starts)) == 30
    assert table["energy"].null_count == 30


# --- damaged rows -------------------------------------------------------------------------------


def _mutate(lines: list[str], idx: int, col: str, value: str) -> None:
    header = lines[0].split(",")
    fields = lines[idx].split(",")
    fields[header.index(col)] = value
    lines[idx] = ",".join(fields)


# (mutation, field, rule of the damaged line, rule of its siblings, wide rows lost)
CASES = [
    ("MW=abc", "MW", "bad_number", "sibling_rejected", 1),
    ("OPR_HR=xx", "OPR_HR", "bad_integer", "sibling_rejected", 1),
    ("OPR_HR=26", "OPR_HR", "bad_integer", "sibling_rejected", 1),
    ("OPR_DT=2020-02-30", "OPR_DT", "bad_date", "sibling_rejected", 1),
    ("LMP_TYPE=XYZ", "LMP_TYPE", "unknown_lmp_type", "sibling_rejected", 1),
    ("INTERVALENDTIME_GMT=2020-01-02T09:00:00-00:00", "INTERVALENDTIME_GMT",
     "inconsistent_interval", "inconsistent_interval", 1),
    ("INTERVALSTARTTIME_GMT=2020-13-02T05:00:00-00:00", "INTERVALSTARTTIME_GMT",
     "bad_timestamp", "missing_component", 1),
    ("NODE=", "NODE", "missing_field", "missing_component", 1),
    ("truncate", None, "bad_column_count", "missing_component", 1),
    ("duplicate", "LMP_TYPE", "duplicate_component", "duplicate_component", 1),
]  # fmt: skip


@pytest.mark.parametrize(("mutation", "field", "rule", "sibling_rule", "lost"), CASES)
def test_damaged_row_is_rejected_with_line_field_and_rule(
    mutation: str, field: str | None, rule: str, sibling_rule: str, lost: int
) -> None:
    lines = sample(HUBS_EXCERPT).decode().splitlines()
    target = 2  # physical line 3: an LMP row of AFPR_1_TOT_GEN-APND
    node, start = lines[target].split(",")[7], utc(lines[target].split(",")[0])
    if mutation == "truncate":
        lines[target] = lines[target].rsplit(",", 3)[0]
    elif mutation == "duplicate":
        lines.insert(target + 1, lines[target])
    else:
        col, value = mutation.split("=", 1)
        _mutate(lines, target, col, value)
    data = ("\n".join(lines) + "\n").encode()
    table, report = parse_bytes(data)
    assert report.balanced, (report.rows_read, report.rows_loaded, report.rows_rejected)
    assert table.num_rows == 96 - lost
    by_line = {r.line: r for r in report.rejects}
    damaged = by_line[target + 1]
    assert (damaged.field, damaged.rule) == (field, rule)
    assert damaged.raw == lines[target]
    assert report.rows_rejected == 4 + (mutation == "duplicate")
    for r in report.rejects:
        assert r.raw == lines[r.line - 1]  # every reject points at its own physical line
        if r.line not in (target + 1, target + 2) or mutation != "duplicate":
            assert r.rule in (rule, sibling_rule)
    keys = {(r["node"], r["interval_start_utc"]) for r in table.to_pylist()}
    assert (node, start) not in keys  # the damaged node-hour is not loaded, not even partly


def test_blank_lines_are_not_rows_and_line_numbers_stay_physical() -> None:
    lines = sample(HUBS_EXCERPT).decode().splitlines()
    lines.insert(5, "")
    _mutate(lines, 10, "MW", "oops")
    table, report = parse_bytes(("\n".join(lines) + "\n").encode())
    assert report.balanced and table.num_rows == 95
    bad = next(r for r in report.rejects if r.rule == "bad_number")
    assert bad.line == 11 and bad.raw == lines[10]


def test_per_component_members_are_pivoted_together() -> None:
    lines = sample(HUBS_EXCERPT).decode().splitlines()
    members = {
        f"part_{t}.csv": (
            "\n".join([lines[0], *(ln for ln in lines if f",{t}," in ln)]) + "\n"
        ).encode()
        for t in ("LMP", "MCE", "MCC", "MCL")
    }
    table, report = parse_bytes(zip_of(members))
    whole, _ = parse_bytes(sample(HUBS_EXCERPT))
    assert report.rows_rejected == 0
    assert table.drop_columns(["_source_file"]).equals(whole.drop_columns(["_source_file"]))


# --- error documents ----------------------------------------------------------------------------


def _error_doc(code: str, text: str) -> bytes:
    return (
        sample(ERROR_1000)
        .replace(b">1000<", f">{code}<".encode())
        .replace(b"No data returned for the specified selection", text.encode())
    )


def test_real_no_data_document_is_an_empty_success() -> None:
    assert decode_error_xml(sample(ERROR_1000)) == (
        "1000",
        "No data returned for the specified selection",
    )
    for data in (zip_of({"INVALID_REQUEST.xml": sample(ERROR_1000)}), sample(ERROR_1000)):
        table, report = parse_bytes(data)
        assert table.num_rows == 0 and report.balanced and report.rows_read == 0
        assert report.note is not None and "1000" in report.note


@pytest.mark.parametrize(
    ("code", "text", "cls", "hint"),
    [
        ("1015", "GroupZip DownLoad is in Processing", OasisTryLaterError, "again"),
        ("1004", "Data can be requested for period of 31 days only", OasisResponseError, "30 days"),
        ("1017", "Please select a maximum of 10 nodes", OasisResponseError, "10 nodes"),
        ("1099", "Something new", OasisResponseError, "check the request"),
    ],
)
def test_error_documents_raise_with_code_and_text(
    code: str, text: str, cls: type[Exception], hint: str
) -> None:
    with pytest.raises(cls) as exc:
        parse_bytes(zip_of({"INVALID_REQUEST.xml": _error_doc(code, text)}))
    assert type(exc.value) is cls
    assert isinstance(exc.value, OasisResponseError) and exc.value.code == code
    assert code in str(exc.value) and text in str(exc.value) and hint in str(exc.value)


def test_error_xml_parser_is_hardened() -> None:
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<r><ERROR><ERR_CODE>1001</ERR_CODE><ERR_DESC>&x;</ERR_DESC></ERROR></r>"
    )
    code, text = decode_error_xml(xxe) or ("", "")
    assert code == "1001" and "root" not in text
    lol = (
        b"<!DOCTYPE r ["
        + b"".join(
            b'<!ENTITY e%d "%s">' % (i, (b"&e%d;" % (i - 1)) * 10 if i else b"lol")
            for i in range(9)
        )
        + b"]><r><ERR_CODE>1</ERR_CODE><ERR_DESC>&e8;</ERR_DESC></r>"
    )
    try:  # libxml2 either leaves the entities alone or refuses the amplification
        result = decode_error_xml(lol)
    except InputError as exc:
        assert "amplification" in str(exc)
    else:
        assert result is not None and len(result[1]) < 1000
    assert decode_error_xml(b"<a><b>no error here</b></a>") is None
    with pytest.raises(InputError, match="not well-formed"):
        decode_error_xml(b"<a><b></a>")


def test_xml_report_instead_of_csv_is_refused_with_advice() -> None:
    with pytest.raises(InputError, match="resultformat=6"):
        parse_bytes(zip_of({"x.xml": b"<OASISReport><REPORT_DATA/></OASISReport>"}))


# --- hostile or broken zips ---------------------------------------------------------------------


def _bomb() -> bytes:
    return zip_of({"bomb.csv": b"\0" * (20 << 20)})  # 20 MiB of zeros deflates ~1000:1


def _crc_broken() -> bytes:
    data = bytearray(zip_of({"a.csv": sample(HUBS_EXCERPT)}))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[0]
    data[30 + len("a.csv") + info.compress_size // 2] ^= 0xFF  # the middle of the deflated data
    return bytes(data)


HOSTILE = [
    ("truncated", lambda: sample(ALL_NODES_ZIP)[:600_000], "corrupt zip"),
    ("garbage after magic", lambda: b"PK\x03\x04" + b"\x00" * 100, "corrupt zip"),
    ("bad CRC", _crc_broken, "corrupt zip member"),
    ("zip bomb", _bomb, "zip bomb"),
    ("dot-dot", lambda: zip_of({"../../etc/cron.d/x.csv": b"a"}), "escapes the archive"),
    ("absolute", lambda: zip_of({"/etc/passwd.csv": b"a"}), "escapes the archive"),
    ("drive letter", lambda: zip_of({"C:\\Windows\\x.csv": b"a"}), "escapes the archive"),
    ("nested dot-dot", lambda: zip_of({"a/../../b.csv": b"a"}), "escapes the archive"),
    ("not a zip", lambda: b"hello world", "neither a zip"),
    ("no members", lambda: zip_of({"readme.txt": b"hi"}), "no .csv or .xml"),
    ("not an LMP csv", lambda: zip_of({"a.csv": b"INTERVALSTARTTIME_GMT,X\n1,2\n"}), "missing"),
]


@pytest.mark.parametrize(("case", "make", "message"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_or_broken_zip_is_refused(case: str, make: object, message: str) -> None:
    data = make()  # type: ignore[operator]
    with pytest.raises(InputError) as exc:
        parse_bytes(data)
    assert message in str(exc.value)
    assert exc.value.hint  # every refusal says what to do


def test_total_uncompressed_size_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(response, "MAX_UNCOMPRESSED_BYTES", 10_000)
    with pytest.raises(InputError, match="byte limit"):
        parse_bytes(zip_of({"a.csv": sample(HUBS_EXCERPT)}))


def test_real_zip_is_well_inside_the_limits() -> None:
    _zf, members = response.check_zip(sample(ALL_NODES_ZIP))
    info = members[0]
    assert info.file_size / info.compress_size < response.MAX_COMPRESSION_RATIO / 4
    assert info.file_size < response.MAX_UNCOMPRESSED_BYTES / 16


@pytest.mark.parametrize("tail", [b"", b"\n", b"\n\n\n"])
def test_header_only_csv_is_an_empty_file_not_an_error(tail: bytes) -> None:
    header = sample(HUBS_EXCERPT).split(b"\n", 1)[0]
    table, report = parse_bytes(zip_of({"a.csv": header + tail}))
    assert table.num_rows == 0 and report.rows_read == 0 and report.rejects == []
