"""Property tests: any well-formed LP file parses to exactly its rows; one damaged field in it
gives exactly one reject on the right line, and every other row still loads."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from wattlake.parsing import FileReport
from wattlake.sources.meter_files.parse import parse_meter_file
from wattlake.sources.meter_files.schema import LP

rows = st.lists(
    st.tuples(
        st.integers(100_000_000, 999_999_999),  # meter
        st.datetimes(datetime(2000, 1, 1), datetime(2030, 12, 31)).map(
            lambda d: d.replace(second=0, microsecond=0)
        ),
        st.sampled_from(["Import Wh Total", "Export varh Total", "Voltage Total"]),
        st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: round(v, 6)),
        st.sampled_from(["", "GN", "PL II"]),
    ),
    min_size=1,
    max_size=60,
    unique_by=lambda r: (r[0], r[1], r[2]),  # a repeated key is a duplicate_key reject
)


def render(data: list[tuple[int, datetime, str, float, str]], newline: str) -> str:
    lines = [",".join(LP.header)]
    for meter, when, dtype, value, status in data:
        lines.append(
            f"{meter},{meter},P1,{when:%d/%m/%Y %H:%M:%S},{dtype},{value:.6f},kwh,{status}"
        )
    return newline.join(lines) + newline


def parse(text: str) -> tuple[FileReport, list[dict[str, object]]]:
    report = FileReport("p.csv")
    out = [r for _, t in parse_meter_file(io.BytesIO(text.encode()), report) for r in t.to_pylist()]
    return report, out


@settings(max_examples=60, deadline=None)
@given(rows, st.sampled_from(["\n", "\r\n"]))
def test_well_formed_files_parse_to_their_rows(
    data: list[tuple[int, datetime, str, float, str]], newline: str
) -> None:
    report, out = parse(render(data, newline))
    assert report.rows_read == len(data) and not report.rejects
    assert [(r["meter_code"], r["reading_local"], r["value"]) for r in out] == [
        (str(m), w, v) for m, w, _, v, _ in data
    ]
    assert all(
        r["reading_utc"].replace(tzinfo=None) == r["reading_local"] - timedelta(hours=10)
        for r in out
    )  # type: ignore[union-attr, operator]


@settings(max_examples=60, deadline=None)
@given(rows, st.data())
def test_one_damaged_field_is_one_reject_on_its_line(
    data: list[tuple[int, datetime, str, float, str]], draw: st.DataObject
) -> None:
    lines = render(data, "\n").splitlines()
    i = draw.draw(st.integers(1, len(data)))  # a data line (line i + 1 of the file)
    field, damage, rule = draw.draw(
        st.sampled_from(
            [
                (3, "31/02/2020 00:00:00", "bad_date"),
                (3, "2020-01-01 00:00", "bad_date"),
                (5, "1.2.3", "bad_number"),
                (5, "", "missing_field"),
                (0, "", "missing_field"),
            ]
        )
    )
    cells = lines[i].split(",")
    cells[field] = damage
    lines[i] = ",".join(cells)
    report, out = parse("\n".join(lines) + "\n")
    assert [(r.line, r.rule) for r in report.rejects] == [(i + 1, rule)]
    assert len(out) == len(data) - 1 and report.rows_read == len(data)
