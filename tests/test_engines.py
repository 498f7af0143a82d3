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


def test_large_transactions_stage_and_merge_atomically(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past DIRECT_ROWS a DuckDB transaction stages batches on disk; same results, same
    atomicity, no staging table left behind."""
    monkeypatch.setattr("wattlake.engines.duckdb.DIRECT_ROWS", 2)
    engine.ensure(SPEC)
    engine.upsert(SPEC, batch([("keep", 0, 1.0, None), ("a", 0, 0.0, "old")]))
    with engine.transaction() as tx:
        tx.upsert(SPEC, batch([("a", 0, 1.0, "first")]))
        tx.upsert(SPEC, batch([("a", 1, 2.0, None), ("b", 0, 3.0, None)]))
        tx.upsert(SPEC, batch([("a", 0, 9.0, "last"), ("c", 0, 4.0, None)]))
    rows = [(r[0], r[1].hour, r[2], r[3]) for r in all_rows(engine)]  # type: ignore[attr-defined]
    assert rows == [
        ("a", 0, 9.0, "last"), ("a", 1, 2.0, None), ("b", 0, 3.0, None),
        ("c", 0, 4.0, None), ("keep", 0, 1.0, None),
    ]  # fmt: skip
    with pytest.raises(RuntimeError), engine.transaction() as tx:
        tx.upsert(SPEC, batch([("x", 0, 1.0, None), ("y", 0, 1.0, None), ("z", 0, 1.0, None)]))
        tx.upsert(SPEC, batch([("keep", 0, 5.0, None)]))
        raise RuntimeError("power cut")
    assert len(all_rows(engine)) == 5
    leftovers = engine.query(
        "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '_wl_stage%'"
    )
    assert leftovers.column(0)[0].as_py() == 0
