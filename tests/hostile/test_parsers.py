"""Hostile input at the parser level (issue 7, items 1-6 and the parser parts of 11).

Every physical data line is loaded or rejected on its own: a stray quote, a latin-1 byte, a NUL,
a non-finite number, a 3 MB line or a repeated key costs its own line and nothing else.
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from tests.caiso.conftest import DAM_2025_EXCERPT, RTM_DST_EXCERPT, SAMPLES, parse_bytes, sample
from tests.hosting_capacity.helpers import parse_bytes as hc_parse
from wattlake.errors import InputError
from wattlake.parsing import FileReport
from wattlake.sources.meter_files import parse as meter_parse
from wattlake.sources.meter_files.parse import parse_meter_file

LP_HEADER = "MeterPoint Code,Serial Number,Plant Code,Date/Time,Data Type,Data Value,Units,Status"
HC_HEADER = (
    "Master_CDF,feeder_voltage,feeder_max_hc,feeder_min_hc,feeder_dg_connected_since_refresh,"
    "hca_refresh_date,color,shape_length"
)


def lp_line(i: int, value: str | None = None, meter: str = "210095893") -> str:
    at = datetime(2015, 9, 1) + timedelta(minutes=15 * (i + 1))
    v = value if value is not None else f"{i % 7}.5"
    return f"{meter},{meter},ED031000001,{at:%d/%m/%Y %H:%M:%S},Import Wh Total,{v},kwh,"


def lp_file(n: int, *, eol: str = "\n") -> list[str]:
    return [LP_HEADER] + [lp_line(i) for i in range(n)]


def parse_meter(data: bytes, **kw: object) -> tuple[pa.Table, FileReport]:
    report = FileReport("LP_test.csv")
    tables = [t for _n, t in parse_meter_file(io.BytesIO(data), report, **kw)]  # type: ignore[arg-type]
    table = pa.concat_tables(tables) if tables else pa.table({})
    report.rows_loaded = table.num_rows
    assert report.balanced, (report.rows_read, report.rows_loaded, report.rows_rejected)
    return table, report


def rules(report: FileReport) -> Counter[tuple[int | None, str]]:
    return Counter((r.line, r.rule) for r in report.rejects)


# --- 1. quoted fields never span lines -------------------------------------------------------


def test_stray_quote_costs_its_own_line_only() -> None:
    lines = lp_file(5000)
    lines[2] = '"' + lines[2]  # data line 2 = physical line 3
    table, report = parse_meter("\n".join(lines).encode())
    assert report.rows_read == 5000
    assert table.num_rows == 4999
    assert rules(report) == {(3, "bad_quote"): 1}
    assert report.rejects[0].raw == lines[2]


def test_quote_opening_mid_line_and_well_quoted_fields() -> None:
    lines = lp_file(6)
    lines[1] = lines[1].replace("ED031000001", '"ED031000001"')  # well quoted: loads
    lines[2] = lines[2].replace(",kwh,", ',"kw,h",')  # quoted comma: loads, units = kw,h
    lines[4] = lines[4].replace(",kwh,", ',"kwh,')  # opens a quote that never closes
    table, report = parse_meter("\r\n".join(lines).encode())
    assert report.rows_read == 6 and table.num_rows == 5
    assert rules(report) == {(5, "bad_quote"): 1}
    assert "kw,h" in table.column("units").to_pylist()
    assert table.column("plant_code").to_pylist()[0] == "ED031000001"


def test_hosting_capacity_stray_quote_loses_one_feeder() -> None:
    rows = [
        f"36_13_{81000 + i},13.2,1.1,0.1,0.01,2022/10/01 00:00:00+00,green,1.5" for i in range(1000)
    ]
    rows[1] = '"' + rows[1]
    parsed = hc_parse("utility2_circuits.csv", ("\r\n".join([HC_HEADER, *rows]) + "\r\n").encode())
    assert parsed.report.rows_read == 1000
    assert len(parsed.rows("feeders")) == 999
    assert [(r.line, r.rule) for r in parsed.report.rejects] == [(3, "bad_quote")]


# --- 2. non-finite numbers -------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1e400", "-1e400", "inf", "NaN", "-1e308", "1e101"])
def test_meter_non_finite_or_huge_value_is_rejected(value: str) -> None:
    lines = lp_file(3)
    lines[2] = lp_line(1, value)
    table, report = parse_meter("\n".join(lines).encode())
    assert table.num_rows == 2
    assert [(r.line, r.field, r.rule) for r in report.rejects] == [(3, "value", "bad_number")]


def test_hosting_capacity_non_finite_is_rejected() -> None:
    rows = [
        f"36_13_{81000 + i},13.2,1.1,0.1,0.01,2022/10/01 00:00:00+00,green,1.5" for i in range(3)
    ]
    rows[1] = rows[1].replace(",1.1,", ",1e400,")
    parsed = hc_parse("utility2_circuits.csv", "\n".join([HC_HEADER, *rows]).encode())
    assert len(parsed.rows("feeders")) == 2
    assert [(r.line, r.rule) for r in parsed.report.rejects] == [(3, "bad_number")]


def oasis_csv(rows: list[tuple[str, str, str]]) -> bytes:
    head = (
        "INTERVALSTARTTIME_GMT,INTERVALENDTIME_GMT,OPR_DT,OPR_HR,OPR_INTERVAL,NODE_ID_XML,"
        "NODE_ID,NODE,MARKET_RUN_ID,LMP_TYPE,XML_DATA_ITEM,PNODE_RESMRID,GRP_TYPE,POS,MW,GROUP"
    )
    out = [head]
    for hour, ltype, mw in rows:
        h = int(hour)
        out.append(
            f"2025-09-01T{h:02d}:00:00-00:00,2025-09-01T{h + 1:02d}:00:00-00:00,2025-08-31,"
            f"{h + 1},0,N,N,N,DAM,{ltype},{ltype}_PRC,N,ALL,0,{mw},1"
        )
    return ("\n".join(out) + "\n").encode()


@pytest.mark.parametrize("mw", ["1e400", "-1e308"])
def test_oasis_non_finite_or_huge_price_is_rejected(mw: str) -> None:
    table, report = parse_bytes(oasis_csv([("1", "LMP", "10"), ("2", "LMP", mw)]))
    assert table.num_rows == 1
    assert [(r.line, r.rule) for r in report.rejects] == [(3, "bad_number")]


# --- 3. duplicate keys inside one meter file -------------------------------------------------


def test_meter_duplicate_keys_are_rejected_first_one_kept() -> None:
    lines = [LP_HEADER, lp_line(0, "1"), lp_line(0, "2"), lp_line(1, "3"), lp_line(0, "4")]
    table, report = parse_meter("\n".join(lines).encode())
    assert report.rows_read == 4 and table.num_rows == 2
    assert rules(report) == {(3, "duplicate_key"): 1, (5, "duplicate_key"): 1}
    assert sorted(table.column("value").to_pylist()) == [1.0, 3.0]


def test_meter_duplicates_across_batches_and_unsorted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(meter_parse, "BLOCK_SIZE", 7 * 60)  # about 7 lines a block
    body = [lp_line(i) for i in range(40)]
    body = [*body[::-1], lp_line(3, "9"), lp_line(39, "9"), lp_line(20, "9", meter="2")]
    table, report = parse_meter("\n".join([LP_HEADER, *body]).encode())
    assert report.rows_read == 43 and table.num_rows == 41
    assert rules(report) == {(42, "duplicate_key"): 1, (43, "duplicate_key"): 1}


# --- 4. OASIS intervals with LMP but missing components --------------------------------------


def test_caheredia_seed_lmp_only_rows_all_load() -> None:
    if not (SAMPLES / "caheredia_seed.csv").exists():
        pytest.skip("sample absent")
    table, report = parse_bytes(sample("caheredia_seed.csv"))
    assert table.num_rows == 8 and not report.rejects
    assert table.column("energy").null_count == 8
    # 8 LMP hours; one of them also has an MCC row, so the other 7 lack a component the file has
    assert report.warnings == [
        "7 intervals loaded without some of their components (MCC stored as null where absent)"
    ]
    assert report.note == report.warnings[0]


def test_2025_excerpts_load_every_interval() -> None:
    table, report = parse_bytes(sample(DAM_2025_EXCERPT))
    assert table.num_rows == 24 and not report.rejects
    full = [r for r in table.to_pylist() if r["energy"] is not None]
    assert len(full) == 2  # HE18 and HE1 carry all components
    assert report.note and "22" in report.note
    rtm, rtm_report = parse_bytes(sample(RTM_DST_EXCERPT))
    assert not rtm_report.rejects
    assert rtm.num_rows == 30


def test_oasis_component_sum_checked_only_when_all_present() -> None:
    table, report = parse_bytes(
        oasis_csv([("1", "LMP", "10"), ("1", "MCE", "9"), ("2", "LMP", "11")])
    )
    assert table.num_rows == 2 and not report.rejects
    rows = sorted(table.to_pylist(), key=lambda r: r["opr_hour"])
    assert (rows[0]["energy"], rows[0]["congestion"], rows[1]["energy"]) == (9.0, None, None)


# --- 5. encodings ----------------------------------------------------------------------------


def test_one_latin1_byte_rejects_its_line_only() -> None:
    lines = lp_file(4)
    data = "\n".join(lines).encode().replace(b"ED031000001", b"ED03\xe9", 1)  # line 2
    table, report = parse_meter(data)
    assert table.num_rows == 3
    assert rules(report) == {(2, "bad_encoding"): 1}
    assert "\\xe9" in report.rejects[0].raw


BAD_UTF8 = [
    b"\xe9",  # latin-1 e-acute
    b"\x80",  # a lone continuation byte
    b"\xc0\xaf",  # an overlong "/"
    b"\xed\xa0\x80",  # a UTF-16 surrogate
    b"\xf4\x90\x80\x80",  # beyond U+10FFFF
    b"\xe2\x82",  # a cut-off euro sign
]
GOOD_UTF8 = ["\u00e9", "\u20ac", "\U0001d11e"]  # 2-, 3- and 4-byte characters


def test_only_valid_utf8_reaches_the_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyarrow does not check UTF-8 again (CleanLines did): every invalid sequence costs its
    line, valid multi-byte text loads intact, wherever the read and block boundaries fall."""
    from wattlake import csvlines

    monkeypatch.setattr(csvlines, "CHUNK", 97)  # reads end mid-line, mid-character too
    monkeypatch.setattr(meter_parse, "BLOCK_SIZE", 500)
    monkeypatch.setattr(meter_parse, "FIRST_BLOCK", 200)
    lines = [line.encode() for line in lp_file(120)]
    bad_at = {}
    for n in range(2, 121, 7):  # line n (1-based) is lines[n - 1]
        i = (n // 7) % (len(BAD_UTF8) + len(GOOD_UTF8))
        piece = BAD_UTF8[i] if i < len(BAD_UTF8) else GOOD_UTF8[i - len(BAD_UTF8)].encode()
        lines[n - 1] = lines[n - 1].replace(b"ED031000001", b"ED03" + piece, 1)
        if i < len(BAD_UTF8):
            bad_at[n] = piece
    table, report = parse_meter(b"\n".join(lines))
    table.validate(full=True)  # raises on a string that is not UTF-8
    assert rules(report) == {(n, "bad_encoding"): 1 for n in bad_at}
    assert table.num_rows == 120 - len(bad_at)
    loaded = set(table.column("plant_code").to_pylist())
    assert {f"ED03{c}" for c in GOOD_UTF8} <= loaded


def test_declared_latin1_encoding_loads_every_line() -> None:
    data = "\n".join(lp_file(4)).encode().replace(b"ED031000001", b"ED03\xe9")
    table, report = parse_meter(data, encoding="latin-1")
    assert table.num_rows == 4 and not report.rejects
    assert table.column("plant_code").to_pylist()[0] == "ED03é"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig"])
def test_utf16_and_bom_files_load(codec: str) -> None:
    text = "\r\n".join(lp_file(5)) + "\r\n"
    table, report = parse_meter(text.encode(codec))
    assert table.num_rows == 5 and not report.rejects


def test_hosting_capacity_bad_byte_rejects_the_line_not_the_file() -> None:
    rows = [
        f"36_13_{81000 + i},13.2,1.1,0.1,0.01,2022/10/01 00:00:00+00,green,1.5" for i in range(3)
    ]
    data = "\n".join([HC_HEADER, *rows]).encode().replace(b"green", b"gr\xffen", 1)
    parsed = hc_parse("utility2_circuits.csv", data)
    assert len(parsed.rows("feeders")) == 2
    assert [(r.line, r.rule) for r in parsed.report.rejects] == [(2, "bad_encoding")]


# --- 6. NUL bytes ----------------------------------------------------------------------------


def test_nul_byte_rejects_its_line() -> None:
    data = "\n".join(lp_file(4)).encode().replace(b"ED031000001", b"ED03\x001", 1)
    table, report = parse_meter(data)
    assert table.num_rows == 3
    assert rules(report) == {(2, "control_character"): 1}


def test_storable_escapes_nul_and_undecodable_text() -> None:
    from wattlake.parsing import storable

    assert storable("a\x00b") == "a\\x00b"
    assert storable(b"x\xffy".decode("utf-8", "surrogateescape")) == "x\\xffy"
    assert storable("\ud800") == "\\ud800"
    assert storable("plain é") == "plain é"
    assert storable("back\\slash") == "back\\slash"


# --- 11. long lines, CR-only files, binary garbage -------------------------------------------


def test_a_line_longer_than_the_block_is_one_reject() -> None:
    lines = lp_file(5)
    lines[3] = lines[3] + "x" * (3 * 1024 * 1024)
    table, report = parse_meter("\n".join(lines).encode())
    assert table.num_rows == 4
    assert rules(report) == {(4, "line_too_long"): 1}
    assert len(report.rejects[0].raw) <= 2000


def test_cr_only_file_loads() -> None:
    table, report = parse_meter("\r".join(lp_file(5)).encode())
    assert table.num_rows == 5 and not report.rejects


def test_binary_garbage_gives_a_short_message_without_echoing_it() -> None:
    garbage = bytes(range(256)) * 40
    with pytest.raises(InputError) as info:
        parse_meter(garbage)
    message = str(info.value)
    assert "LP_test.csv" in message and "\n" not in message
    assert len(message) < 200 and message.isprintable()
    assert info.value.hint


def test_hosting_capacity_cr_only_file_loads() -> None:
    rows = [
        f"36_13_{81000 + i},13.2,1.1,0.1,0.01,2022/10/01 00:00:00+00,green,1.5" for i in range(3)
    ]
    parsed = hc_parse("utility2_circuits.csv", "\r".join([HC_HEADER, *rows]).encode())
    assert len(parsed.rows("feeders")) == 3 and not parsed.report.rejects


def test_oasis_nul_byte_and_bad_utf8_reject_their_lines() -> None:
    data = oasis_csv([("1", "LMP", "10"), ("2", "LMP", "11"), ("3", "LMP", "12")])
    lines = data.split(b"\n")
    lines[2] = lines[2].replace(b",N,N,N,", b",N,N,N\x00,")
    lines[3] = lines[3].replace(b",N,N,N,", b",N,N,\xe9,")
    table, report = parse_bytes(b"\n".join(lines))
    assert table.num_rows == 1
    assert sorted((r.line, r.rule) for r in report.rejects) == [
        (3, "control_character"),
        (4, "bad_encoding"),
    ]


def test_hosting_capacity_nul_and_garbage() -> None:
    rows = [
        f"36_13_{81000 + i},13.2,1.1,0.1,0.01,2022/10/01 00:00:00+00,green,1.5" for i in range(3)
    ]
    data = "\n".join([HC_HEADER, *rows]).encode().replace(b"green", b"gr\x00en", 1)
    parsed = hc_parse("utility2_circuits.csv", data)
    assert len(parsed.rows("feeders")) == 2
    assert [(r.line, r.rule) for r in parsed.report.rejects] == [(2, "control_character")]
    with pytest.raises(InputError) as info:
        hc_parse("utility2_circuits.csv", bytes(range(256)) * 10)
    assert "utility2_circuits.csv" in str(info.value) and str(info.value).isprintable()


def test_two_stray_quotes_do_not_pair_up_across_lines() -> None:
    lines = lp_file(8)
    lines[2] = lines[2].replace(",kwh,", ',"kwh,')
    lines[6] = lines[6].replace(",kwh,", ',kwh",')
    lines[4] = lines[4].replace(",kwh,", ',"k""w,h",')  # a doubled quote inside: fine
    table, report = parse_meter("\n".join(lines).encode())
    assert report.rows_read == 8 and table.num_rows == 7
    assert rules(report) == {(3, "bad_quote"): 1}
    assert 'k"w,h' in table.column("units").to_pylist()
