"""Parse CAISO OASIS LMP answers (a zip holding a long CSV, or an error XML) into ``lmp`` rows.

The parser is pure: bytes in, Arrow tables conforming to :data:`~.schema.LMP` out. It is
vectorized (pyarrow.csv + pyarrow.compute); Python only loops over rejected rows.

Long to wide. OASIS sends one CSV row per (interval, node, component); ``LMP_TYPE`` is LMP, MCE,
MCC, MCL and, in newer files, MGHG. The parser pivots them into one row per (market, node,
interval) with lmp / energy / congestion / loss / ghg in $/MWh. Intervals come from the
``*_GMT`` columns (UTC, ``[start, end)``); ``OPR_DT``/``OPR_HR``/``OPR_INTERVAL`` are kept as
labels only. LMP is required; the components (MCE, MCC, MCL, MGHG) are kept where present and
null where absent, as the original CAISO system and its peers load them. A node-interval that
lacks a component the file has elsewhere loads with its LMP and a warning in ``report.note``
(``lmp = energy + congestion + loss (+ ghg)`` holds only where all of them are present). Every ``.csv`` member of the zip is read and pivoted together, so per-component
files also work.

Rejects and row accounting. Rejects are recorded per LONG row: ``line`` is the physical line,
1-based within its zip member (the header is line 1); ``raw`` is the line (prefixed with the
member name when the zip has several CSVs).
- A long row whose key (``MARKET_RUN_ID``, ``NODE``, ``INTERVALSTARTTIME_GMT``) is unreadable
  is rejected on its own. A line with the wrong number of fields is rejected as
  ``bad_column_count``. Blank lines are not data and are skipped.
- A long row with a bad value (number, timestamp, date, label, unknown LMP_TYPE) is rejected
  and takes its whole node-interval with it: every other long row of that node-interval is
  rejected as ``sibling_rejected``, so no partial wide row is ever loaded. A node-interval
  lacking its LMP (``missing_component``), with a component twice
  (``duplicate_component``), whose rows disagree on the interval end or labels
  (``inconsistent_interval``) or with end <= start (``bad_interval``) is rejected as a whole.

Hence ``report.rows_read`` = wide rows yielded + long rows rejected, which is exactly the
runner's ``rows_loaded + rows_rejected``; it is *not* the number of CSV data rows.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from wattlake.csvlines import CleanLines
from wattlake.errors import InputError
from wattlake.parsing import MAX_ABS, FileReport
from wattlake.sources.caiso.response import (
    MEMBER_ERRORS,
    NO_DATA_CODE,
    OasisResponseError,
    OasisTryLaterError,
    check_zip,
    corrupt_member,
    decode_error_xml,
    error_for,
    is_zip,
    open_member,
    read_limited,
    read_member,
)
from wattlake.sources.caiso.schema import COMPONENTS, LMP, PRICE_COLUMNS

__all__ = [
    "OasisResponseError",
    "OasisTryLaterError",
    "decode_error_xml",
    "parse_oasis_zip",
]

BATCH_ROWS = 250_000  # wide rows per yielded table
OPR_HOUR_RANGE = (1, 25)
OPR_INTERVAL_RANGE = (0, 12)

# CSV column -> our column. The price column (MW / VALUE / PRC) becomes "price".
_COLS = {
    "INTERVALSTARTTIME_GMT": "start",
    "INTERVALENDTIME_GMT": "end",
    "OPR_DT": "opr_dt",
    "OPR_HR": "opr_hr",
    "OPR_INTERVAL": "opr_interval",
    "NODE": "node",
    "MARKET_RUN_ID": "market",
    "LMP_TYPE": "ltype",
}
_FIELD = {v: k for k, v in _COLS.items()}
_TS = pa.timestamp("s", tz="UTC")
_TYPES = {
    "start": _TS,
    "end": _TS,
    "opr_dt": pa.date32(),
    "opr_hr": pa.int32(),
    "opr_interval": pa.int32(),
    "node": pa.string(),
    "market": pa.string(),
    "ltype": pa.string(),
    "price": pa.float64(),
}
_NUMBER_RE = r"^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
_KEYS = ["market", "node", "start"]
_LABELS = ("end", "opr_dt", "opr_hr", "opr_interval")  # must agree within a node-interval

Reject = tuple[int, str | None, str]  # (row in the concatenated long table, field, rule)


def parse_oasis_zip(stream: BinaryIO, report: FileReport) -> Iterator[tuple[str, pa.Table]]:
    """Parse one OASIS SingleZip LMP answer into ``("lmp", table)`` batches.

    Accepts the zip, a bare error XML or a bare CSV. An error document with code 1000 (no data)
    yields nothing and sets ``report.note``; other codes raise :class:`OasisResponseError`
    (:class:`OasisTryLaterError` for 1015 and other transient codes). An unreadable or unsafe
    input raises :class:`~wattlake.errors.InputError`. Output is sorted by market, node,
    interval start. See the module docstring for the reject and ``rows_read`` rules.
    """
    data = read_limited(stream)
    sources: list[_Source] = []
    xmls: list[bytes] = []
    if is_zip(data):
        zf, members = check_zip(data)
        for info in members:
            low = info.filename.lower()
            if low.endswith(".csv"):
                sources.append(_Source(info.filename, _zip_opener(zf, info)))
            elif low.endswith(".xml"):
                xmls.append(read_member(zf, info))
    elif data.lstrip()[:1] == b"<":
        xmls.append(data)
    elif data.startswith(b"INTERVALSTARTTIME_GMT"):
        sources.append(_Source("<csv>", lambda: io.BytesIO(data)))
    else:
        raise InputError(
            "input is neither a zip, an OASIS CSV nor an OASIS XML document",
            hint="check that the file came from OASIS SingleZip with resultformat=6",
        )
    for xml in xmls:
        err = decode_error_xml(xml)
        if err is None:
            raise InputError(
                "the answer holds an XML report instead of CSV",
                hint="request the data with resultformat=6 (CSV)",
            )
        code, text = err
        if code != NO_DATA_CODE:
            raise error_for(code, text)
        report.note = f"no data (OASIS code {code}: {text})"
    if not sources:
        if not xmls:
            raise InputError("zip holds no .csv or .xml member", hint="this is not an OASIS answer")
        return
    wide = _parse_sources(sources, report)
    for offset in range(0, wide.num_rows, BATCH_ROWS):
        yield "lmp", wide.slice(offset, BATCH_ROWS)


# --------------------------------------------------------------------------------------------
# Reading one CSV member


@dataclass
class _Source:
    name: str
    open: Callable[[], IO[bytes]]


def _zip_opener(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], IO[bytes]]:
    return lambda: open_member(zf, info)


class _Member:
    """One CSV member as read; maps table rows back to physical lines (lazily, for rejects)."""

    def __init__(self, src: _Source, offset: int, rows: int, price_col: str, skipped: int) -> None:
        self.src, self.offset, self.rows, self.price_col = src, offset, rows, price_col
        self.skipped = skipped  # lines pyarrow dropped for a wrong field count
        self._lines: list[bytes] | None = None
        self._row_line: list[int] = []
        self.bad_lines: list[int] = []

    def _index(self) -> list[bytes]:
        if self._lines is None:
            with self.src.open() as f:
                self._lines = f.read().split(b"\n")
            if self._lines and self._lines[-1] == b"":
                self._lines.pop()
            ncommas = self._lines[0].count(b",")
            for j, line in enumerate(self._lines[1:], start=2):
                s = line.rstrip(b"\r")
                if s and s.count(b",") != ncommas:
                    self.bad_lines.append(j)
                else:
                    self._row_line.append(j)
        return self._lines

    def line(self, row: int) -> int | None:
        """Physical line (1-based) of table row ``row`` of this member."""
        if not self.skipped:
            return row + 2
        self._index()
        return self._row_line[row] if len(self._row_line) == self.rows else None

    def raw(self, line: int | None) -> str:
        lines = self._index()
        if line is None or not 0 < line <= len(lines):
            return ""
        return lines[line - 1].rstrip(b"\r").decode("utf-8", "replace")


def _cleaned(src: _Source, report: FileReport) -> _Source:
    """``src`` read once through CleanLines: a line with a NUL, bad UTF-8 or longer than a
    block is rejected on its own (and handed on blank, which is not data)."""
    try:
        with src.open() as f:
            data = CleanLines(f, report, quotes=False).read_all()  # type: ignore[arg-type]
    except MEMBER_ERRORS as exc:
        raise corrupt_member(src.name, exc) from None
    return _Source(src.name, lambda: io.BytesIO(data))


def _read_member(src: _Source) -> tuple[pa.Table, str, int]:
    """(table with our column names, price column, lines skipped for a wrong field count)."""
    try:
        with src.open() as f:
            first = f.readline(1 << 16).rstrip(b"\r\n").decode("utf-8", "replace")
            header_only = not f.read(1)
    except MEMBER_ERRORS as exc:
        raise corrupt_member(src.name, exc) from None
    header = first.split(",")
    missing = [c for c in _COLS if c not in header]
    prices = [c for c in PRICE_COLUMNS if c in header]
    if missing or len(prices) != 1:
        what = f"missing columns {missing}" if missing else f"price columns {prices or 'none'}"
        raise InputError(
            f"{src.name}: not an OASIS LMP CSV ({what}); header is {first[:300]!r}",
            hint="only PRC_LMP / PRC_INTVL_LMP / PRC_RTPD_LMP / PRC_HASP_LMP CSVs are supported",
        )
    if header_only:
        return pa.schema(_TYPES).empty_table(), prices[0], 0
    names = {**_COLS, prices[0]: "price"}
    skipped: list[int] = []

    def on_bad_row(_row: object) -> str:
        skipped.append(1)
        return "skip"

    parse = pcsv.ParseOptions(
        quote_char=False, ignore_empty_lines=False, invalid_row_handler=on_bad_row
    )
    typed = pcsv.ConvertOptions(
        include_columns=list(names), column_types={s: _TYPES[d] for s, d in names.items()}
    )
    as_text = pcsv.ConvertOptions(
        include_columns=list(names),
        column_types={s: pa.string() for s in names},
        null_values=[],
        quoted_strings_can_be_null=False,
    )
    for opts in (typed, as_text):
        skipped.clear()
        try:
            with src.open() as f:
                table = pcsv.read_csv(f, parse_options=parse, convert_options=opts)
        except MEMBER_ERRORS as exc:
            raise corrupt_member(src.name, exc) from None
        except pa.ArrowInvalid as exc:
            if opts is typed:
                continue  # a value did not convert: redo as text, find the bad rows
            raise InputError(
                f"{src.name}: cannot be read as CSV ({exc})",
                hint="the file is not a well-formed OASIS CSV; fetch it again",
            ) from None
        table = table.rename_columns([names[c] for c in table.column_names])
        if opts is as_text:
            table = _convert_text(table)
        return table.select(list(_TYPES)), prices[0], len(skipped)
    raise AssertionError("unreachable")


def _by_unique(col: pa.ChunkedArray, fn: Callable[[str], object], typ: pa.DataType) -> pa.Array:
    """Convert a text column by converting each distinct value once (invalid -> null)."""
    uniques = pc.unique(col)
    converted: list[object] = []
    for s in uniques.to_pylist():
        try:
            converted.append(fn(s.strip()))
        except (ValueError, TypeError, OverflowError):
            converted.append(None)
    return pc.take(pa.array(converted, typ), pc.index_in(col, uniques))


def _aware(s: str) -> datetime | None:
    ts = datetime.fromisoformat(s)
    return ts if ts.tzinfo is not None else None  # OASIS always sends an offset


def _iso_date(s: str) -> date | None:
    return date.fromisoformat(s) if len(s) == 10 else None


def _small_int(s: str) -> int | None:
    return int(s) if s.isdigit() and len(s) <= 4 else None


def _convert_text(t: pa.Table) -> pa.Table:
    """The slow path: columns read as text, converted with invalid values -> null."""
    price = t["price"]
    ok = pc.match_substring_regex(price, _NUMBER_RE)
    price = pc.if_else(ok, price, pa.scalar(None, pa.string())).cast(pa.float64())
    return pa.table(
        {
            "start": _by_unique(t["start"], _aware, _TS),
            "end": _by_unique(t["end"], _aware, _TS),
            "opr_dt": _by_unique(t["opr_dt"], _iso_date, pa.date32()),
            "opr_hr": _by_unique(t["opr_hr"], _small_int, pa.int32()),
            "opr_interval": _by_unique(t["opr_interval"], _small_int, pa.int32()),
            "node": t["node"],
            "market": t["market"],
            "ltype": t["ltype"],
            "price": price,
        }
    )


# --------------------------------------------------------------------------------------------
# Long to wide


def _arange(n: int) -> pa.Array:
    """0, 1, ..., n-1 as int64, vectorized."""
    if n == 0:
        return pa.array([], pa.int64())
    return pc.subtract(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), n)), 1)


def _between(col: pa.ChunkedArray, bounds: tuple[int, int]) -> pa.ChunkedArray:
    return pc.and_(pc.greater_equal(col, bounds[0]), pc.less_equal(col, bounds[1]))


def _checks(t: pa.Table) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """(key_ok, value_ok) per long row, without nulls."""
    key_ok = pc.and_(
        pc.and_(pc.is_valid(t["start"]), pc.not_equal(t["node"], "")),
        pc.not_equal(t["market"], ""),
    )
    value_ok = pc.and_(
        pc.and_(pc.is_valid(t["end"]), pc.is_valid(t["opr_dt"])),
        pc.and_(
            _between(t["opr_hr"], OPR_HOUR_RANGE), _between(t["opr_interval"], OPR_INTERVAL_RANGE)
        ),
    )
    known = pc.is_in(t["ltype"], pa.array(list(COMPONENTS)))
    # the shared number rule (NaN, inf, |x| > MAX_ABS fail); a missing price fails too
    price_ok = pc.less_equal(pc.abs(t["price"]), MAX_ABS)
    value_ok = pc.and_(value_ok, pc.and_(known, price_ok))
    return pc.fill_null(key_ok, False), pc.fill_null(value_ok, False)


def _row_problem(row: dict[str, object], price_col: str) -> tuple[str | None, str] | None:
    """(CSV field, rule) of the first bad value in one long row, or None if it is fine."""
    if row["start"] is None:
        return "INTERVALSTARTTIME_GMT", "bad_timestamp"
    for col in ("node", "market"):
        if not row[col]:
            return _FIELD[col], "missing_field"
    if row["ltype"] not in COMPONENTS:
        return "LMP_TYPE", "unknown_lmp_type"
    if row["end"] is None:
        return "INTERVALENDTIME_GMT", "bad_timestamp"
    if row["opr_dt"] is None:
        return "OPR_DT", "bad_date"
    for col, (lo, hi) in (("opr_hr", OPR_HOUR_RANGE), ("opr_interval", OPR_INTERVAL_RANGE)):
        v = row[col]
        if not isinstance(v, int) or not lo <= v <= hi:
            return _FIELD[col], "bad_integer"
    price = row["price"]
    if not isinstance(price, float) or not abs(price) <= MAX_ABS:  # the shared number rule
        return price_col, "bad_number"
    return None


def _group_problem(g: dict[str, object], required: list[str]) -> tuple[str | None, str]:
    """(CSV field, rule) why a node-interval is rejected (given it failed the checks)."""
    if g["bad_sum"]:
        return None, "sibling_rejected"
    if any(not g[f"v_{c}_count"] for c in required):
        return "LMP_TYPE", "missing_component"
    if any(int(g[f"v_{c}_count"]) > 1 for c in COMPONENTS):  # type: ignore[call-overload]
        return "LMP_TYPE", "duplicate_component"
    for col in _LABELS:
        if g[f"{col}_min"] != g[f"{col}_max"]:
            return _FIELD[col], "inconsistent_interval"
    return "INTERVALENDTIME_GMT", "bad_interval"


def _aggregate(work: pa.Table, bad: pa.ChunkedArray) -> pa.Table:
    """One row per key: max and count of each component, min/max of each label, bad count."""
    cols = {k: work[k] for k in _KEYS}
    null = pa.scalar(None, pa.float64())
    for comp in COMPONENTS:
        cols[f"v_{comp}"] = pc.if_else(pc.equal(work["ltype"], comp), work["price"], null)
    for k in _LABELS:
        cols[k] = work[k]
    cols["bad"] = bad
    aggs = [(f"v_{c}", f) for c in COMPONENTS for f in ("max", "count")]
    aggs += [(k, f) for k in _LABELS for f in ("min", "max")]
    aggs.append(("bad", "sum"))
    return pa.table(cols).group_by(_KEYS).aggregate(aggs)


def _present(t: pa.Table, value_ok: pa.ChunkedArray) -> list[str]:
    """LMP, plus MCE/MCC/MCL if the file has any valid row of them (MGHG is never expected)."""
    present = set(pc.unique(t["ltype"].filter(value_ok)).to_pylist())
    return ["LMP", *(c for c in ("MCE", "MCC", "MCL") if c in present)]


def _group_ok(agg: pa.Table, required: list[str]) -> pa.ChunkedArray:
    ok = pc.equal(agg["bad_sum"], 0)
    for comp in COMPONENTS:
        bound = pc.equal if comp in required else pc.less_equal
        ok = pc.and_(ok, bound(agg[f"v_{comp}_count"], 1))
    for col in _LABELS:
        ok = pc.and_(ok, pc.equal(agg[f"{col}_min"], agg[f"{col}_max"]))
    return pc.fill_null(pc.and_(ok, pc.greater(agg["end_min"], agg["start"])), False)


def _parse_sources(sources: list[_Source], report: FileReport) -> pa.Table:
    members: list[_Member] = []
    tables = []
    offset = 0
    for src in map(lambda s: _cleaned(s, report), sources):
        table, price_col, skipped = _read_member(src)
        members.append(_Member(src, offset, table.num_rows, price_col, skipped))
        tables.append(table)
        offset += table.num_rows
    t = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    key_ok, value_ok = _checks(t)
    clean = bool(pc.all(key_ok).as_py() and pc.all(value_ok).as_py())
    work = t if clean else t.append_column("_i", _arange(t.num_rows)).filter(key_ok)
    bad = pc.invert(value_ok if clean else value_ok.filter(key_ok)).cast(pa.int8())
    agg = _aggregate(work, bad)
    required = ["LMP"]
    ok = _group_ok(agg, required)
    rejects: list[Reject] = []
    if not clean:
        rejects += _key_rejects(t, key_ok, members)
    if not pc.all(ok).as_py():
        rejects += _group_rejects(work, agg.filter(pc.invert(ok)), members, required)
        agg = agg.filter(ok)
    wide = pa.table(
        {
            "market": agg["market"],
            "node": agg["node"],
            "interval_start_utc": agg["start"],
            "interval_end_utc": agg["end_min"],
            "opr_date": agg["opr_dt_min"],
            "opr_hour": agg["opr_hr_min"],
            "opr_interval": agg["opr_interval_min"],
            **{out: agg[f"v_{comp}_max"] for comp, (_item, out) in COMPONENTS.items()},
            "_source_file": pa.repeat(pa.scalar(report.source_file), agg.num_rows),
        }
    )
    expected = [c for c in _present(t, value_ok) if c != "LMP"]
    if expected:
        partial = pc.sum(_any_missing(agg, expected).cast(pa.int64())).as_py() or 0
        if partial:
            report.warn(
                f"{partial} intervals loaded without some of their components "
                f"({'/'.join(expected)} stored as null where absent)"
            )
    order = [(k, "ascending") for k in ("market", "node", "interval_start_utc")]
    wide = wide.sort_by(order)
    _record(report, members, rejects)
    report.rows_read += wide.num_rows
    return LMP.conform(wide)


def _any_missing(agg: pa.Table, components: list[str]) -> pa.ChunkedArray:
    missing = pc.equal(agg[f"v_{components[0]}_count"], 0)
    for comp in components[1:]:
        missing = pc.or_(missing, pc.equal(agg[f"v_{comp}_count"], 0))
    return missing


def _member_of(members: list[_Member], row: int) -> _Member:
    return next(m for m in reversed(members) if row >= m.offset)


def _key_rejects(t: pa.Table, key_ok: pa.ChunkedArray, members: list[_Member]) -> list[Reject]:
    idx = pc.indices_nonzero(pc.invert(key_ok))
    out: list[Reject] = []
    for i, row in zip(idx.to_pylist(), t.take(idx).to_pylist(), strict=True):
        problem = _row_problem(row, _member_of(members, i).price_col)
        field, rule = problem or ("INTERVALSTARTTIME_GMT", "missing_field")
        out.append((i, field, rule))
    return out


def _group_rejects(
    work: pa.Table, groups: pa.Table, members: list[_Member], required: list[str]
) -> list[Reject]:
    if "_i" not in work.column_names:
        work = work.append_column("_i", _arange(work.num_rows))
    reasons = [_group_problem(g, required) for g in groups.to_pylist()]
    keys = groups.select(_KEYS).append_column("_g", _arange(groups.num_rows))
    out: list[Reject] = []
    for row in work.join(keys, _KEYS, join_type="inner").to_pylist():
        i = int(row["_i"])
        own = _row_problem(row, _member_of(members, i).price_col)
        field, rule = own or reasons[int(row["_g"])]
        out.append((i, field, rule))
    return out


def _record(report: FileReport, members: list[_Member], rejects: list[Reject]) -> None:
    """Add rejects (sorted by member and line) to ``report`` and count them in rows_read."""
    entries: list[tuple[int, int, str | None, str, str]] = []
    for i, field, rule in rejects:
        m = _member_of(members, i)
        line = m.line(i - m.offset)
        raw = m.raw(line)
        if not raw.strip():
            continue  # a blank line is not a data row
        entries.append((members.index(m), line or 0, field, rule, raw))
    for mi, m in enumerate(members):
        if m.skipped:
            m._index()
            entries += [(mi, ln, None, "bad_column_count", m.raw(ln)) for ln in m.bad_lines]
    entries.sort(key=lambda e: (e[0], e[1]))
    for mi, line, field, rule, raw in entries:
        text = f"{members[mi].src.name}: {raw}" if len(members) > 1 else raw
        report.reject(line or None, field, rule, text)
    report.rows_read += len(entries)
