"""PostgreSQL's bulk path: a large first batch into a small table loads without the primary
key, which is added back before the commit; the results are those of the keyed path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests._support import PG_URL
from tests.test_engines import SPEC, all_rows, batch, hours
from wattlake.engines import Engine

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(pg_available: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    from tests.conftest import make_engine

    monkeypatch.setattr("wattlake.engines.postgres.BULK_ROWS", 3)
    engine = make_engine("postgres")
    engine.ensure(SPEC)
    yield engine
    engine.drop_schema()  # type: ignore[attr-defined]
    engine.close()


def primary_keys(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'readings_t'::regclass"
        " AND contype = 'p'"
    ).fetchall()
    return [r[0] for r in rows]


def view(engine: Engine) -> list[tuple[object, ...]]:
    return [(r[0], r[1].hour, r[2], r[3]) for r in all_rows(engine)]  # type: ignore[attr-defined]


def test_bulk_load_merges_stored_and_repeated_keys_and_restores_the_key(pg: Engine) -> None:
    pg.upsert(SPEC, hours("a", [0, 1], 1.0, "old"))  # 2 stored rows: fewer than the batch
    with pg.transaction() as tx:
        conn = tx._conn  # type: ignore[attr-defined]
        # a1 is stored: merged; b0..b2 are new: copied straight in
        tx.upsert(SPEC, batch([("a", 1, 2.0, "new"), *[("b", h, 2.0, None) for h in range(3)]]))
        assert primary_keys(conn) == []  # loading without the key
        # b1 again (an earlier batch's key) and c0 twice in the batch: the last wins
        tx.upsert(
            SPEC, batch([("b", 1, 3.0, "again"), ("c", 0, 3.0, "first"), ("d", 0, 3.0, None)])
        )
        tx.upsert(SPEC, batch([("c", 0, 4.0, "x"), ("e", 0, 4.0, None), ("c", 0, 5.0, "last")]))
    assert view(pg) == [
        ("a", 0, 1.0, "old"), ("a", 1, 2.0, "new"), ("b", 0, 2.0, None), ("b", 1, 3.0, "again"),
        ("b", 2, 2.0, None), ("c", 0, 5.0, "last"), ("d", 0, 3.0, None), ("e", 0, 4.0, None),
    ]  # fmt: skip
    with psycopg.connect(PG_URL) as conn:
        conn.execute(f"SET search_path TO {pg.schema}")  # type: ignore[attr-defined]
        assert primary_keys(conn) == ["readings_t_pkey"]
        with pytest.raises(psycopg.errors.UniqueViolation):  # the key is enforced again
            conn.execute(
                "INSERT INTO readings_t (site, at_utc) SELECT site, at_utc FROM readings_t"
            )


def test_statements_after_a_bulk_load_see_the_key(pg: Engine) -> None:
    """SQL run in the same transaction after the rows (e.g. ON CONFLICT) finds the key."""
    with pg.transaction() as tx:
        tx.upsert(SPEC, hours("a", [0, 1, 2], 1.0))
        tx.execute(
            "INSERT INTO readings_t (site, at_utc, value) SELECT site, at_utc, 9.0 FROM readings_t"
            " WHERE value = 1.0 ON CONFLICT (site, at_utc) DO UPDATE SET value = excluded.value"
        )
        assert primary_keys(tx._conn) == ["readings_t_pkey"]  # type: ignore[attr-defined]
    assert [r[2] for r in view(pg)] == [9.0, 9.0, 9.0]


def test_rolled_back_bulk_load_leaves_table_and_key_as_they_were(pg: Engine) -> None:
    pg.upsert(SPEC, hours("keep", [0], 1.0))
    with pytest.raises(RuntimeError), pg.transaction() as tx:
        tx.upsert(SPEC, batch([("keep", 0, 7.0, None), *[("n", h, 7.0, None) for h in range(4)]]))
        assert primary_keys(tx._conn) == []  # type: ignore[attr-defined]
        raise RuntimeError("power cut")
    assert view(pg) == [("keep", 0, 1.0, None)]
    with pg.transaction() as tx:  # still keyed: the same upsert now takes the keyed path
        assert primary_keys(tx._conn) == ["readings_t_pkey"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("stored", [0, 5], ids=["empty", "holding as many rows as the batch"])
def test_bulk_path_only_for_a_table_smaller_than_the_batch(pg: Engine, stored: int) -> None:
    if stored:
        pg.upsert(SPEC, hours("z", list(range(stored)), 1.0))
    with pg.transaction() as tx:
        tx.upsert(SPEC, hours("a", list(range(5)), 2.0))
        keyed = primary_keys(tx._conn) == ["readings_t_pkey"]  # type: ignore[attr-defined]
    assert keyed == bool(stored)
    assert len(view(pg)) == 5 + stored


def test_bulk_path_never_waits_for_a_lock_another_session_holds(pg: Engine) -> None:
    """A reader in an open transaction holds a lock on the table: the load does not wait
    for it (NOWAIT) and takes the keyed path, leaving the reader undisturbed."""
    with psycopg.connect(PG_URL) as reader:
        reader.execute(f"SET search_path TO {pg.schema}")  # type: ignore[attr-defined]
        reader.execute("SELECT count(*) FROM readings_t")  # ACCESS SHARE until it ends
        with pg.transaction() as tx:
            tx.upsert(SPEC, hours("a", list(range(5)), 2.0))
            assert primary_keys(tx._conn) == ["readings_t_pkey"]  # type: ignore[attr-defined]
        reader.rollback()
    assert len(view(pg)) == 5
