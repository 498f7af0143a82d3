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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from wattlake.errors import InputError

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


_EPOCH_S = 62_135_596_800  # seconds from 0001-01-01 to 1970-01-01
_TIME_BITS = 39  # seconds since 0001-01-01 up to year 9999 fit in 39 bits
_ID_LIMIT = 1 << (63 - _TIME_BITS)


def one_chunk(col: pa.ChunkedArray) -> pa.Array:
    """The column as one array: its only chunk as is (not copied), else the chunks joined."""
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


class SeenKeys:
    """Which rows of one file repeat a key an earlier row of the same file had (first wins).

    For time-series keys: ``identity`` columns (text, e.g. meter, serial, data type) and one
    ``time`` column (timestamp). Each key packs exactly into an int64: an id per distinct
    identity (24 bits, in first-seen order) above the seconds since 0001-01-01 (39 bits; a
    sub-second part joins the identity). The keys seen so far are kept as sorted runs, 8 bytes
    a row; a file in key order costs one comparison per batch, any other order a sort.
    """

    def __init__(self, identity: tuple[str, ...], time: str) -> None:
        self.identity, self.time = identity, time
        self._ids: dict[tuple[object, ...], int] = {}
        self._runs: list[np.ndarray] = []  # sorted, unique, disjoint
        self._max = -1

    def repeats(self, table: pa.Table) -> np.ndarray:
        """Boolean mask of ``table``'s rows whose key an earlier row (of this or an earlier
        call) had; the others are remembered."""
        n = table.num_rows
        if n == 0:
            return np.zeros(0, dtype=bool)
        micros = pc.cast(one_chunk(table[self.time]), pa.int64()).to_numpy()
        seconds = micros // 1_000_000
        fraction = micros - seconds * 1_000_000
        seconds += _EPOCH_S
        keys = self._identity_ids(table, fraction)
        keys <<= _TIME_BITS
        keys |= seconds
        ascending = n == 1 or bool(np.all(keys[1:] > keys[:-1]))
        if ascending and keys[0] > self._max:  # a file in key order: nothing to look up
            self._remember(keys)
            return np.zeros(n, dtype=bool)
        order = None if ascending else np.argsort(keys, kind="stable")
        ordered = keys if order is None else keys[order]
        seen = np.zeros(n, dtype=bool)
        seen[1:] = ordered[1:] == ordered[:-1]
        for run in self._runs:
            if run[0] <= ordered[-1] and run[-1] >= ordered[0]:
                pos = np.minimum(np.searchsorted(run, ordered), len(run) - 1)
                seen |= run[pos] == ordered
        self._remember(ordered[~seen])
        if order is None:
            return seen
        mask = np.empty(n, dtype=bool)
        mask[order] = seen
        return mask

    def _identity_ids(self, table: pa.Table, fraction: np.ndarray) -> np.ndarray:
        """The identity id of each row, found per run of equal identities (files group them)."""
        n = table.num_rows
        cols = [one_chunk(table[c]) for c in self.identity]
        if fraction.any():
            cols.append(pa.array(fraction))
        change: pa.Array | None = None  # row i+1 starts a new run of equal identities
        for col in cols:
            differs = pc.not_equal(col.slice(1), col.slice(0, n - 1))
            change = differs if change is None else pc.or_kleene(change, differs)
        starts = np.zeros(1, dtype=np.int64)
        if change is not None:
            after = pc.indices_nonzero(pc.fill_null(change, True)).to_numpy().astype(np.int64)
            starts = np.concatenate([starts, after + 1])
        values = [col.take(pa.array(starts)).to_pylist() for col in cols]
        ids = self._ids
        run_ids = np.fromiter(
            (ids.setdefault(k, len(ids)) for k in zip(*values, strict=True)),
            dtype=np.int64,
            count=len(starts),
        )
        if len(ids) > _ID_LIMIT:
            raise InputError(
                f"more than {_ID_LIMIT} distinct {'/'.join(self.identity)} in one file",
                hint="split the file",
            )
        return np.repeat(run_ids, np.diff(np.append(starts, n)))

    def _remember(self, keys: np.ndarray) -> None:
        """Add sorted unique ``keys`` (none seen before) as a run. A run above every earlier key
        (a file in key order) is just appended: lookups skip runs by their range. Otherwise
        runs merge like a binary counter, so lookups touch O(log n) overlapping runs and every
        key is copied O(log n) times."""
        if not len(keys):
            return
        above = int(keys[0]) > self._max
        self._max = max(self._max, int(keys[-1]))
        self._runs.append(keys)
        if above and len(self._runs) <= 64:
            return
        while len(self._runs) >= 2 and len(self._runs[-2]) <= 2 * len(self._runs[-1]):
            b, a = self._runs.pop(), self._runs.pop()
            merged = np.concatenate([a, b])
            if a[-1] > b[0]:
                merged.sort(kind="stable")
            self._runs.append(merged)
