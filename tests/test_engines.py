"""The engine contract, the same on DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from wattlake.engines import Engine
from wattlake.engines.base import transpile
from wattlake.errors import WarehouseError
from wattlake.tables import UTC_TS, Column, TableSpec

SPEC = TableSpec(
    "readings_t",
    (
        Column("site", pa.string()),
        Column("at_utc", UTC_TS),
        Column("day", pa.date32()),
        Column("value", pa.float64()),
        Column("note", pa.string()),
    ),
    primary_key=("site", "at_utc"),
)
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def batch(rows: list[tuple[str, int, float, str | None]]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "site": s,
                "at_utc": T0.replace(hour=h),
                "day": date(2025, 1, 1),
                "value": v,
                "note": n,
            }
            for s, h, v, n in rows
        ],
        SPEC.arrow_schema,
    )


def all_rows(engine: Engine) -> list[tuple[object, ...]]:
    t = engine.query("SELECT site, at_utc, value, note FROM readings_t ORDER BY site, at_utc")
    return [tuple(r.values()) for r in t.to_pylist()]


def test_upsert_is_idempotent_and_updates_on_key(engine: Engine) -> None:
    engine.ensure(SPEC)
    b = batch([("a", 0, 1.0, None), ("a", 1, 2.0, "x"), ("b", 0, 3.0, None)])
    assert engine.upsert(SPEC, b) == 3
    engine.upsert(SPEC, b)
    assert len(all_rows(engine)) == 3
    engine.upsert(SPEC, batch([("a", 1, 20.0, "fixed"), ("c", 5, 5.0, None)]))
    rows = all_rows(engine)
    assert len(rows) == 4
    assert next(r for r in rows if r[0] == "a" and r[1].hour == 1)[2:] == (20.0, "fixed")  # type: ignore[attr-defined]


def test_repeated_key_in_one_batch_keeps_the_last(engine: Engine) -> None:
    engine.ensure(SPEC)
    engine.upsert(SPEC, batch([("a", 0, 1.0, "first"), ("a", 0, 2.0, "last"), ("b", 0, 3.0, None)]))
    rows = all_rows(engine)
    assert [(r[0], r[2], r[3]) for r in rows] == [("a", 2.0, "last"), ("b", 3.0, None)]


def test_failed_transaction_leaves_nothing(engine: Engine) -> None:
    engine.ensure(SPEC)
    engine.upsert(SPEC, batch([("keep", 0, 1.0, None)]))
    with pytest.raises(RuntimeError), engine.transaction() as tx:
        tx.upsert(SPEC, batch([("a", 0, 1.0, None), ("keep", 0, 99.0, None)]))
        raise RuntimeError("disk on fire")
    assert [(r[0], r[2]) for r in all_rows(engine)] == [("keep", 1.0)]


def test_query_params_and_types_round_trip(engine: Engine) -> None:
    engine.ensure(SPEC)
    engine.upsert(SPEC, batch([("a", 3, 1.5, None), ("b", 4, 2.5, None)]))
    t = engine.query(
        "SELECT site, at_utc, day, value FROM readings_t WHERE site = $s AND day = $d",
        {"s": "b", "d": date(2025, 1, 1)},
    )
    row = t.to_pylist()[0]
    assert row["site"] == "b" and row["value"] == 2.5 and row["day"] == date(2025, 1, 1)
    assert row["at_utc"].astimezone(UTC) == T0.replace(hour=4)


def test_ensure_adds_new_columns_to_existing_tables(engine: Engine) -> None:
    engine.ensure(SPEC)
    engine.upsert(SPEC, batch([("a", 0, 1.0, None)]))
    wider = TableSpec(SPEC.name, (*SPEC.columns, Column("extra", pa.int64())), SPEC.primary_key)
    engine.ensure(wider)
    t = engine.query("SELECT extra FROM readings_t")
    assert t.to_pylist() == [{"extra": None}]


def test_bad_sql_is_a_warehouse_error(engine: Engine) -> None:
    with pytest.raises(WarehouseError):
        engine.query("SELECT * FROM no_such_table")


def test_gold_models_transpile_to_postgres() -> None:
    from wattlake.engines.base import load_model

    for name in ("meter_daily", "meter_daily_mixed"):
        pg = transpile(load_model(name).sql, "postgres")
        assert "GROUP BY" in pg and "$" not in pg


def hours(site: str, hs: list[int], value: float, note: str | None = None) -> pa.Table:
    return batch([(site, h, value, note) for h in hs])


@pytest.fixture(params=["values", "python", "counted"])
def small_rows(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with each of DuckDB's paths: "values" (a few rows as SQL parameters, the
    default up to VALUES_ROWS), "python" (through Arrow, the repeated-key check in Python, as
    batches up to SMALL_ROWS) and "counted" (the check in SQL, as larger batches: the
    ordered-series proof, then a distinct count); on
    PostgreSQL with the primary key kept (small batches) and, in "counted", with the bulk path
    (a first batch into a table holding fewer rows loads without the key, added back at the
    end) wherever it applies."""
    if request.param != "values":
        monkeypatch.setattr("wattlake.engines.duckdb.VALUES_ROWS", 0)
    if request.param == "counted":
        monkeypatch.setattr("wattlake.engines.duckdb.SMALL_ROWS", 1)
        try:
            import wattlake.engines.postgres as pg
        except ImportError:  # pragma: no cover - without the postgres extra
            pass
        else:
            monkeypatch.setattr(pg, "BULK_ROWS", 1)
    return str(request.param)


def test_new_keys_in_one_transaction_load_once(engine: Engine, small_rows: str) -> None:
    """First load: several batches of new keys (series split across batches, as a file's
    batches are) into an empty table, then into a table holding other keys."""
    engine.ensure(SPEC)
    with engine.transaction() as tx:
        assert tx.upsert(SPEC, batch([("a", 0, 1.0, None), ("a", 1, 1.0, None)])) == 2
        assert tx.upsert(SPEC, batch([("a", 2, 2.0, None), ("b", 0, 2.0, None)])) == 2
        tx.upsert(SPEC, batch([("b", 1, 3.0, None), ("c", 0, 3.0, None)]))
    with engine.transaction() as tx:
        tx.upsert(SPEC, hours("d", [0, 1, 2], 4.0))
    rows = [(r[0], r[1].hour, r[2]) for r in all_rows(engine)]  # type: ignore[attr-defined]
    assert rows == [
        ("a", 0, 1.0), ("a", 1, 1.0), ("a", 2, 2.0), ("b", 0, 2.0), ("b", 1, 3.0),
        ("c", 0, 3.0), ("d", 0, 4.0), ("d", 1, 4.0), ("d", 2, 4.0),
    ]  # fmt: skip


def test_existing_and_mixed_keys_replace_stored_rows(engine: Engine, small_rows: str) -> None:
    engine.ensure(SPEC)
    engine.upsert(SPEC, hours("a", [0, 1, 2, 3], 1.0, "old"))
    engine.upsert(SPEC, hours("z", [0], 9.0))
    engine.upsert(SPEC, hours("a", [1, 2], 2.0, "new"))  # existing keys only
    engine.upsert(SPEC, batch([("a", 3, 3.0, None), ("a", 4, 3.0, None), ("b", 0, 3.0, None)]))
    with engine.transaction() as tx:  # a key written twice in one transaction
        tx.upsert(SPEC, hours("c", [0, 1], 4.0, "first"))
        tx.upsert(SPEC, batch([("c", 1, 5.0, "second"), ("a", 0, 5.0, None)]))
    rows = [(r[0], r[1].hour, r[2], r[3]) for r in all_rows(engine)]  # type: ignore[attr-defined]
    assert rows == [
        ("a", 0, 5.0, None), ("a", 1, 2.0, "new"), ("a", 2, 2.0, "new"), ("a", 3, 3.0, None),
        ("a", 4, 3.0, None), ("b", 0, 3.0, None), ("c", 0, 4.0, "first"),
        ("c", 1, 5.0, "second"), ("z", 0, 9.0, None),
    ]  # fmt: skip


def test_keys_written_earlier_in_the_transaction_are_replaced(
    engine: Engine, small_rows: str
) -> None:
    """Rows the transaction wrote itself (by upsert, in spans of a series, or by plain SQL)
    are found as surely as committed ones: a later batch replaces them, never doubles them."""
    engine.ensure(SPEC)
    engine.upsert(SPEC, hours("a", [5], 0.5, "committed"))
    with engine.transaction() as tx:
        tx.upsert(SPEC, hours("a", [0, 1, 2], 1.0))
        tx.upsert(SPEC, hours("b", [0, 1], 1.0))  # other series, same times
        tx.upsert(SPEC, hours("a", [3, 4, 5], 2.0))  # a's next span, and its committed row
        tx.upsert(SPEC, hours("a", [2, 3], 3.0))  # inside a's earlier spans
        tx.execute(
            "INSERT INTO readings_t VALUES ('c', $at, DATE '2025-01-01', 4.0, 'sql')",
            {"at": T0.replace(hour=7)},
        )
        tx.upsert(SPEC, hours("c", [6, 7], 5.0))  # meets the row the SQL wrote
    rows = [(r[0], r[1].hour, r[2]) for r in all_rows(engine)]  # type: ignore[attr-defined]
    assert rows == [
        ("a", 0, 1.0), ("a", 1, 1.0), ("a", 2, 3.0), ("a", 3, 3.0), ("a", 4, 2.0),
        ("a", 5, 2.0), ("b", 0, 1.0), ("b", 1, 1.0), ("c", 6, 5.0), ("c", 7, 5.0),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "rows, expected",
    [
        # a series split in two runs, no repeat: the ordered-series proof fails, the count passes
        ([("a", 0, 1.0), ("a", 1, 1.0), ("b", 0, 1.0), ("a", 2, 1.0)], 4),
        # a repeat far from its first occurrence
        ([("a", 0, 1.0), ("a", 1, 1.0), ("b", 0, 1.0), ("a", 1, 7.0)], 3),
        # a repeat next to it, and time going backwards
        ([("a", 1, 1.0), ("a", 1, 7.0), ("a", 0, 1.0)], 2),
    ],
)
def test_repeated_keys_in_a_batch_keep_the_last(
    engine: Engine, small_rows: str, rows: list[tuple[str, int, float]], expected: int
) -> None:
    engine.ensure(SPEC)
    engine.upsert(SPEC, hours("a", [1], 0.5))  # one of them is stored too
    engine.upsert(SPEC, batch([(s, h, v, None) for s, h, v in rows]))
    got = {(r[0], r[1].hour): r[2] for r in all_rows(engine)}  # type: ignore[attr-defined]
    assert len(got) == expected
    assert got[("a", 1)] == [v for s, h, v in rows if (s, h) == ("a", 1)][-1]


def test_large_transaction_is_atomic(engine: Engine) -> None:
    """Many batches in one transaction, some updating stored keys, then a failure: nothing
    of it stays."""
    engine.ensure(SPEC)
    engine.upsert(SPEC, hours("keep", [0, 1], 1.0))
    with pytest.raises(RuntimeError), engine.transaction() as tx:
        for i in range(5):
            tx.upsert(SPEC, hours(f"s{i}", list(range(24)), float(i)))
        tx.upsert(SPEC, hours("keep", [0], 5.0))
        raise RuntimeError("power cut")
    assert [(r[0], r[2]) for r in all_rows(engine)] == [("keep", 1.0), ("keep", 1.0)]


@pytest.mark.postgres
def test_postgres_straight_copy_that_meets_a_stored_key_falls_back_to_merge(
    pg_available: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the range check calls a stored key new (e.g. another transaction committed it in
    between), the primary key stops the straight COPY, the savepoint undoes it and the part
    is merged: the same result, in the same transaction."""
    from tests.conftest import make_engine
    from wattlake.engines.postgres import PostgresTx

    engine = make_engine("postgres")
    try:
        engine.ensure(SPEC)
        engine.upsert(SPEC, hours("a", [0, 1], 1.0, "old"))
        monkeypatch.setattr(PostgresTx, "_split", lambda self, cur, spec, table: (table, None))
        with engine.transaction() as tx:
            tx.upsert(SPEC, hours("b", [0], 2.0))  # new: copied straight in
            tx.upsert(SPEC, batch([("a", 1, 3.0, "new"), ("a", 2, 3.0, None)]))  # meets a1
        rows = [(r[0], r[1].hour, r[2], r[3]) for r in all_rows(engine)]  # type: ignore[attr-defined]
        assert rows == [
            ("a", 0, 1.0, "old"), ("a", 1, 3.0, "new"), ("a", 2, 3.0, None), ("b", 0, 2.0, None)
        ]  # fmt: skip
    finally:
        engine.drop_schema()  # type: ignore[attr-defined]
        engine.close()


def test_in_key_order_reorders_series_like_a_sort() -> None:
    """Series (site) kept whole and in time order, put in key order: what a full sort gives;
    a batch not made of contiguous ordered series is left as it is."""
    from wattlake.engines.base import in_key_order, series_runs

    b = batch([(s, h, float(h), None) for s in ("c", "a", "b") for h in (0, 1, 2)])
    ordered = in_key_order(SPEC, b)
    assert ordered.equals(b.sort_by([("site", "ascending"), ("at_utc", "ascending")]))
    assert series_runs(SPEC, b) == ([0, 3, 6], [("c",), ("a",), ("b",)])
    split = batch([("b", 0, 1.0, None), ("a", 0, 1.0, None), ("b", 1, 1.0, None)])
    assert series_runs(SPEC, split) is None
    assert in_key_order(SPEC, split) is split


def test_duckdb_transaction_does_not_keep_the_batches_alive() -> None:
    """A big file is many batches in one transaction: each batch's Arrow memory must be free
    once its upsert returns (DuckDB's register() kept them until the commit)."""
    import gc

    import numpy as np

    from tests.conftest import make_engine

    engine = make_engine("duckdb")
    engine.ensure(SPEC)
    n = 50_000

    def big(i: int) -> pa.Table:  # one series per batch, new keys, with one stored key
        at = pa.array(np.arange(i * n, (i + 1) * n, dtype=np.int64) * 1_000_000, pa.int64())
        return pa.table(
            {
                "site": pa.array(["s"] * n),
                "at_utc": at.cast(UTC_TS),
                "day": pa.array([date(2025, 1, 1)] * n),
                "value": pa.array(np.ones(n)),
                "note": pa.array([f"note {j:08d}" for j in range(n)]),
            }
        )

    engine.upsert(SPEC, big(0).slice(0, 1))
    held = []
    with engine.transaction() as tx:
        for i in range(8):
            tx.upsert(SPEC, big(i))
            gc.collect()
            held.append(pa.total_allocated_bytes())
    batch_bytes = big(0).nbytes
    assert held[-1] - held[1] < 2 * batch_bytes, (held, batch_bytes)
    assert engine.query("SELECT count(*) FROM readings_t").column(0)[0].as_py() == 8 * n
    engine.close()


def test_duckdb_a_few_rows_as_parameters_store_what_arrow_stores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Up to VALUES_ROWS rows go in as SQL parameters: every column type the tables use comes
    back as it does through Arrow (time zones, naive times, dates, decimals, NULLs, a
    NUL and a quote in text), and a repeated key keeps its last row."""
    from decimal import Decimal

    from tests.conftest import make_engine

    spec = TableSpec(
        "types_t",
        (
            Column("id", pa.string()),
            Column("at", UTC_TS),
            Column("local", pa.timestamp("us")),
            Column("day", pa.date32()),
            Column("n", pa.int64()),
            Column("x", pa.float64()),
            Column("ok", pa.bool_()),
            Column("price", pa.decimal128(12, 5)),
        ),
        primary_key=("id",),
    )
    rows = [
        {"id": "a", "at": T0, "local": datetime(2025, 3, 30, 2, 30), "day": date(2025, 3, 30),
         "n": 2**62, "x": -1.5e-300, "ok": True, "price": Decimal("-12.34567")},
        {"id": "it's\x00", "at": None, "local": None, "day": None, "n": None, "x": None,
         "ok": None, "price": None},
        {"id": "a", "at": T0.replace(hour=9), "local": datetime(2025, 1, 1), "day": date(1, 1, 1),
         "n": -(2**63), "x": 1e300, "ok": False, "price": Decimal("0.00001")},
    ]  # fmt: skip
    table = pa.Table.from_pylist(rows, spec.arrow_schema)
    got = {}
    for values_rows in (8, 0):  # as parameters, then through Arrow
        monkeypatch.setattr("wattlake.engines.duckdb.VALUES_ROWS", values_rows)
        engine = make_engine("duckdb")
        engine.ensure(spec)
        assert engine.upsert(spec, table) == 3
        got[values_rows] = engine.query("SELECT * FROM types_t ORDER BY id").to_pylist()
        engine.close()
    assert got[8] == got[0]
    assert [r["id"] for r in got[8]] == ["a", "it's\x00"]
    assert got[8][0]["n"] == -(2**63) and got[8][0]["day"] == date(1, 1, 1)


@pytest.mark.postgres
def test_postgres_gold_tables_are_indexed_as_their_models_declare(pg_available: None) -> None:
    """Every model that declares ``-- index:`` gets that index on PostgreSQL (the API's
    lookups by meter, node, feeder, usage point or turbine), rebuilt with the table."""
    from tests.conftest import make_engine
    from wattlake.engines.base import load_model
    from wattlake.registry import PIPELINES, get_pipeline

    engine = make_engine("postgres")
    try:
        built: dict[str, tuple[str, ...]] = {}
        for name in PIPELINES:
            spec = get_pipeline(name)
            for table in spec.tables:
                engine.ensure(table)
            for model in spec.models:
                built[model] = load_model(model).index
        for model in built:
            engine.build(model)
        engine.build("meter_daily")  # a rebuild replaces the table and its index
        got = engine.query(
            "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
        ).to_pylist()
        indexes = {r["tablename"]: r["indexdef"] for r in got if r["tablename"] in built}
        declared = {m: cols for m, cols in built.items() if cols}
        assert {"meter_daily", "meter_daily_mixed", "lmp_daily", "feeder_summary"} <= set(declared)
        assert set(indexes) == set(declared)
        for model, cols in declared.items():
            assert indexes[model].endswith("(" + ", ".join(cols) + ")"), indexes[model]
    finally:
        engine.drop_schema()  # type: ignore[attr-defined]
        engine.close()
