"""IntervalBlock → columns, fast: a few compiled XPath calls per block, Arrow casts per batch.

A regular block (every IntervalReading has exactly one ``timePeriod/start``, one
``timePeriod/duration`` and one ``value``, and each optional child — ``cost``, one
``ReadingQuality/quality``, ``tou``, ``consumptionTier``, ``cpp`` — on every reading or on none)
is read column-wise by XPath in C. Anything else goes through a per-reading path that looks
children up by name and rejects what it cannot use. Strings are gathered across blocks and cast
to numbers by Arrow once per batch; a batch whose cast fails is re-checked element by element.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

from wattlake.sources.espi.localtime import np_to_arrow

ESPI = "http://naesb.org/espi"
E = "{" + ESPI + "}"
_NS = {"e": ESPI}


def _x(path: str) -> etree.XPath:
    return etree.XPath(path, namespaces=_NS, smart_strings=False)


def _count(xp: etree.XPath, el: etree._Element) -> int:
    return int(cast(float, xp(el)))


def _strs(xp: etree.XPath, el: etree._Element) -> list[str]:
    return cast(list[str], xp(el))


def line_of(el: etree._Element) -> int:
    """The element's source line (0 when unknown)."""
    line = el.sourceline
    return line if isinstance(line, int) else 0


_IR = "e:IntervalReading"
X_N = _x(f"count({_IR})")
X_REGULAR = _x(f"count({_IR}[e:value and e:timePeriod/e:start and e:timePeriod/e:duration])")
X_CHILDREN = _x(f"count({_IR}/*)")
X_VALUE = _x(f"{_IR}/e:value/text()")
X_START = _x(f"{_IR}/e:timePeriod/e:start/text()")
X_DURATION = _x(f"{_IR}/e:timePeriod/e:duration/text()")
X_QUALITY_N = _x(f"count({_IR}/e:ReadingQuality)")
X_QUALITY_MISSING = _x(f"count({_IR}[not(e:ReadingQuality)])")
X_QUALITY = _x(f"{_IR}/e:ReadingQuality/e:quality/text()")
OPTIONAL = {  # column -> XPath of its text per reading
    "cost": _x(f"{_IR}/e:cost/text()"),
    "tou": _x(f"{_IR}/e:tou/text()"),
    "consumption_tier": _x(f"{_IR}/e:consumptionTier/text()"),
    "cpp": _x(f"{_IR}/e:cpp/text()"),
}
_CHILD = {"cost": E + "cost", "tou": E + "tou", "consumption_tier": E + "consumptionTier",
          "cpp": E + "cpp"}  # fmt: skip
RAW_COLUMNS = ("start", "duration", "value", "quality", *OPTIONAL)

# Whole-block shapes seen in real feeds, each proven by one XPath count: no second occurrence
# on the way to a field (a reading with two values, a timePeriod with two starts, …) and no
# reading with more children than the shape has. Then each reading holds at most one of each
# field, so text lists of length n (the reading count) mean exactly one each, in reading order,
# and nothing else (cost, tou, …) is left unread.
_SECOND = {
    "value": (f"{_IR}/e:value[2]",),
    "start": (f"{_IR}/e:timePeriod[2]", f"{_IR}/e:timePeriod/e:start[2]"),
    "duration": (f"{_IR}/e:timePeriod/e:duration[2]",),
    "quality": (f"{_IR}/e:ReadingQuality[2]", f"{_IR}/e:ReadingQuality/e:quality[2]"),
    "cost": (f"{_IR}/e:cost[2]",),
}


def _shape(fields: tuple[str, ...], children: int) -> tuple[int, etree.XPath, tuple[str, ...]]:
    extra = tuple(f for f in fields if f not in ("value", "start", "duration"))
    paths = [p for f in fields for p in _SECOND[f]] + [f"{_IR}/*[{children + 1}]"]
    return children, _x(" + ".join(f"count({p})" for p in paths)), extra


_SHAPES = (
    _shape(("value", "start", "duration", "quality"), 3),  # PG&E: ReadingQuality on each
    _shape(("value", "start", "duration"), 2),
    _shape(("value", "start", "duration", "cost"), 3),  # GBA samples with cost
)
_SHAPE_COLUMNS = {"quality": X_QUALITY, "cost": OPTIONAL["cost"]}
X_FIRST_CHILDREN = _x(f"count({_IR}[1]/*)")
_INTERVAL = E + "interval"


@dataclass
class RawBatch:
    """Strings of many blocks' readings, column by column, and which block each came from."""

    cols: dict[str, list[str | None]] = field(default_factory=lambda: {c: [] for c in RAW_COLUMNS})
    block_of_row: list[int] = field(default_factory=list)  # run-length: rows per block
    block_keys: list[Any] = field(default_factory=list)  # per block: caller's key (MR href)
    block_lines: list[int] = field(default_factory=list)  # per block: source line
    rows: int = 0
    present: set[str] = field(default_factory=set)  # optional columns with any value

    def add_block(self, key: Any, line: int, n: int) -> None:
        self.block_keys.append(key)
        self.block_lines.append(line)
        self.block_of_row.append(n)
        self.rows += n


def extract_block(
    block: etree._Element, key: Any, batch: RawBatch, rejects: list[tuple[int, str, str, str]]
) -> int:
    """Append ``block``'s readings to ``batch``; returns readings seen (loaded or rejected).

    ``rejects`` receives (line, field, rule, raw) for readings that cannot be used here.
    """
    if _by_shape(block, key, batch):
        return batch.block_of_row[-1]
    n = _count(X_N, block)
    if n == 0:
        return 0
    line = line_of(block)
    cols = batch.cols
    if _count(X_REGULAR, block) == n:
        values, starts, durs = (
            _strs(X_VALUE, block),
            _strs(X_START, block),
            _strs(X_DURATION, block),
        )
        if len(values) == len(starts) == len(durs) == n:
            extra = _count(X_CHILDREN, block) - 2 * n
            optional = _optional_columns(block, n, extra) if extra else {}
            if optional is not None:
                cols["value"].extend(values)
                cols["start"].extend(starts)
                cols["duration"].extend(durs)
                for name in ("quality", *OPTIONAL):
                    got = optional.get(name)
                    if got is not None:
                        batch.present.add(name)
                    cols[name].extend(got if got is not None else [None] * n)
                batch.add_block(key, line, n)
                return n
    return _extract_slow(block, key, batch, rejects)


def _by_shape(block: etree._Element, key: Any, batch: RawBatch) -> bool:
    """Read ``block`` column-wise when all its readings have one of the known shapes (the
    block's other child, if any, being its ``interval``); False to take the general path."""
    size = len(block)
    if size < 2:
        return False
    n = size - 1 if block.find(_INTERVAL) is not None else size
    first = _count(X_FIRST_CHILDREN, block)  # picks the candidate shapes, proves nothing
    base: dict[str, list[str]] | None = None
    for per, test, extra in _SHAPES:
        if per != first or _count(test, block) != 0:
            continue
        if base is None:
            base = {"value": _strs(X_VALUE, block), "start": _strs(X_START, block),
                    "duration": _strs(X_DURATION, block)}  # fmt: skip
            if any(len(v) != n for v in base.values()):
                return False
        got = dict(base)
        got.update((name, _strs(_SHAPE_COLUMNS[name], block)) for name in extra)
        if any(len(got[name]) != n for name in extra):
            continue
        cols = batch.cols
        for name in RAW_COLUMNS:
            if name in got:
                cols[name].extend(got[name])
            else:
                cols[name].extend([None] * n)
        batch.present.update(extra)
        batch.add_block(key, line_of(block), n)
        return True
    return False


def _optional_columns(block: etree._Element, n: int, extra: int) -> dict[str, list[str]] | None:
    """Optional children read column-wise, or None when a column is not one-per-reading.
    ``extra``: reading children beyond timePeriod and value (none left: skip the lookups)."""
    out: dict[str, list[str]] = {}
    nq = _count(X_QUALITY_N, block)
    if nq:
        if nq != n or _count(X_QUALITY_MISSING, block):
            return None
        q = _strs(X_QUALITY, block)
        if len(q) != n:
            return None
        out["quality"] = q
        if extra == nq:  # nothing but ReadingQuality: no cost, tou, tier or cpp
            return out
    for name, xp in OPTIONAL.items():
        got = _strs(xp, block)
        if got:
            if len(got) != n:
                return None
            out[name] = got
    return out


def _text(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def _extract_slow(
    block: etree._Element, key: Any, batch: RawBatch, rejects: list[tuple[int, str, str, str]]
) -> int:
    """Reading by reading: children by name; a missing start or value is a reject."""
    cols = batch.cols
    interval = block.find(E + "interval")
    b_start = _text(interval.find(E + "start")) if interval is not None else None
    b_dur = _text(interval.find(E + "duration")) if interval is not None else None
    readings = block.findall(E + "IntervalReading")
    n = len(readings)
    kept = 0
    for i, r in enumerate(readings):
        tp = r.find(E + "timePeriod")
        start = _text(tp.find(E + "start")) if tp is not None else None
        dur = _text(tp.find(E + "duration")) if tp is not None else None
        if start is None and b_start is not None and b_dur is not None:
            # No timePeriod: readings follow each other evenly through the block (espi.xsd).
            try:
                step = float(b_dur) / n
                start = repr(float(b_start) + i * step)
                dur = dur or repr(step)
            except ValueError:
                start = None
        value = _text(r.find(E + "value"))
        line = line_of(r) or line_of(block)
        twice = next((f for f in ("value", "timePeriod") if len(r.findall(E + f)) > 1), None)
        if twice is not None:
            rejects.append((line, twice, "duplicate_field", _raw(r)))
            continue
        if start is None or value is None or dur is None:
            what = "value" if value is None else "timePeriod/start" if start is None else "duration"
            rejects.append((line, what, "missing_field", _raw(r)))
            continue
        qualities = [q.text.strip() for q in r.iterfind(f"{E}ReadingQuality/{E}quality") if q.text]
        cols["start"].append(start)
        cols["duration"].append(dur)
        cols["value"].append(value)
        cols["quality"].append(",".join(qualities) if qualities else None)
        for name, tag in _CHILD.items():
            cols[name].append(_text(r.find(tag)))
        batch.present.update(("quality", *_CHILD))
        kept += 1
    if kept:
        batch.add_block(key, line_of(block), kept)
    return n


def _raw(el: etree._Element) -> str:
    return etree.tostring(el, encoding="unicode", with_tail=False)[:2000]


@dataclass
class Columns:
    """A converted batch: typed Arrow columns plus per-row block index; rows failing a cast
    are listed in ``bad`` (row index, field, raw text) and must be dropped by the caller."""

    table: pa.Table
    bad: list[tuple[int, str, str]]


_INT_FIELDS = ("duration", "value", "cost", "tou", "consumption_tier", "cpp")


def convert(batch: RawBatch) -> Columns:
    """Typed columns for ``batch``: start (float64 s), ints for the rest, quality as text."""
    arrays: dict[str, pa.Array] = {}
    bad: list[tuple[int, str, str]] = []
    for name in RAW_COLUMNS:
        if name in ("quality", *OPTIONAL) and name not in batch.present:
            arrays[name] = pa.nulls(batch.rows, pa.string() if name == "quality" else pa.int64())
            continue
        strings = pa.array(batch.cols[name], pa.string())
        if name == "quality":
            arrays[name] = strings
            continue
        target = pa.float64() if name == "start" else pa.int64()
        arrays[name] = _cast(strings, target, name, bad)
    block = np.repeat(np.arange(len(batch.block_of_row)), batch.block_of_row)
    arrays["block"] = np_to_arrow(block.astype(np.int64))
    return Columns(pa.Table.from_arrays(list(arrays.values()), names=list(arrays)), bad)


def _cast(
    strings: pa.Array, target: pa.DataType, name: str, bad: list[tuple[int, str, str]]
) -> pa.Array:
    try:
        return pc.cast(pc.utf8_trim_whitespace(strings), target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    # Slow path: find the elements that do not convert (ints may come as "12.0" → reject).
    out: list[Any] = []
    for i, s in enumerate(strings.to_pylist()):
        if s is None:
            out.append(None)
            continue
        try:
            out.append(float(s) if target == pa.float64() else int(s.strip()))
        except ValueError:
            out.append(None)
            bad.append((i, name, s))
    return pa.array(out, target)
