"""PostgreSQL's bulk path: a large first batch into a small table loads without the primary
key, which is added back before the commit; the results are those of the keyed path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
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


def test_bulk_load_of_new_keys_restores_the_key(pg: Engine) -> None:
    pg.upsert(SPEC, hours("a", [0, 1], 1.0, "old"))  # 2 stored rows: fewer than the batch
    with pg.transaction() as tx:
        conn = tx._conn  # type: ignore[attr-defined]
        tx.upsert(SPEC, batch([*[("b", h, 2.0, None) for h in range(3)], ("c", 0, 2.0, None)]))
        assert primary_keys(conn) == []  # loading without the key
        # series split across batches (b) and new ones: still no key met
        tx.upsert(SPEC, batch([("b", 3, 3.0, None), ("d", 0, 3.0, None), ("d", 1, 3.0, None)]))
        assert primary_keys(conn) == []
    assert view(pg) == [
        ("a", 0, 1.0, "old"), ("a", 1, 1.0, "old"), ("b", 0, 2.0, None), ("b", 1, 2.0, None),
        ("b", 2, 2.0, None), ("b", 3, 3.0, None), ("c", 0, 2.0, None), ("d", 0, 3.0, None),
        ("d", 1, 3.0, None),
    ]  # fmt: skip
    with psycopg.connect(PG_URL) as conn:
        conn.execute(f"SET search_path TO {pg.schema}")  # type: ignore[attr-defined]
        assert primary_keys(conn) == ["readings_t_pkey"]
        with pytest.raises(psycopg.errors.UniqueViolation):  # the key is enforced again
            conn.execute(
                "INSERT INTO readings_t (site, at_utc) SELECT site, at_utc FROM readings_t"
            )


@pytest.mark.parametrize(
    "first",
    [
        [("a", 1, 2.0, "new"), ("b", 0, 2.0, None), ("b", 1, 2.0, None)],  # a stored key
        [("b", 0, 2.0, "x"), ("b", 1, 2.0, None), ("b", 0, 4.0, "last")],  # a repeat in it
        [("b", 0, 2.0, None), ("c", 0, 2.0, None), ("b", 1, 2.0, None)],  # not series: no repeat
    ],
    ids=["stored key", "repeated key", "interleaved series"],
)
def test_a_key_met_during_a_bulk_load_adds_the_key_back_and_merges(
    pg: Engine, first: list[tuple[str, int, float, str | None]]
) -> None:
    """A batch that may meet a key (stored before, copied by an earlier batch, or repeated in
    it) ends the bulk path: the key is built over the rows so far and the keyed path merges
    the batch, so the last occurrence of each key wins as on the keyed path."""
    pg.upsert(SPEC, hours("a", [0, 1], 1.0, "old"))
    with pg.transaction() as tx:
        conn = tx._conn  # type: ignore[attr-defined]
        tx.upsert(SPEC, batch(first))
        interleaved = first[1][0] == "c"
        assert primary_keys(conn) == ([] if interleaved else ["readings_t_pkey"])
        # an earlier batch's key and a repeat in the batch: the last occurrence wins
        tx.upsert(
            SPEC, batch([("b", 1, 3.0, "again"), ("e", 0, 3.0, "first"), ("e", 0, 5.0, "last")])
        )
        assert primary_keys(conn) == ["readings_t_pkey"]
    expected = {("a", 0): 1.0, ("a", 1): 1.0, ("b", 1): 3.0, ("e", 0): 5.0}
    for site, hour, value, _ in first:
        expected.setdefault((site, hour), value)
    expected[("b", 0)] = 4.0 if first[2][3] == "last" else 2.0
    expected[("a", 1)] = 2.0 if first[0][0] == "a" else 1.0
    assert {(r[0], r[1]): r[2] for r in view(pg)} == expected


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
        tx.upsert(SPEC, hours("n", list(range(4)), 7.0))
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


def test_gold_build_settings_stay_in_its_transaction(pg: Engine) -> None:
    """The planner settings a gold build uses end with it: pooled connections keep theirs."""
    from wattlake.sources.meter_files.schema import METER_READS, METER_REGISTERS

    def work_mem() -> str:
        return str(pg.query("SELECT current_setting('work_mem') AS w").column(0)[0].as_py())

    before = work_mem()
    for spec in (METER_READS, METER_REGISTERS):
        pg.ensure(spec)
    assert pg.build("meter_daily") == 0
    assert work_mem() == before


KILLED_CHILD = """
import sys, time
import wattlake.engines.postgres as pg
from tests.test_engines import SPEC, hours
from wattlake.engines import connect

pg.BULK_ROWS = 3
engine = connect(sys.argv[1], schema=sys.argv[2])
with engine.transaction() as tx:
    tx.upsert(SPEC, hours("new", list(range(24)), 2.0))
    print("copied without the key", flush=True)
    time.sleep(60)
"""


def test_kill_9_during_a_bulk_load_leaves_rows_and_key_as_they_were(pg: Engine) -> None:
    """The loading process dies (SIGKILL) while the key is dropped: the server rolls the
    transaction back, so the table keeps its rows and its primary key."""
    import os
    import signal
    import subprocess
    import sys

    pg.upsert(SPEC, hours("keep", [0], 1.0))
    schema = pg.schema  # type: ignore[attr-defined]
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, PG_URL, schema],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "copied without the key"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    with psycopg.connect(PG_URL) as conn:
        conn.execute(f"SET search_path TO {schema}")
        conn.execute("SET lock_timeout = '10s'")  # the server ends the dead session's transaction
        assert conn.execute("SELECT site, value FROM readings_t").fetchall() == [("keep", 1.0)]
        assert primary_keys(conn) == ["readings_t_pkey"]
