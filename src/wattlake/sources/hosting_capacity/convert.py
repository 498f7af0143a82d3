"""Vectorised text -> typed conversions for the hosting-capacity parser (pyarrow compute).

Every converter takes a column of raw strings, applies the format's rules, and returns the typed
values plus a boolean mask of rows whose non-null value could not be converted (``bad``) and the
reject rule for them. Null tokens and surrounding whitespace are handled first, for every field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from wattlake.parsing import bad_floats
from wattlake.sources.hosting_capacity.formats import (
    FIELDS,
    DateRule,
    FileFormat,
    IdRules,
    TextRule,
    canonical_unit,
    unit_factor,
)

NUMBER_RE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
INT_RE = r"^[+-]?\d+(\.0*)?$"
TRUE_TOKENS = ("y", "yes", "true", "t", "1")
FALSE_TOKENS = ("n", "no", "false", "f", "0")
_DATE_PARTS = {
    "%Y": r"(?P<Y>\d{4})",
    "%m": r"(?P<m>\d{1,2})",
    "%d": r"(?P<d>\d{1,2})",
    "%H": r"\d{1,2}",
    "%M": r"\d{1,2}",
    "%S": r"\d{1,2}",
    "%f": r"\d+",
    "%z": r"(?:Z|[+-]\d{2}(?::?\d{2})?)",
    "%p": r"(?i:AM|PM)",
    "%*": r".*",
    "%%": "%",
}


@dataclass(frozen=True, slots=True)
class Converted:
    """Typed values, and which rows failed (``bad``: boolean, no nulls) under which rule."""

    values: pa.Array
    bad: pa.Array | None = None
    rule: str = ""


def clean(column: pa.ChunkedArray | pa.Array, null_tokens: tuple[str, ...]) -> pa.Array:
    """Trim whitespace; empty cells and null tokens (case-insensitive) become null."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    arr = pc.utf8_trim_whitespace(arr)
    tokens = pa.array(sorted({t.strip().lower() for t in null_tokens} | {""}), pa.string())
    is_null = pc.is_in(pc.utf8_lower(arr), value_set=tokens)
    return pc.if_else(is_null, pa.scalar(None, pa.string()), arr)


def _bad(arr: pa.Array, ok: pa.Array) -> pa.Array:
    """Rows with a value that is not ok."""
    return pc.fill_null(pc.and_(pc.is_valid(arr), pc.invert(pc.fill_null(ok, False))), False)


def to_number(arr: pa.Array, factor: float = 1.0, thousands: str | None = None) -> Converted:
    """Decimal numbers (optionally with a thousands separator), times ``factor``."""
    text = pc.replace_substring(arr, thousands, "") if thousands else arr
    ok = pc.match_substring_regex(text, NUMBER_RE)
    values = pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), pa.float64())
    if factor > 1.0:
        values = pc.multiply(values, factor)
    elif factor < 1.0:  # divide: 13200 / 1000 is exactly 13.2, 13200 * 0.001 is not
        values = pc.divide(values, 1.0 / factor)
    bad = _bad(arr, ok)
    out_of_range = bad_floats(values)  # the shared rule: finite, within +-MAX_ABS
    if pc.any(out_of_range).as_py():
        bad = pc.or_(bad, out_of_range)
        values = pc.if_else(out_of_range, pa.scalar(None, pa.float64()), values)
    return Converted(values, bad, "bad_number")


def to_int(arr: pa.Array) -> Converted:
    """Whole numbers; "3.0" is accepted as 3."""
    ok = pc.match_substring_regex(arr, INT_RE)
    digits = pc.replace_substring_regex(arr, r"\.0*$", "")
    values = pc.cast(pc.if_else(ok, digits, pa.scalar(None, pa.string())), pa.int64())
    return Converted(values, _bad(arr, ok), "bad_number")


def to_bool(arr: pa.Array) -> Converted:
    """Y/N, yes/no, true/false, 1/0 (case-insensitive)."""
    lower = pc.utf8_lower(arr)
    is_true = pc.is_in(lower, value_set=pa.array(TRUE_TOKENS))
    is_false = pc.is_in(lower, value_set=pa.array(FALSE_TOKENS))
    ok = pc.or_(is_true, is_false)
    values = pc.if_else(ok, is_true, pa.scalar(None, pa.bool_()))
    return Converted(values, _bad(arr, ok), "bad_boolean")


def date_regex(fmt: str) -> str:
    """The anchored RE2 pattern for a date format (see DateRule)."""
    out = []
    for part in re.split(r"(%.)", fmt):
        if part in _DATE_PARTS:
            out.append(_DATE_PARTS[part])
        elif part:
            out.append("".join(r"\s+" if ch == " " else re.escape(ch) for ch in part))
    return "^" + "".join(out) + "$"


def to_date(arr: pa.Array, rule: DateRule) -> Converted:
    """Dates in any of the rule's formats; impossible dates (Feb 30) are bad, not rolled over."""
    year = month = day = pa.nulls(len(arr), pa.string())
    for fmt in rule.formats:
        parts = pc.extract_regex(arr, date_regex(fmt))
        year = pc.coalesce(year, pc.struct_field(parts, "Y"))
        month = pc.coalesce(month, pc.struct_field(parts, "m"))
        day = pc.coalesce(day, pc.struct_field(parts, "d"))
    pad = {"width": 2, "padding": "0"}
    iso = pc.binary_join_element_wise(
        year, pc.utf8_lpad(month, **pad), pc.utf8_lpad(day, **pad), "-"
    )
    stamp = pc.strptime(iso, format="%Y-%m-%d", unit="s", error_is_null=True)
    y = pc.cast(year, pa.int64())
    ok = pc.and_(
        pc.and_(pc.equal(pc.day(stamp), pc.cast(day, pa.int64())), pc.greater_equal(y, 1900)),
        pc.and_(pc.equal(pc.month(stamp), pc.cast(month, pa.int64())), pc.less_equal(y, 2200)),
    )
    ok = pc.fill_null(ok, False)
    values = pc.if_else(ok, pc.cast(stamp, pa.date32()), pa.scalar(None, pa.date32()))
    bad = _bad(arr, ok) if rule.invalid == "reject" else None
    return Converted(values, bad, "bad_date")


def to_id(arr: pa.Array, rules: IdRules) -> pa.Array:
    """Apply the id rules: extra null values, float suffix, upper case."""
    if rules.null_values:
        tokens = pa.array([t.lower() for t in rules.null_values], pa.string())
        arr = pc.if_else(
            pc.is_in(pc.utf8_lower(arr), value_set=tokens), pa.scalar(None, pa.string()), arr
        )
    if rules.strip_float_suffix:
        arr = pc.replace_substring_regex(arr, r"^(\d+)\.0+$", r"\1")
    return pc.utf8_upper(arr) if rules.upper else arr


def to_text(arr: pa.Array, rule: TextRule | None) -> pa.Array:
    """Apply a text rule: keep the ``value`` group of ``extract`` (if it matches), change case."""
    if rule is None:
        return arr
    if rule.extract:
        found = pc.struct_field(pc.extract_regex(arr, rule.extract), "value")
        arr = pc.coalesce(found, arr)
    if rule.case == "lower":
        arr = pc.utf8_lower(arr)
    elif rule.case == "upper":
        arr = pc.utf8_upper(arr)
    return arr


def convert_column(
    column: pa.ChunkedArray | pa.Array, field: str, fmt: FileFormat, unit: str | None = None
) -> Converted:
    """Convert one raw column into canonical ``field`` under ``fmt`` (``unit`` overrides the
    format's declared unit, used for wide technology columns)."""
    arr = clean(column, fmt.null_tokens)
    kind = FIELDS[field][0]
    if kind == "id":
        return Converted(to_id(arr, fmt.ids))
    if kind == "text":
        return Converted(to_text(arr, fmt.text.get(field)))
    if kind == "number":
        target = canonical_unit(field)
        factor = unit_factor(unit, target) if unit and target else fmt.factor(field)
        return to_number(arr, factor, fmt.thousands_separator)
    if kind == "int":
        return to_int(arr)
    if kind == "bool":
        return to_bool(arr)
    return to_date(arr, fmt.dates[field])
