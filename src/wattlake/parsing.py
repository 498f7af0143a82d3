"""The contract between parsers and the pipeline runner.

A parser is a pure function ``parse_x(stream, report) -> Iterator[(table_name, pyarrow.Table)]``:
bytes in, Arrow batches out, no network, no database. It counts every data row it reads in
``report.rows_read`` and every row it cannot use goes to ``report.reject(...)``. The runner
upserts the batches, counts ``rows_loaded`` and checks that
``rows_read == rows_loaded + rows_rejected`` for every file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

import pyarrow as pa
import pyarrow.compute as pc

MAX_REJECT_RAW = 2000  # characters of raw text kept per reject
# The one number rule of every parser: a value must be finite and within +-MAX_ABS. Nothing
# wattlake measures comes near 1e100, and with this bound no sum or average can overflow to inf.
MAX_ABS = 1e100


def bad_floats(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Mask (no nulls) of the values that break the number rule: NaN, +-inf, |x| > MAX_ABS."""
    ok = pc.less_equal(pc.abs(values), MAX_ABS)  # false for NaN and inf; null stays null
    return pc.fill_null(pc.invert(ok), False)


def storable(text: str) -> str:
    """``text`` as any warehouse can store it: NUL becomes ``\\x00``, undecodable bytes
    (surrogate escapes) ``\\xNN`` and other lone surrogates ``\\udNNN``; the rest is kept."""
    if "\x00" not in text:
        try:
            text.encode("utf-8")
            return text
        except UnicodeEncodeError:
            pass
    out = []
    for ch in text:
        code = ord(ch)
        if code == 0:
            out.append("\\x00")
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Reject:
    """One row (or element) that could not be loaded, and why."""

    source_file: str
    line: int | None  # 1-based physical line (or element index) in the file
    field: str | None  # the column / element that failed, if one did
    rule: str  # short machine-readable rule, e.g. "bad_number", "bad_date", "missing_field"
    raw: str  # the raw text of the row, truncated to MAX_REJECT_RAW


@dataclass(slots=True)
class FileReport:
    """What happened to one input file; filled by the parser and the runner."""

    source_file: str
    rows_read: int = 0
    rows_loaded: int = 0
    rejects: list[Reject] = field(default_factory=list)
    skipped: bool = False  # already loaded (same sha256), not parsed again
    note: str | None = None  # e.g. "no data (OASIS code 1000)"
    warnings: list[str] = field(default_factory=list)  # rows loaded with a caveat, per kind

    @property
    def rows_rejected(self) -> int:
        return len(self.rejects)

    def reject(self, line: int | None, field: str | None, rule: str, raw: str) -> None:
        self.rejects.append(
            Reject(self.source_file, line, field, rule, storable(raw[:MAX_REJECT_RAW]))
        )

    def warn(self, message: str) -> None:
        """Rows that loaded with a caveat: kept in ``warnings`` and shown in ``note``."""
        self.warnings.append(message)
        self.note = "; ".join(x for x in (self.note, message) if x)

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_loaded + self.rows_rejected


class Parser(Protocol):
    def __call__(self, stream: BinaryIO, report: FileReport) -> Iterator[tuple[str, pa.Table]]: ...
