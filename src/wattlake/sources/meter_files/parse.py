"""Parse LP and TOU meter export files (bytes in, Arrow out; pure).

The layout is recognised by the header line (not by the file name): LP, TOU layout B
(interval) or TOU layout A (billing registers). A UTF-8 BOM, CRLF line ends and blank lines are
accepted. Each data row either loads or becomes a reject naming its line, field and rule:
``wrong_field_count``, ``missing_field``, ``bad_date``, ``bad_number``, ``bad_integer``,
``bad_boolean``. Conversion is vectorized (pyarrow.compute); the file is streamed in blocks,
so memory does not grow with its size.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from datetime import date
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from wattlake.csvlines import CleanLines
from wattlake.errors import InputError
from wattlake.parsing import FileReport, SeenKeys, bad_floats
from wattlake.sources.meter_files.schema import LAYOUTS, Layout
from wattlake.tables import LOCAL_TS

# pyarrow's streaming reader reads several blocks ahead, so peak memory follows the block size
# (measured RSS over a 10M-row file: 180 MB at 1 MiB blocks, 450 MB at 8 MiB); blocks are
# small and their rows are gathered into batches of BATCH_ROWS before converting.
BLOCK_SIZE = 1024 * 1024
BATCH_ROWS = 200_000
TIME_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y")
OLE_ZERO = "30/12/1899 00:00:00"  # "no time" in the exporting system
_NUMBER_RE = r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$"
_INTEGER_RE = r"^\s*[-+]?\d+\s*$"
_MONTH_RE = r"^\s*\d{1,2}/(?P<m>\d{1,2})/"


def detect_layout(header: str, source: str = "meter file") -> Layout:
    """The layout whose header is ``header`` (the first line's text); InputError if none is."""
    first = header.strip("\r\n \ufeff")
    cols = tuple(c.strip().strip('"') for c in first.split(","))
    for layout in LAYOUTS:
        if cols == layout.header:
            return layout
    known = "\n  ".join(f"{x.name}: {','.join(x.header)}" for x in LAYOUTS)
    shown = first[:120] + ("…" if len(first) > 120 else "")
    raise InputError(
        f"{source}: unrecognised meter file header {shown!r}",
        hint=f"expected one of these headers:\n  {known}",
    )


def parse_meter_file(
    stream: BinaryIO,
    report: FileReport,
    *,
    timezone: str = "Etc/GMT-10",
    encoding: str = "utf-8",
) -> Iterator[tuple[str, pa.Table]]:
    """Yield ``(table_name, batch)`` for a meter file; rejects go to ``report``.

    Lines go through :class:`~wattlake.csvlines.CleanLines` first (encoding, NUL, stray
    quotes, over-long lines: each costs its own line); ``encoding`` is the files' declared
    encoding (``WATTLAKE_METER_ENCODING``) unless a BOM says otherwise."""
    clean = CleanLines(
        stream,
        report,
        encoding=encoding,
        encoding_setting="WATTLAKE_METER_ENCODING",
        markers=True,
    )
    layout = detect_layout(clean.header, report.source_file)
    stream = clean  # type: ignore[assignment]
    invalid: list[int] = []  # physical line numbers of rows pyarrow could not split
    # pyarrow calls on_invalid from its own thread: it only queues; the report is filled here.
    markers: deque[int] = deque()  # lines CleanLines rejected (handed on as MARKER)
    unsplit: deque[tuple[int, str]] = deque()  # lines with a wrong field count

    def on_invalid(row: pacsv.InvalidRow) -> str:
        number = row.number or 0
        if row.text == "\x00":  # a line CleanLines rejected
            invalid.append(number)
            markers.append(number)
        elif row.text.strip():
            invalid.append(number)
            unsplit.append((number, row.text))
        return "skip"

    def drain() -> None:
        while markers:
            clean.place(markers.popleft())
        while unsplit:
            number, text = unsplit.popleft()
            report.rows_read += 1
            report.reject(number, None, "wrong_field_count", text)

    reader = pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(
            column_names=list(layout.fields), skip_rows=1, block_size=BLOCK_SIZE, use_threads=False
        ),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(layout.fields, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    offset = 0  # rows of the reader converted so far
    # a key repeated within the file is rejected as duplicate_key (the first one loads)
    identity = tuple(k for k in layout.table.primary_key if k in layout.fields)
    seen = SeenKeys(
        tuple(k for k in identity if k != layout.timestamp_field), layout.timestamp_field
    )
    for table in _gather(reader, BATCH_ROWS):
        drain()
        lines = _lines(offset, table.num_rows, invalid)
        offset += table.num_rows
        out = _convert(table, lines, layout, report, timezone, seen)
        if out is not None and out.num_rows:
            yield layout.table.name, out
    drain()
    clean.place_rest()


def _gather(reader: pacsv.CSVStreamingReader, rows: int) -> Iterator[pa.Table]:
    """The reader's record batches, gathered into tables of about ``rows`` rows."""
    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in reader:
        pending.append(batch)
        size += batch.num_rows
        if size >= rows:
            yield pa.Table.from_batches(pending)
            pending, size = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def _lines(offset: int, n: int, invalid: list[int]) -> pa.Array:
    """Physical line numbers of reader rows ``offset .. offset+n`` (header is line 1).

    Rows pyarrow could not split (``invalid``, physical line numbers) are missing from the
    reader's output, so each one at or before a row's line pushes that row one line down:
    the j-th invalid line s_j shifts every reader row i >= s_j - 2 - j.
    """
    rows = np.arange(offset, offset + n, dtype=np.int64)
    if not invalid:
        return pa.array(rows + 2)
    skipped = np.array(sorted(invalid), dtype=np.int64)
    thresholds = skipped - 2 - np.arange(len(skipped))
    return pa.array(rows + 2 + np.searchsorted(thresholds, rows, side="right"))


def _empty(a: pa.Array) -> pa.Array:
    return pc.equal(pc.binary_length(a), 0)


def _convert(
    table: pa.Table,
    lines: pa.Array,
    layout: Layout,
    report: FileReport,
    timezone: str,
    seen: SeenKeys,
) -> pa.Table | None:
    cols = {name: table.column(name).combine_chunks() for name in layout.fields}
    # Blank lines arrive as rows whose every field is empty: they are not data.
    blank = _empty(cols[layout.fields[0]])
    if pc.any(blank).as_py():
        for a in list(cols.values())[1:]:
            blank = pc.and_(blank, _empty(a))
    n_rows = len(blank)
    n_blank = pc.sum(blank).as_py() or 0
    n_data = n_rows - n_blank
    report.rows_read += n_data
    if n_data == 0:
        return None
    if n_blank:
        data = pc.invert(blank)
        cols = {k: pc.filter(v, data) for k, v in cols.items()}
        lines = pc.filter(lines, data)

    checks: list[tuple[str, str, pa.Array]] = []  # (field, rule, bad mask)
    out: dict[str, pa.Array] = {}
    for f in layout.required:
        checks.append((f, "missing_field", _empty(cols[f])))
    ts, bad = _timestamps(cols[layout.timestamp_field], optional=False)
    out[layout.timestamp_field] = ts
    checks.append((layout.timestamp_field, "bad_date", bad))
    for f in layout.optional_timestamps:
        ts, bad = _timestamps(cols[f], optional=True)
        out[f] = ts
        checks.append((f, "bad_date", bad))
    for f in layout.numbers:
        val, bad = _numbers(cols[f], _NUMBER_RE, pa.float64())
        out[f] = val
        checks.append((f, "bad_number", bad))
    for f in layout.integers:
        val, bad = _numbers(cols[f], _INTEGER_RE, pa.int64())
        out[f] = val
        checks.append((f, "bad_integer", bad))
    for f in layout.booleans:
        low = pc.utf8_lower(pc.utf8_trim_whitespace(cols[f]))
        out[f] = pc.if_else(_empty(low), None, pc.equal(low, "true"))
        bad = pc.invert(pc.is_in(low, pa.array(["true", "false", ""])))
        checks.append((f, "bad_boolean", bad))

    ok: pa.Array | None = None  # None: every row so far is fine
    for f, rule, mask in checks:
        hit = pc.fill_null(mask, False)
        if ok is not None:
            hit = pc.and_(hit, ok)
        if pc.any(hit).as_py():
            idx = pc.indices_nonzero(hit).to_pylist()
            for i in idx:
                raw = ",".join(cols[c][i].as_py() for c in layout.fields)
                report.reject(lines[i].as_py(), f, rule, raw)
            not_hit = pc.invert(hit)
            ok = not_hit if ok is None else pc.and_(ok, not_hit)

    for f in layout.fields:
        if f not in out:
            out[f] = cols[f]
    ts_field = layout.timestamp_field
    local = out[ts_field]
    out[ts_field.replace("_local", "_utc")] = pc.assume_timezone(
        local, timezone=timezone, ambiguous="earliest", nonexistent="earliest"
    )
    out["local_date"] = pc.cast(local, pa.date32())
    if layout.table.name == "meter_reads":
        out["layout"] = _constant(layout.name, n_data)
    out["_source_file"] = _constant(report.source_file, n_data)
    result = pa.table(out)
    kept = None if ok is None else pc.indices_nonzero(ok)
    if kept is not None:
        result = result.filter(ok)
    repeats = seen.repeats(result)
    if repeats.any():
        where = np.flatnonzero(repeats)
        rows = where if kept is None else kept.to_numpy()[where]
        for i in rows.tolist():
            raw = ",".join(cols[c][i].as_py() for c in layout.fields)
            report.reject(lines[i].as_py(), layout.timestamp_field, "duplicate_key", raw)
        result = result.filter(pa.array(~repeats))
    return layout.table.conform(result)


def _constant(value: str, n: int) -> pa.Array:
    """``value`` repeated ``n`` times (dictionary-decoded: far cheaper than a Python list)."""
    indices = pa.array(np.zeros(n, dtype=np.int32))
    return pa.DictionaryArray.from_arrays(indices, pa.array([value])).cast(pa.string())


def _timestamps(values: pa.Array, *, optional: bool) -> tuple[pa.Array, pa.Array]:
    """Parse ``dd/mm/YYYY[ H:MM[:SS]]``; returns (timestamps, bad mask). Rejects 31/02."""
    parsed = pc.strptime(values, format=TIME_FORMATS[0], unit="us", error_is_null=True)
    for fmt in TIME_FORMATS[1:]:
        missing = pc.is_null(parsed)
        if not pc.any(missing).as_py():
            break
        # Other formats (and stray whitespace) only for the rows the first one missed.
        retry = pc.strptime(
            pc.utf8_trim_whitespace(values), format=fmt, unit="us", error_is_null=True
        )
        parsed = pc.coalesce(parsed, retry)
    bad = pc.is_null(parsed)
    # strptime rolls 31/02 over into 03/03: only a day <= 3 can be such a roll-over, and for
    # those the written month must match the parsed one.
    suspect = pc.fill_null(pc.less_equal(pc.day(parsed), 3), False)
    if pc.any(suspect).as_py():
        idx = pc.indices_nonzero(suspect)
        written = pc.extract_regex(pc.take(values, idx), _MONTH_RE).field("m")
        rolled = pc.not_equal(pc.month(pc.take(parsed, idx)), pc.cast(written, pa.int64()))
        mask = np.zeros(len(values), dtype=bool)
        mask[idx.to_numpy()[rolled.to_numpy(zero_copy_only=False)]] = True
        bad = pc.or_(bad, pa.array(mask))
    if optional:
        trimmed = pc.utf8_trim_whitespace(values)
        empty = pc.or_(_empty(trimmed), pc.equal(trimmed, OLE_ZERO))
        bad = pc.and_(bad, pc.invert(empty))
        parsed = pc.if_else(empty, pa.scalar(None, LOCAL_TS), parsed)
    return parsed.cast(LOCAL_TS), bad


def _numbers(values: pa.Array, regex: str, typ: pa.DataType) -> tuple[pa.Array, pa.Array]:
    """Cast text to ``typ``; empty → null; returns (values, bad mask)."""
    empty = _empty(values)
    try:
        out = pc.cast(pc.if_else(empty, None, values), typ)
        bad = pa.array(np.zeros(len(values), dtype=bool))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = pc.utf8_trim_whitespace(values)
        empty = _empty(values)
        good = pc.match_substring_regex(values, regex)
        bad = pc.and_(pc.invert(good), pc.invert(empty))
        out = pc.cast(pc.if_else(pc.or_(bad, empty), None, values), typ)
    if pa.types.is_floating(typ):  # the shared number rule: finite, within +-MAX_ABS
        non_finite = bad_floats(out)
        if pc.any(non_finite).as_py():
            bad = pc.or_(bad, non_finite)
            out = pc.if_else(non_finite, None, out)
    return out, bad


def local_day(value: str) -> date:
    """The day of a ``dd/mm/YYYY`` string, as the seed's /get-data parses it."""
    from datetime import datetime

    return datetime.strptime(value, "%d/%m/%Y").date()
