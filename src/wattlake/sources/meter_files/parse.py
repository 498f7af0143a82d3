"""Parse LP and TOU meter export files (bytes in, Arrow out; pure).

The layout is recognised by the header line (not by the file name): LP, TOU layout B
(interval) or TOU layout A (billing registers). A UTF-8 BOM, CRLF line ends and blank lines are
accepted. Each data row either loads or becomes a reject naming its line, field and rule:
``wrong_field_count``, ``missing_field``, ``bad_date``, ``bad_number``, ``bad_integer``,
``bad_boolean``, ``duplicate_key``. Conversion is vectorized (pyarrow.compute); the file is
streamed in blocks of whole lines, converted on worker threads and taken back in file order, so
memory does not grow with its size.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from wattlake.csvlines import CleanLines
from wattlake.errors import InputError
from wattlake.parsing import FileReport, SeenKeys, bad_floats, one_chunk
from wattlake.sources.meter_files.schema import LAYOUTS, Layout
from wattlake.tables import LOCAL_TS

# Blocks of whole lines parsed at a time: WORKERS of them at once (plus one waiting), so peak
# memory follows the block size, not the file's; large enough that the fixed cost per block
# (a few dozen Arrow calls) is small.
BLOCK_SIZE = 4 * 1024 * 1024
FIRST_BLOCK = 1024 * 1024  # the first block smaller: the load starts sooner
WORKERS = max(2, min(4, os.cpu_count() or 1))
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
    encoding (``WATTLAKE_METER_ENCODING``) unless a BOM says otherwise. Blocks of whole lines
    are read and converted on ``WORKERS`` threads at once (pyarrow runs without the GIL); the
    results are taken in file order, which gives each block its first line number and lets
    the first occurrence of a key win."""
    clean = CleanLines(
        stream,
        report,
        encoding=encoding,
        encoding_setting="WATTLAKE_METER_ENCODING",
        markers=True,
    )
    layout = detect_layout(clean.header, report.source_file)
    # a key repeated within the file is rejected as duplicate_key (the first one loads)
    identity = tuple(k for k in layout.table.primary_key if k in layout.fields)
    seen = SeenKeys(
        tuple(k for k in identity if k != layout.timestamp_field), layout.timestamp_field
    )
    line = 1  # physical lines before the next block (the header is line 1)
    for block in _parsed(clean.blocks(BLOCK_SIZE, min(FIRST_BLOCK, BLOCK_SIZE)), layout, timezone):
        out = _take(block, line, layout, report, clean, seen)
        line += block.lines
        if out is not None and out.num_rows:
            yield layout.table.name, out
    clean.place_rest()


def _parsed(
    blocks: Iterator[bytes | memoryview], layout: Layout, timezone: str
) -> Iterator[_Block]:
    """``blocks`` parsed, in order: up to WORKERS at once, each submitted as soon as it is
    read; a parsed block is passed on as soon as it is next in order."""
    pool = ThreadPoolExecutor(WORKERS, "wattlake-parse")
    pending: deque[Future[_Block]] = deque()
    try:
        while True:
            while len(pending) <= WORKERS and not (pending and pending[0].done()):
                if (data := next(blocks, None)) is None:
                    break
                pending.append(pool.submit(_parse_block, data, layout, timezone))
            if not pending:
                return
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class _Block:
    """A block of lines parsed and converted (line numbers relative to the block: 1 = its
    first line); nothing shared is touched, so blocks convert in parallel."""

    lines: int  # physical lines in the block
    markers: list[int]  # lines CleanLines rejected (MARKER lines), in order
    unsplit: list[tuple[int, str]]  # lines with a wrong field count
    rows_read: int  # data rows (not blank) pyarrow split
    rejects: list[tuple[int, str, str, str]]  # (line, field, rule, raw) of failed checks
    table: pa.Table | None  # the rows that passed, in the table's schema
    line_of: np.ndarray | None  # block line of each row of ``table``
    raw: Callable[[int], str] | None  # raw text of the passing row i, for duplicate rejects


def _parse_block(data: bytes | memoryview, layout: Layout, timezone: str) -> _Block:
    invalid: list[int] = []  # lines pyarrow could not split (all of them move later rows)
    markers: list[int] = []
    unsplit: list[tuple[int, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        number = row.number or 0
        invalid.append(number)
        if row.text == "\x00":  # a line CleanLines rejected
            markers.append(number)
        elif row.text.strip():  # (a line of only spaces is blank: not data)
            unsplit.append((number, row.text))
        return "skip"

    table = pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(
            column_names=list(layout.fields), block_size=len(data) + 1, use_threads=False
        ),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(layout.fields, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            # CleanLines hands on valid UTF-8 only (a line that is not costs its own line as
            # bad_encoding), so pyarrow need not validate it again: ~0.1 CPU s per 1M rows.
            check_utf8=False,
        ),
    )
    block = _Block(table.num_rows + len(invalid), markers, unsplit, 0, [], None, None, None)
    if table.num_rows:
        _convert(table, _lines(table.num_rows, invalid), layout, timezone, block)
    return block


def _take(
    block: _Block,
    line: int,
    layout: Layout,
    report: FileReport,
    clean: CleanLines,
    seen: SeenKeys,
) -> pa.Table | None:
    """Record ``block``'s rejects (its first line is ``line + 1``) in line order, drop the rows
    whose key an earlier row had, and return the rest."""
    rejects: list[tuple[int, str | None, str, str]] = [
        (n, None, *clean.marker()) for n in block.markers
    ]
    rejects += [(n, None, "wrong_field_count", text) for n, text in block.unsplit]
    rejects += block.rejects
    report.rows_read += block.rows_read + len(block.markers) + len(block.unsplit)
    table = block.table
    if table is not None and block.line_of is not None and block.raw is not None:
        repeats = seen.repeats(table)
        if repeats.any():
            for i in np.flatnonzero(repeats).tolist():
                n = int(block.line_of[i])
                rejects.append((n, layout.timestamp_field, "duplicate_key", block.raw(i)))
            table = table.filter(pa.array(~repeats))
    rejects.sort(key=lambda r: r[0])
    for n, field, rule, raw in rejects:
        report.reject(line + n, field, rule, raw)
    if table is None or not table.num_rows:
        return None
    table = table.append_column("_source_file", _constant(report.source_file, table.num_rows))
    return layout.table.conform(table)


def _lines(n: int, invalid: list[int]) -> np.ndarray:
    """Block line numbers (1-based) of the ``n`` rows pyarrow split.

    Rows pyarrow could not split (``invalid``, block line numbers) are missing from its
    output, so each one at or before a row's line pushes that row one line down: the j-th
    invalid line s_j shifts every row i >= s_j - 1 - j.
    """
    rows = np.arange(n, dtype=np.int64)
    if not invalid:
        return rows + 1
    skipped = np.array(sorted(invalid), dtype=np.int64)
    thresholds = skipped - 1 - np.arange(len(skipped))
    return rows + 1 + np.searchsorted(thresholds, rows, side="right")


def _empty(a: pa.Array) -> pa.Array:
    return pc.equal(pc.binary_length(a), 0)


def _convert(
    table: pa.Table, lines: np.ndarray, layout: Layout, timezone: str, block: _Block
) -> None:
    """Check and convert the rows of ``table`` into ``block`` (rejects, passing rows)."""
    cols = {name: one_chunk(table.column(name)) for name in layout.fields}  # a block: 1 chunk
    # Blank lines arrive as rows whose every field is empty: they are not data.
    blank = _empty(cols[layout.fields[0]])
    if pc.any(blank).as_py():
        for a in list(cols.values())[1:]:
            blank = pc.and_(blank, _empty(a))
    n_rows = len(blank)
    n_blank = pc.sum(blank).as_py() or 0
    n_data = n_rows - n_blank
    block.rows_read = n_data
    if n_data == 0:
        return
    if n_blank:
        data = pc.invert(blank)
        cols = {k: pc.filter(v, data) for k, v in cols.items()}
        lines = lines[data.to_numpy(zero_copy_only=False)]

    checks: list[tuple[str, str, pa.Array]] = []  # (field, rule, bad mask)
    out: dict[str, pa.Array] = {}
    for f in layout.required:
        checks.append((f, "missing_field", _empty(cols[f])))
    ts_field = layout.timestamp_field
    local, bad, utc = _reading_times(cols[ts_field], timezone)
    out[ts_field] = local
    out[ts_field.replace("_local", "_utc")] = utc
    checks.append((ts_field, "bad_date", bad))
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

    def raw(i: int) -> str:
        return ",".join(cols[c][i].as_py() for c in layout.fields)

    ok: pa.Array | None = None  # None: every row so far is fine
    for f, rule, mask in checks:
        hit = pc.fill_null(mask, False)
        if ok is not None:
            hit = pc.and_(hit, ok)
        if pc.any(hit).as_py():
            for i in pc.indices_nonzero(hit).to_pylist():
                block.rejects.append((int(lines[i]), f, rule, raw(i)))
            not_hit = pc.invert(hit)
            ok = not_hit if ok is None else pc.and_(ok, not_hit)

    for f in layout.fields:
        if f not in out:
            out[f] = cols[f]
    out["local_date"] = pc.cast(local, pa.date32())
    if layout.table.name == "meter_reads":
        out["layout"] = _constant(layout.name, n_data)
    result = pa.table(out)
    if ok is not None:
        kept = pc.indices_nonzero(ok).to_numpy()
        result = result.filter(ok)
        lines = lines[kept]
        block.raw = lambda i: raw(int(kept[i]))
    else:
        block.raw = raw
    block.table, block.line_of = result, lines


def _constant(value: str, n: int) -> pa.Array:
    """``value`` repeated ``n`` times (dictionary-decoded: far cheaper than a Python list)."""
    indices = pa.array(np.zeros(n, dtype=np.int32))
    return pa.DictionaryArray.from_arrays(indices, pa.array([value])).cast(pa.string())


def _reading_times(values: pa.Array, timezone: str) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(local timestamps, bad mask, UTC instants) of a row's reading time. Files repeat each
    time for every meter and data type, so each distinct text is parsed once."""
    encoded = pc.dictionary_encode(values)
    distinct = encoded.dictionary
    if 2 * len(distinct) > len(values):  # mostly distinct: parsing them all is cheaper
        distinct, encoded = values, None
    local, bad = _timestamps(distinct, optional=False)
    utc = pc.assume_timezone(local, timezone=timezone, ambiguous="earliest", nonexistent="earliest")
    if encoded is None:
        return local, bad, utc
    idx = encoded.indices
    return pc.take(local, idx), pc.take(bad, idx), pc.take(utc, idx)


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
