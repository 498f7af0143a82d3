"""DuckDB's ``upsert_stream``: new keys flow into one INSERT, and the result is always what a
batch-by-batch ``upsert`` gives (stored keys replaced, repeats keep the last, nothing doubled)."""

from __future__ import annotations

import gc
import random
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from wattlake.engines import connect
from wattlake.engines.duckdb import DuckDBEngine, DuckDBTx
from wattlake.errors import InputError
from wattlake.tables import UTC_TS, Column, TableSpec

SPEC = TableSpec(
    "readings_s",
    (
        Column("site", pa.string()),
        Column("at_utc", UTC_TS),
        Column("day", pa.date32()),
        Column("value", pa.float64()),
    ),
    primary_key=("site", "at_utc"),
)
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def rows(pairs: list[tuple[str, int, float]]) -> pa.Table:
    """A batch of (site, minute, value) rows."""
    return pa.Table.from_pylist(
        [
            {"site": s, "at_utc": T0 + timedelta(minutes=m), "day": date(2025, 1, 1), "value": v}
            for s, m, v in pairs
        ],
        SPEC.arrow_schema,
    )


def series(site: str, start: int, n: int, value: float) -> pa.Table:
    return rows([(site, start + i, value) for i in range(n)])


OTHER = TableSpec("readings_o", SPEC.columns, primary_key=SPEC.primary_key)
TABLES = {t.name: t for t in (SPEC, OTHER)}


def content(engine: DuckDBEngine, table: str = SPEC.name) -> list[tuple[object, ...]]:
    t = engine.query(f"SELECT site, at_utc, value FROM {table} ORDER BY site, at_utc")
    return [tuple(r.values()) for r in t.to_pylist()]


def fresh() -> DuckDBEngine:
    engine = connect("duckdb:///:memory:")
    assert isinstance(engine, DuckDBEngine)
    engine.ensure(SPEC)
    engine.ensure(OTHER)
    return engine


def stream(tx: DuckDBTx, batches: Iterable[pa.Table], table: str = SPEC.name) -> int:
    """``upsert_stream`` of ``batches``, all into ``table``."""
    return tx.upsert_stream(TABLES.__getitem__, ((table, b) for b in batches))


@pytest.fixture
def inserts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows of each streaming INSERT the tests run (a seam to see which path was taken)."""
    seen: list[int] = []
    original = DuckDBTx._insert_stream

    def counted(self: DuckDBTx, *args: object) -> tuple[int, object]:
        streamed, after = original(self, *args)  # type: ignore[arg-type]
        seen.append(streamed)
        return streamed, after

    monkeypatch.setattr(DuckDBTx, "_insert_stream", counted)
    return seen


def test_new_keys_go_in_one_insert(inserts: list[int]) -> None:
    engine = fresh()
    engine.upsert(SPEC, series("other", 0, 3, 9.0))  # committed rows of another series
    batches = [series("a", 0, 5, 1.0), series("a", 5, 5, 2.0), series("b", 0, 4, 3.0)]
    with engine.transaction() as tx:
        assert stream(tx, batches) == 14
    assert inserts == [14]
    got = content(engine)
    assert len(got) == 17
    assert [r[2] for r in got if r[0] == "a"] == [1.0] * 5 + [2.0] * 5


def test_stored_series_inside_the_key_range_do_not_end_the_stream(inserts: list[int]) -> None:
    """Text keys: a stored "a10" lies between "a" and "b", and a stored "a" row lies in the
    batch's time range, but no stored row shares a series and a time span with the batch (a
    warehouse holding other meters over the same days): still one INSERT."""
    engine = fresh()
    engine.upsert(SPEC, series("a10", 0, 20, 9.0))  # another series, the same minutes
    engine.upsert(SPEC, series("a", 30, 2, 8.0))  # series "a", after the batch's "a" span
    two = pa.concat_tables([series("a", 0, 10, 1.0), series("b", 0, 10, 1.0)])
    batches = [two, series("b", 20, 5, 2.0)]  # a batch holding both "a" and "b", as files do
    with engine.transaction() as tx:
        assert stream(tx, batches) == 25
    assert inserts == [25]
    got = content(engine)
    assert len(got) == 47
    assert sorted({r[0] for r in got}) == ["a", "a10", "b"]


def test_a_stored_key_is_upserted_and_new_batches_after_it_stream_again(
    inserts: list[int],
) -> None:
    """A file that repeats a stored day pays the delete+insert for that day's batches only:
    the new batches after them go in by INSERT again."""
    engine = fresh()
    engine.upsert(SPEC, series("a", 10, 2, 0.5))  # minutes 10, 11 stored
    engine.upsert(SPEC, series("c", 0, 1, 0.5))  # minute 0 of "c" stored
    batches = [
        series("a", 0, 5, 1.0),  # new: streamed
        series("a", 5, 6, 2.0),  # minutes 5..10: meets the stored minute 10
        series("b", 0, 3, 3.0),  # new: a second INSERT
        series("b", 3, 2, 3.5),  # new: the same INSERT
        series("b", 4, 2, 4.0),  # minutes 4, 5: meets minute 4 this stream wrote
        series("c", 0, 2, 5.0),  # meets the stored minute 0 of "c"
        series("d", 0, 4, 6.0),  # new: a third INSERT
    ]
    with engine.transaction() as tx:
        assert stream(tx, batches) == 24
    assert inserts == [5, 5, 4]
    got = {(r[0], r[1].minute): r[2] for r in content(engine)}  # type: ignore[attr-defined]
    assert len(got) == 24  # a: 0..11, b: 0..5, c: 0..1, d: 0..3
    assert got[("a", 10)] == 2.0 and got[("a", 11)] == 0.5
    assert [got[("b", m)] for m in range(6)] == [3.0, 3.0, 3.0, 3.5, 4.0, 4.0]
    assert got[("c", 0)] == 5.0 and got[("d", 3)] == 6.0


def test_keys_the_stream_wrote_itself_are_replaced_not_doubled(inserts: list[int]) -> None:
    engine = fresh()
    batches = [series("a", 0, 5, 1.0), series("a", 3, 4, 2.0), rows([("c", 0, 1.0)])]
    with engine.transaction() as tx:
        stream(tx, batches)
    assert inserts == [5]
    got = [(r[1].minute, r[2]) for r in content(engine) if r[0] == "a"]  # type: ignore[attr-defined]
    assert got == [(0, 1.0), (1, 1.0), (2, 1.0), (3, 2.0), (4, 2.0), (5, 2.0), (6, 2.0)]


def test_a_batch_with_repeated_keys_keeps_the_last(inserts: list[int]) -> None:
    engine = fresh()
    repeated = rows([("a", 0, 1.0), ("a", 1, 1.0), ("a", 0, 7.0)])
    with engine.transaction() as tx:
        stream(tx, [repeated, series("b", 0, 2, 1.0)])
    assert inserts == []  # not provably new: both upserted
    assert content(engine)[0][2] == 7.0 and len(content(engine)) == 4


def test_after_plain_sql_in_the_transaction_nothing_streams(inserts: list[int]) -> None:
    engine = fresh()
    with engine.transaction() as tx:
        tx.execute(
            f"INSERT INTO {SPEC.name} VALUES ('a', $at, DATE '2025-01-01', 4.0)",
            {"at": T0 + timedelta(minutes=2)},
        )
        stream(tx, [series("a", 0, 5, 1.0)])
    assert inserts == []
    assert [r[2] for r in content(engine)] == [1.0] * 5


def test_an_error_while_producing_batches_is_raised_as_is_and_leaves_nothing() -> None:
    engine = fresh()
    engine.upsert(SPEC, series("keep", 0, 2, 1.0))

    def produce() -> Iterator[pa.Table]:
        yield series("a", 0, 5, 1.0)
        yield series("a", 5, 5, 1.0)
        raise InputError("line 9: the file ends inside a quoted field", hint="fix the file")

    with pytest.raises(InputError, match="quoted field") as err, engine.transaction() as tx:
        stream(tx, produce())
    assert err.value.hint == "fix the file"
    assert [r[0] for r in content(engine)] == ["keep", "keep"]


def test_stream_result_equals_batch_by_batch_upserts(inserts: list[int]) -> None:
    """Seeded random batches into two tables (new series, overlaps with stored rows and with
    earlier batches, repeats, shuffled rows, the table switching): the stream and one upsert
    per batch leave the same tables."""
    rnd = random.Random(20261128)
    for trial in range(40):
        stored = [series(f"s{i}", rnd.randrange(50), rnd.randrange(1, 20), -1.0) for i in range(3)]
        batches: list[tuple[str, pa.Table]] = []
        for b in range(rnd.randrange(1, 8)):
            table = SPEC.name if rnd.random() < 0.7 else OTHER.name
            if rnd.random() < 0.2:  # shuffled rows, maybe repeating a key
                pairs = [(f"s{rnd.randrange(5)}", rnd.randrange(80), float(b)) for _ in range(6)]
                batches.append((table, rows(pairs)))
            else:
                site = f"s{rnd.randrange(5)}"
                start, n = rnd.randrange(80), rnd.randrange(1, 15)
                batches.append((table, series(site, start, n, float(b))))
        streamed, stepwise = fresh(), fresh()
        for engine in (streamed, stepwise):
            for t in stored:
                engine.upsert(SPEC, t)
        with streamed.transaction() as tx:
            n = tx.upsert_stream(TABLES.__getitem__, iter(batches))
        with stepwise.transaction() as tx2:
            m = sum(tx2.upsert(TABLES[name], t) for name, t in batches)
        assert n == m, trial
        for name in TABLES:
            assert content(streamed, name) == content(stepwise, name), (trial, name)
    assert len(inserts) >= 10  # the trials took the streaming path often, and the other too


def test_a_switch_of_table_starts_a_new_insert(inserts: list[int]) -> None:
    engine = fresh()
    batches = [
        (SPEC.name, series("a", 0, 3, 1.0)),
        (SPEC.name, series("a", 3, 3, 1.0)),
        (OTHER.name, series("a", 0, 2, 2.0)),
        (SPEC.name, series("b", 0, 4, 3.0)),
    ]
    with engine.transaction() as tx:
        assert tx.upsert_stream(TABLES.__getitem__, iter(batches)) == 12
    assert inserts == [6, 2, 4]
    assert len(content(engine)) == 10 and len(content(engine, OTHER.name)) == 2


def test_streamed_batches_are_not_kept_alive() -> None:
    """A big file is many batches in one INSERT: Arrow memory must follow the batches in
    flight, not the file (8 batches of 50k rows; at most a few alive at once)."""
    engine = fresh()
    n = 50_000
    peak: list[int] = []

    def big(i: int) -> pa.Table:
        at = pa.array(np.arange(i * n, (i + 1) * n, dtype=np.int64) * 60_000_000, pa.int64())
        return pa.table(
            {
                "site": pa.array(["s"] * n),
                "at_utc": at.cast(UTC_TS),
                "day": pa.array([date(2025, 1, 1)] * n),
                "value": pa.array(np.ones(n)),
            }
        )

    def produce() -> Iterator[pa.Table]:
        for i in range(8):
            peak.append(pa.total_allocated_bytes())
            yield big(i)

    batch_bytes = big(0).nbytes
    gc.collect()
    base = pa.total_allocated_bytes()  # what earlier tests left alive does not count
    with engine.transaction() as tx:
        assert stream(tx, produce()) == 8 * n
    assert max(peak) - base < 5 * batch_bytes, (max(peak) - base, batch_bytes)
    assert len(content(engine)) == 8 * n
