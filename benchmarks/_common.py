"""What every benchmark shares: repeated measurements and the summary row for ``make bench``.

A benchmark measures ours and its baseline back to back in the same run, several times
(``repeat``), and reports each as median and range. It then calls :func:`emit` once per
headline figure; ``make bench`` points ``WATTLAKE_BENCH_RESULTS`` at a file, collects every
benchmark's rows there and prints them as one table at the end
(``python benchmarks/_common.py FILE``). Run alone, a benchmark just prints its own table.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

RESULTS_ENV = "WATTLAKE_BENCH_RESULTS"
T = TypeVar("T")


@dataclass(frozen=True)
class Figure:
    """Repeated measurements of one quantity (seconds, rows/s, req/s …)."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return float(statistics.median(self.values))

    def __str__(self) -> str:
        lo, hi = min(self.values), max(self.values)
        return f"{_num(self.median)} [{_num(lo)}–{_num(hi)}]"


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.2f}"


def repeat(fn: Callable[[], T], times: int = 3) -> list[T]:
    """``fn()`` ``times`` times (the caller alternates ours and the baseline between calls
    when it can, so both see the same machine load)."""
    return [fn() for _ in range(times)]


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass(frozen=True)
class Row:
    benchmark: str  # what was measured, e.g. "meter files → DuckDB, 1M rows"
    ours: str  # our figure with its unit, e.g. "1,210,000 rows/s [1.1M–1.3M]"
    baseline: str  # the baseline's name and figure
    ratio: float | None  # ours / baseline (> 1: we are faster), on medians; None: no baseline
    peak_rss_mb: float  # ours


def emit(row: Row) -> None:
    """Add ``row`` to the ``make bench`` summary (when collecting) and print it."""
    path = os.environ.get(RESULTS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(row)) + "\n")
    print(f"SUMMARY {row.benchmark}: {row.ours} vs {row.baseline} = {_ratio(row.ratio)}")


def _ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}x"


def print_table(rows: Sequence[Row]) -> None:
    heads = ("benchmark", "ours", "baseline", "ratio", "peak RSS MB")
    cells = [
        (r.benchmark, r.ours, r.baseline, _ratio(r.ratio), f"{r.peak_rss_mb:.0f}") for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    line = "  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))
    print(f"\n{line}\n{'-' * len(line)}")
    for c in cells:
        print("  ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)))


def main(argv: list[str]) -> None:
    path = Path(argv[1])
    rows = [Row(**json.loads(x)) for x in path.read_text("utf-8").splitlines() if x.strip()]
    print_table(rows)


if __name__ == "__main__":
    main(sys.argv)
