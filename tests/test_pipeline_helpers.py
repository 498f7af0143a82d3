"""The runner's generic stream helpers: coalesce (bounded batches) and prefetch (a thread)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import pyarrow as pa
import pytest

from wattlake.background import prefetch
from wattlake.pipeline import coalesce


def batches(*spec: tuple[str, int]) -> Iterator[tuple[str, pa.Table]]:
    start = 0
    for name, n in spec:
        yield name, pa.table({"i": list(range(start, start + n))})
        start += n


def test_coalesce_bounds_size_keeps_order_and_splits_by_table() -> None:
    out = list(coalesce(batches(("a", 3), ("a", 3), ("a", 3), ("b", 2), ("a", 1)), rows=6))
    assert [(name, t.num_rows) for name, t in out] == [("a", 6), ("a", 3), ("b", 2), ("a", 1)]
    assert [v for _, t in out for v in t.column("i").to_pylist()] == list(range(12))


def test_prefetch_yields_everything_in_order() -> None:
    assert list(prefetch(iter(range(1000)), depth=2)) == list(range(1000))


def test_prefetch_reraises_the_producers_error_after_the_items_before_it() -> None:
    def failing() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("bad block")

    got: list[int] = []
    with pytest.raises(ValueError, match="bad block"):
        for item in prefetch(failing()):
            got.append(item)
    assert got == [1, 2]


def test_prefetch_stops_its_thread_when_the_consumer_stops_early() -> None:
    produced: list[int] = []

    def endless() -> Iterator[int]:
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    before = threading.active_count()
    stream = prefetch(endless(), depth=2)
    assert next(stream) == 0
    stream.close()  # the consumer gives up (e.g. its transaction failed)
    assert threading.active_count() == before
    assert len(produced) <= 5  # bounded read-ahead, not the whole stream


def test_eager_coalesce_passes_a_large_batch_at_once_and_joins_small_ones() -> None:
    """A stream's batches: small ones of a table joined until they reach the size, one that
    size alone passed on without waiting for the next (the test's source ends on its first
    large batch unless coalesce asks for more), a change of table ends a group."""

    def t(n: int) -> pa.Table:
        return pa.table({"x": list(range(n))})

    def source() -> Iterator[tuple[str, pa.Table]]:
        yield "a", t(3)
        yield "a", t(4)
        yield "b", t(2)
        yield "b", t(20)
        raise AssertionError("coalesce asked for a batch after a large one")

    out = coalesce(source(), 10, eager=True)
    assert [(name, b.num_rows) for name, b in itertools.islice(out, 2)] == [("a", 7), ("b", 22)]
    assert [
        (n, b.num_rows) for n, b in coalesce(iter([("a", t(12)), ("a", t(1))]), 10, eager=True)
    ] == [
        ("a", 12),
        ("a", 1),
    ]
