"""The one shared hosting-capacity / DER parser, driven by a declarative FileFormat.

``parse_hosting_capacity(stream, report, fmt)`` reads a CSV in any utility's layout and yields
silver tables (see ``schema.py``): ``feeders`` for feeder-level circuit files, ``feeder_sections``
plus rolled-up ``feeders`` for segment-level files, ``ders`` for installed / planned DER files.
It is pure (bytes in, Arrow out) and vectorised with pyarrow.

Row accounting (``rows_read == rows_loaded + rows_rejected``): the unit is the *output record*.
A plain file has one record per data line. A wide DER line expands to one record per technology
(or one project record); a segment file adds one record per rolled-up feeder. A line that cannot
be used at all (bad number or date, missing id, wrong column count) is one rejected record; a
record whose key repeats an earlier one in the same file is rejected as ``duplicate_key``. The
number of physical data lines is put in ``report.note``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from wattlake.csvlines import CleanLines
from wattlake.errors import InputError
from wattlake.parsing import FileReport
from wattlake.sources.hosting_capacity.convert import convert_column
from wattlake.sources.hosting_capacity.formats import (
    FIELDS,
    SECTION_FIELDS,
    FileFormat,
    RollupField,
    load_formats,
    match_format,
)
from wattlake.sources.hosting_capacity.schema import DERS, FEEDER_SECTIONS, FEEDERS

_ROW = "__row"  # original data-row index, carried through every step


@dataclass(frozen=True, slots=True)
class BoundParser:
    """A ``Parser`` (see ``wattlake.parsing``) with its FileFormat bound."""

    fmt: FileFormat

    def __call__(self, stream: BinaryIO, report: FileReport) -> Iterator[tuple[str, pa.Table]]:
        return parse_hosting_capacity(stream, report, self.fmt)


def parser_for(file_name: str, formats: Sequence[FileFormat] | None = None) -> BoundParser:
    """The parser for ``file_name``, chosen by the formats' file-name globs.

    Raises InputError naming the known patterns when no format matches."""
    known = load_formats() if formats is None else list(formats)
    fmt = match_format(file_name, known)
    if fmt is None:
        patterns = ", ".join(g for f in known for g in f.file_globs)
        raise InputError(
            f"{file_name}: no hosting-capacity format matches this file name",
            hint=f"rename the file to one of: {patterns}; or add a format TOML file",
        )
    return BoundParser(fmt)


class _Lines:
    """Maps data-row indexes to 1-based physical line numbers and raw text, computed lazily.

    Plain files (no quotes, no blank or malformed lines) map row i to line i + 2; otherwise the
    text is walked once with the csv module, mirroring what pyarrow kept and skipped."""

    def __init__(self, text: str, n_cols: int, simple: bool) -> None:
        self.text, self.n_cols, self.simple = text, n_cols, simple

    @cached_property
    def _physical(self) -> list[str]:
        # split on \n only: str.splitlines also breaks at \x1c, \x85, \u2028 ... inside a line
        return [line.removesuffix("\r") for line in self.text.split("\n")]

    @cached_property
    def _walk(self) -> tuple[list[int], list[int]]:
        good: list[int] = []
        bad: list[int] = []
        reader = csv.reader(io.StringIO(self.text, newline=""))
        previous = 0
        for i, record in enumerate(reader):
            start, previous = previous + 1, reader.line_num
            if i == 0 or not record:
                continue
            (good if len(record) == self.n_cols else bad).append(start)
        return good, bad

    def data_line(self, row: int) -> int | None:
        if self.simple:
            return row + 2
        good = self._walk[0]
        return good[row] if row < len(good) else None

    def invalid_line(self, k: int) -> int | None:
        bad = self._walk[1]
        return bad[k] if k < len(bad) else None

    def raw(self, line: int | None) -> str | None:
        lines = self._physical
        return lines[line - 1] if line is not None and 0 < line <= len(lines) else None


def _read(
    data: bytes, text: str, header: list[str], fmt: FileFormat, wanted: list[str], source: str
) -> tuple[pa.Table, list[str]]:
    """Read every wanted column as text; return the table and the malformed lines' text."""
    invalid: list[str] = []

    def on_invalid(row: Any) -> str:
        invalid.append(str(row.text))
        return "skip"

    buffer = data if data.endswith(b"\n") else data + b"\n"
    try:
        table = pacsv.read_csv(
            pa.py_buffer(buffer),
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=False, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=wanted,
                column_types=dict.fromkeys(wanted, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InputError(
            f"{source}: not readable as CSV in format {fmt.name} ({exc})",
            hint="look for an unterminated quote or a truncated download",
        ) from exc
    return table, invalid


def _resolve(header: list[str], fmt: FileFormat, source: str) -> dict[str, str]:
    """Map each needed source column (as named in the format) to the file's actual header name."""
    actual: dict[str, str] = {}
    for name in header:
        actual.setdefault(name.strip().casefold(), name)
    needed = list(fmt.columns) + list(fmt.wide.technologies if fmt.wide else [])
    found = {c: actual[c.strip().casefold()] for c in needed if c.strip().casefold() in actual}
    missing = [c for c in needed if c not in found and c not in fmt.optional_columns]
    if missing:
        raise InputError(
            f"{source}: columns {missing} expected by format {fmt.name} are missing "
            f"(file has {[h for h in header if h]})",
            hint=f"if the utility renamed a column, update [columns] in {fmt.path}",
        )
    return found


def _const(value: str | None, n: int) -> pa.Array:
    return pa.nulls(n, pa.string()) if value is None else pa.repeat(value, n)


def _uid(*parts: pa.Array | str, skip_nulls: bool = False) -> pa.Array:
    mode = "skip" if skip_nulls else "emit_null"
    return pc.binary_join_element_wise(*parts, ":", null_handling=mode)


def _dedupe(table: pa.Table, key: str) -> tuple[pa.Table, list[int]]:
    """Keep the first row per key; return the kept rows and the _ROW of every later duplicate."""
    firsts = table.group_by(key, use_threads=False).aggregate([(_ROW, "min")])
    keep = pc.is_in(table[_ROW], value_set=firsts[f"{_ROW}_min"])
    if pc.all(keep).as_py():
        return table, []
    return table.filter(keep), table.filter(pc.invert(keep))[_ROW].to_pylist()


def _any(masks: list[pa.Array], n: int) -> pa.Array:
    result = pa.repeat(False, n)
    for mask in masks:
        result = pc.or_(result, mask)
    return result


@dataclass
class _File:
    """One file being parsed: its format, report, raw text table and line index."""

    fmt: FileFormat
    report: FileReport
    table: pa.Table
    lines: _Lines
    source_of: dict[str, str] = field(default_factory=dict)  # canonical field -> column

    def reject(self, row: int, column: str | None, rule: str) -> None:
        """Reject data row ``row`` (index into ``table``) with its line number and raw text."""
        line = self.lines.data_line(row)
        raw = self.lines.raw(line)
        if raw is None:
            values = [self.table.column(i)[row].as_py() for i in range(self.table.num_columns)]
            raw = ",".join("" if v is None else str(v) for v in values)
        self.report.reject(line, column, rule, raw)

    def stamp(self, out: pa.Table) -> pa.Table:
        """Add the utility, feeder_uid and _source_file columns."""
        n = out.num_rows
        utility = _const(self.fmt.utility, n)
        feeder = out["native_feeder_id"] if "native_feeder_id" in out.column_names else None
        out = out.append_column("utility", utility)
        out = out.append_column("feeder_uid", _uid(utility, feeder) if feeder else _const(None, n))
        return out.append_column("_source_file", _const(self.report.source_file, n))

    def dedupe(self, out: pa.Table, key: str, id_field: str) -> pa.Table:
        """Drop rows whose key repeats an earlier row of the file; reject them."""
        kept, duplicates = _dedupe(out, key)
        for row in duplicates:
            self.reject(row, self.source_of.get(id_field), "duplicate_key")
        return kept


def parse_hosting_capacity(
    stream: BinaryIO, report: FileReport, fmt: FileFormat
) -> Iterator[tuple[str, pa.Table]]:
    """Parse one file in ``fmt``'s layout; see the module docstring for tables and accounting."""
    # Quoted fields never span lines; a line with bad bytes, a NUL or a stray quote is
    # rejected by CleanLines on its own (and handed on blank).
    clean = CleanLines(
        stream, report, encoding=fmt.encoding, encoding_setting=f"`encoding` in {fmt.path}"
    )
    data = clean.read_all()
    text = data.decode("utf-8")
    if not text.strip():
        raise InputError(f"{report.source_file}: the file is empty", hint="check the download")
    header = next(csv.reader(io.StringIO(text.split("\n", 1)[0].rstrip("\r"))), [])
    found = _resolve(header, fmt, report.source_file)
    table, invalid = _read(data, text, header, fmt, list(found.values()), report.source_file)
    simple = not invalid and '"' not in text and "\n\n" not in text and "\n\r\n" not in text
    f = _File(fmt, report, table, _Lines(text, len(header), simple))
    lines = table.num_rows + len(invalid) + report.rows_rejected
    report.note = f"{lines} data lines ({fmt.name})"
    for k, raw in enumerate(invalid):
        report.reject(f.lines.invalid_line(k), None, "bad_column_count", raw)
    report.rows_read += len(invalid)

    fields, techs = _convert(f, found)
    if fmt.dataset == "circuits" and fmt.rollup is not None:
        yield from _sections(f, pa.table(fields))
    elif fmt.dataset == "circuits":
        record = pa.table(fields)
        report.rows_read += record.num_rows
        out = f.dedupe(f.stamp(record), "feeder_uid", "native_feeder_id")
        yield FEEDERS.name, FEEDERS.conform(out)
    else:
        record = pa.table(fields)
        der = _unpivot(record, techs, fmt) if fmt.wide else _long_ders(record, fmt)
        report.rows_read += der.num_rows
        yield DERS.name, DERS.conform(f.dedupe(_der_ids(f.stamp(der), fmt), "der_uid", "native_id"))


def _convert(f: _File, found: dict[str, str]) -> tuple[dict[str, pa.Array], dict[str, pa.Array]]:
    """Convert every mapped column and technology column. Rows with a problem are rejected
    (first problem per row, in column order) and dropped; return the good rows' fields."""
    fmt, n = f.fmt, f.table.num_rows
    fields: dict[str, pa.Array] = {_ROW: pa.array(range(n), pa.int64())}
    techs: dict[str, pa.Array] = {}
    problems: list[tuple[str | None, str, pa.Array]] = []
    for column, field_name in fmt.columns.items():
        if column in found:
            conv = convert_column(f.table[found[column]], field_name, fmt)
            fields[field_name], f.source_of[field_name] = conv.values, column
            if conv.bad is not None:
                problems.append((column, conv.rule, conv.bad))
    if fmt.wide:
        for column in fmt.wide.technologies:
            conv = convert_column(f.table[found[column]], "nameplate_kw", fmt, fmt.wide.unit)
            techs[column] = conv.values
            if conv.bad is not None:
                problems.append((column, conv.rule, conv.bad))
        if fmt.wide.no_technology == "reject":
            some = [pc.fill_null(pc.greater(v, 0), False) for v in techs.values()]
            problems.append((None, "no_technology", pc.invert(_any(some, n))))
    keys = ["native_feeder_id"] if fmt.dataset == "circuits" else ["native_id"]
    keys += ["native_section_id"] if fmt.rollup is not None else []
    for key in keys:
        problems.append((f.source_of[key], "missing_id", pc.is_null(fields[key])))

    first_problem: dict[int, tuple[str | None, str]] = {}
    for where, rule, mask in problems:
        for row in pc.indices_nonzero(mask).to_pylist():
            first_problem.setdefault(row, (where, rule))
    for row in sorted(first_problem):
        f.reject(row, *first_problem[row])
    f.report.rows_read += len(first_problem)
    good = pc.invert(_any([p[2] for p in problems], n))
    return (
        {k: v.filter(good) for k, v in fields.items()},
        {k: v.filter(good) for k, v in techs.items()},
    )


def _der_ids(out: pa.Table, fmt: FileFormat) -> pa.Table:
    """Add status and der_uid = utility:status:native_id[:technology]."""
    n = out.num_rows
    status = _const(fmt.status, n)
    tech = out["technology"] if "technology" in out.column_names else _const(None, n)
    uid = _uid(out["utility"], status, out["native_id"], tech, skip_nulls=True)
    return out.append_column("status", status).append_column("der_uid", uid)


def _der_types(native: pa.Array, fmt: FileFormat) -> pa.Array:
    """Map native type text to the standard vocabulary (unmapped: default; missing: unknown)."""
    keys = pa.array(list(fmt.der_types), pa.string())
    values = pa.array(list(fmt.der_types.values()), pa.string())
    index = pc.index_in(pc.utf8_lower(native), value_set=keys)
    mapped = pc.fill_null(pc.take(values, index), fmt.default_der_type)
    return pc.if_else(pc.is_null(native), pa.scalar("unknown"), mapped)


def _column(table: pa.Table, name: str, type_: pa.DataType) -> pa.Array:
    """A column as one array, or nulls if the format does not map it."""
    if name in table.column_names:
        return table[name].combine_chunks()
    return pa.nulls(table.num_rows, type_)


def _long_ders(record: pa.Table, fmt: FileFormat) -> pa.Table:
    native = _column(record, "native_type", pa.string())
    return record.append_column("der_type", _der_types(native, fmt))


def _unpivot(record: pa.Table, techs: dict[str, pa.Array], fmt: FileFormat) -> pa.Table:
    """One row per (project, technology > 0); projects with none become one project row."""
    assert fmt.wide is not None
    pieces: list[pa.Table] = []
    present_any = pa.repeat(False, record.num_rows)
    for order, (column, der_type) in enumerate(fmt.wide.technologies.items()):
        present = pc.fill_null(pc.greater(techs[column], 0), False)
        present_any = pc.or_(present_any, present)
        idx = pc.indices_nonzero(present)
        piece = record.take(idx)
        m = piece.num_rows
        piece = piece.append_column("technology", pa.repeat(column, m))
        piece = piece.append_column("der_type", pa.repeat(der_type, m))
        piece = piece.append_column("nameplate_kw", pc.take(techs[column], idx))
        pieces.append(piece.append_column("__order", pa.repeat(order, m)))
    if fmt.wide.no_technology == "project_row":
        piece = record.take(pc.indices_nonzero(pc.invert(present_any)))
        m = piece.num_rows
        native = _column(piece, "native_type", pa.string())
        piece = piece.append_column("technology", _const(None, m))
        piece = piece.append_column("der_type", _der_types(native, fmt))
        piece = piece.append_column(
            "nameplate_kw", _column(piece, "project_nameplate_kw", pa.float64())
        )
        pieces.append(piece.append_column("__order", pa.repeat(-1, m)))
    out = pa.concat_tables(pieces)
    return out.sort_by([(_ROW, "ascending"), ("__order", "ascending")]).drop_columns(["__order"])


def _sections(f: _File, record: pa.Table) -> Iterator[tuple[str, pa.Table]]:
    """Yield feeder_sections and the feeders rolled up from them."""
    utility = _const(f.fmt.utility, record.num_rows)
    uid = _uid(utility, record["native_feeder_id"], record["native_section_id"])
    sections = f.dedupe(
        record.append_column("section_uid", uid), "section_uid", "native_section_id"
    )
    feeders = _rollup(sections, f.fmt)
    f.report.rows_read += record.num_rows + feeders.num_rows

    keep = [c for c in sections.column_names if c in SECTION_FIELDS]
    out = sections.select(["section_uid", "native_feeder_id", *keep]).rename_columns(
        ["section_uid", "native_feeder_id", *(c.removeprefix("section_") for c in keep)]
    )
    yield FEEDER_SECTIONS.name, FEEDER_SECTIONS.conform(f.stamp(out))
    yield FEEDERS.name, FEEDERS.conform(f.stamp(feeders))


def _rollup(sections: pa.Table, fmt: FileFormat) -> pa.Table:
    """One row per native_feeder_id, fields aggregated as the format's [rollup] says.

    Feeder-level fields the rollup does not name take their first non-null value."""
    assert fmt.rollup is not None
    key = "native_feeder_id"
    rules = dict(fmt.rollup)
    for name in sections.column_names:
        feeder_level = name in FIELDS and name not in SECTION_FIELDS and name != key
        if feeder_level and name not in rules:
            rules[name] = RollupField("first", name)
    ordered = sections.sort_by([(key, "ascending"), (_ROW, "ascending")])
    plain = [(r.of, r.agg) for r in rules.values() if r.agg != "at_min"]
    aggs = list(dict.fromkeys([*plain, ("native_section_id", "count")]))
    grouped = ordered.group_by(key, use_threads=False).aggregate(aggs)
    columns: dict[str, pa.Array | pa.ChunkedArray] = {key: grouped[key]}
    for name, rule in rules.items():
        if rule.agg != "at_min":
            columns[name] = grouped[f"{rule.of}_{rule.agg}"]
            continue
        assert rule.by is not None
        by_min = sections.sort_by([(key, "ascending"), (rule.by, "ascending"), (_ROW, "ascending")])
        picked = by_min.group_by(key, use_threads=False).aggregate([(rule.of, "first")])
        if not picked[key].equals(grouped[key]):  # pragma: no cover - both sorted by key
            raise AssertionError("rollup groups out of order")
        columns[name] = picked[f"{rule.of}_first"]
    columns["section_count"] = grouped["native_section_id_count"]
    return pa.table(columns)
