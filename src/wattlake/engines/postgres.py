"""PostgreSQL engine: binary ``COPY`` straight into the table for new keys; a staging table and
``INSERT … ON CONFLICT DO UPDATE`` only for keys that may be stored.

Tables carry a real PRIMARY KEY. Gold models and queries are written in DuckDB's dialect and
transpiled by sqlglot. ``schema`` (optional) puts every table in that schema via search_path.

Arrow → PostgreSQL binary COPY is encoded by pgpq (Rust, maintained): 0.03 s of CPU per 200k
meter rows here, against 0.45 s for a numpy encoder of our own and ~1.1 s for psycopg's
``write_row`` loop (plus ~5 s to turn Arrow into Python rows for it).

Bulk loads (a first batch of ``BULK_ROWS`` or more into a table holding fewer rows than it, e.g.
a file's first load): the transaction takes the table's ACCESS EXCLUSIVE lock (only if no one
else holds a lock on it: ``NOWAIT``, else the usual path), drops the primary key, copies the
batches in and adds the key back before the commit: one sorted index build instead of one
B-tree insertion per row (about half of the server's CPU in a keyed COPY). Meanwhile the
client keeps the key unique: it remembers the key ranges copied (per series, or per batch) and
those of the rows there before; a batch that may meet one, or repeats a key, ends the bulk
path (the key is built then) and takes the keyed path. Rolled back, the key is as it was.

Changes (for the API's response cache): every write this engine makes (a transaction,
``execute``, ``ensure``, ``build``) sends ``NOTIFY wattlake_changes`` inside its own
transaction, so PostgreSQL delivers it when, and only if, the write commits, to every process.
The engine bumps its own :class:`Changes` once its write is over; ``watch()`` keeps one
connection LISTENing in a daemon thread and bumps them on each notification from another
engine (the payload names the engine that sent it). While that connection is lost,
``Changes.live`` is False, and it bumps once it listens again. Writes not made through wattlake
(psql) send nothing.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from wattlake.engines.base import (
    Changes,
    Params,
    create_table_sql,
    in_key_order,
    in_series_order,
    is_text,
    load_model,
    series_runs,
    transpile,
)
from wattlake.errors import WarehouseError
from wattlake.redact import redact_url
from wattlake.tables import TableSpec, sql_type

try:
    import pgpq
    import psycopg
    from psycopg_pool import ConnectionPool
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "PostgreSQL support needs the `postgres` extra: pip install 'wattlake[postgres]'"
    ) from exc

_COPY_CHUNK = 200_000
BULK_ROWS = 100_000  # a first batch this large may load without the key index (see above)
# For gold builds (for their transaction only): a model aggregates whole tables into far fewer
# rows, but without multi-column statistics the planner guesses 100k groups (the cap of its
# estimate) and sorts them on disk with 4MB of work_mem. With room to hash them and a cheaper
# transfer from parallel workers it picks a parallel hash aggregate: meter_daily on 1M rows
# 0.5 s instead of 1.8-2.3 s, meter_daily_mixed 0.4 s instead of 1.2-1.4 s.
BUILD_SETTINGS = {"work_mem": "32MB", "parallel_tuple_cost": "0.01"}
CHANNEL = "wattlake_changes"


def _q(name: str) -> str:
    return f'"{name}"'


def _binary_ready(table: pa.Table) -> pa.Table:
    """``table`` with each column in the Arrow type whose binary form is the column's SQL type
    (``sql_type``: INTEGER for narrow ints, DOUBLE PRECISION for every float)."""
    arrays = []
    for col in table.columns:
        t = col.type
        if pa.types.is_integer(t) and (t.bit_width < 32 or pa.types.is_unsigned_integer(t)):
            col = col.cast(pa.int32() if t.bit_width < 32 else pa.int64())
        elif pa.types.is_floating(t) and t.bit_width < 64:
            col = col.cast(pa.float64())
        arrays.append(col)
    return pa.Table.from_arrays(arrays, names=table.column_names)


def copy_binary(cur: psycopg.Cursor[Any], target: str, table: pa.Table) -> None:
    """``COPY target (columns) FROM STDIN (FORMAT BINARY)`` with ``table``'s rows."""
    table = _binary_ready(table)
    cols = ", ".join(_q(c) for c in table.column_names)
    encoder = pgpq.ArrowToPostgresBinaryEncoder(table.schema)
    with cur.copy(f"COPY {target} ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(encoder.write_header())
        for batch in table.to_batches(_COPY_CHUNK):
            copy.write(encoder.write_batch(batch))
        copy.write(encoder.finish())


Box = tuple[tuple[Any, Any], ...]  # (min, max) of each primary key column


@dataclass
class _Bulk:
    """A table loading without its primary key in this transaction, and the key ranges of
    the rows in it: one box per series copied (a series' key, its time range), or per batch
    (or the rows there before) of another shape."""

    constraint: str  # the primary key's name, to add it back
    keys: list[str]  # its columns
    by_head: dict[Any, list[Box]] = field(default_factory=dict)  # boxes by first key value
    wide: list[Box] = field(default_factory=list)  # boxes spanning first key values

    def add(self, box: Box) -> None:
        lo, hi = box[0]
        if lo == hi:
            self.by_head.setdefault(lo, []).append(box)
        else:
            self.wide.append(box)

    def meets(self, box: Box) -> bool:
        """Whether a key inside ``box`` may already be in the table."""
        lo, hi = box[0]
        if lo == hi:
            near = [*self.by_head.get(lo, ()), *self.wide]
        else:
            near = [*self.wide, *(b for boxes in self.by_head.values() for b in boxes)]
        return any(
            all(
                a_lo <= b_hi and b_lo <= a_hi
                for (a_lo, a_hi), (b_lo, b_hi) in zip(o, box, strict=True)
            )
            for o in near
        )


class PostgresTx:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self._staged: set[str] = set()
        self._bulk: dict[str, _Bulk | None] = {}  # table -> bulk state (None: keyed path)

    def execute(self, sql: str, params: Params = None) -> None:
        self.finish()  # a statement may rely on the primary keys
        self._conn.execute(transpile(sql, "postgres"), dict(params) if params else None)

    def finish(self) -> None:
        """Add back the primary keys dropped for bulk loads (one sorted index build each)."""
        for name in list(self._bulk):
            self._end_bulk(name)

    def upsert(self, spec: TableSpec, table: pa.Table) -> int:
        """New keys are copied straight into the table; a batch part whose keys may be stored
        (inside the ranges of the stored keys that fall in the batch's ranges) goes through
        staging. The real PRIMARY KEY keeps the straight copy honest: if it meets a stored
        or repeated key after all, that part is rolled back to a savepoint and merged."""
        n = int(table.num_rows)
        if n == 0:
            return 0
        table = spec.conform(table)
        with self._conn.cursor() as cur:
            if not spec.primary_key:
                copy_binary(cur, _q(spec.name), table)
                return n
            if spec.name not in self._bulk:
                self._bulk[spec.name] = (
                    self._start_bulk(cur, spec, table) if n >= BULK_ROWS else None
                )
            if self._bulk_copy(cur, spec, table):
                return n
            new, stored = self._split(cur, spec, table)
            merge = [stored] if stored is not None else []
            if new is not None:
                try:
                    with self._conn.transaction():  # a savepoint
                        copy_binary(cur, _q(spec.name), in_key_order(spec, new))
                except psycopg.errors.UniqueViolation:
                    merge.append(new)
            for part in merge:
                self._merge(cur, spec, part)
        return n

    def _start_bulk(
        self, cur: psycopg.Cursor[Any], spec: TableSpec, table: pa.Table
    ) -> _Bulk | None:
        """Drop ``spec``'s primary key for this transaction if the table holds fewer rows than
        ``table``, its key is ``spec``'s and no one else holds a lock on it; None otherwise."""
        target, n = _q(spec.name), table.num_rows
        row = cur.execute(f"SELECT count(*) FROM (SELECT FROM {target} LIMIT %s) s", [n]).fetchone()
        if not row or row[0] >= n:
            return None
        row = cur.execute(
            "SELECT c.conname, array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY"
            " u(num, i) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.num"
            " ORDER BY u.i) FROM pg_constraint c WHERE c.conrelid = %s::regclass"
            " AND c.contype = 'p'",
            [target],
        ).fetchone()
        if not row or list(row[1]) != list(spec.primary_key):
            return None
        # Text bounds in byte order (COLLATE "C"), the order Arrow and Python compare in.
        bounds = ", ".join(
            f"min({_q(k)}{c}), max({_q(k)}{c})"
            for k in spec.primary_key
            for c in [' COLLATE "C"' if is_text(table.schema.field(k).type) else ""]
        )
        try:
            with self._conn.transaction():  # a savepoint: on failure, as if never tried
                cur.execute(f"LOCK TABLE {target} IN ACCESS EXCLUSIVE MODE NOWAIT")
                stored = cur.execute(f"SELECT count(*), {bounds} FROM {target}").fetchone()
                cur.execute(f"ALTER TABLE {target} DROP CONSTRAINT {_q(row[0])}")
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DependentObjectsStillExist):
            return None
        bulk = _Bulk(row[0], list(spec.primary_key))
        if stored and stored[0]:
            bulk.wide.append(tuple(zip(stored[1::2], stored[2::2], strict=True)))
        return bulk

    def _bulk_copy(self, cur: psycopg.Cursor[Any], spec: TableSpec, table: pa.Table) -> bool:
        """Copy ``table`` straight into a table loading without its key, if none of its keys
        can be there yet and it repeats none. Otherwise (and for a keyed table) add the key
        back, if dropped, and return False: the keyed path takes the batch."""
        bulk = self._bulk.get(spec.name)
        if bulk is None:
            return False
        runs = series_runs(spec, table)
        boxes = _boxes(spec, table, runs)
        if boxes is None or any(bulk.meets(b) for b in boxes):
            self._end_bulk(spec.name)
            return False
        copy_binary(cur, _q(spec.name), in_series_order(table, runs))
        for box in boxes:
            bulk.add(box)
        return True

    def _end_bulk(self, name: str) -> None:
        bulk = self._bulk.get(name)
        if bulk is not None:
            self._bulk[name] = None
            keys = ", ".join(_q(k) for k in bulk.keys)
            self._conn.execute(
                f"ALTER TABLE {_q(name)} ADD CONSTRAINT {_q(bulk.constraint)} PRIMARY KEY ({keys})"
            )

    def _split(
        self, cur: psycopg.Cursor[Any], spec: TableSpec, table: pa.Table
    ) -> tuple[pa.Table | None, pa.Table | None]:
        """(rows whose keys are surely not stored, rows whose keys may be), by ranges of the
        first key column and of every non-text key column (an index range scan)."""
        keys = _range_keys(spec, table)
        where, args = [], []
        for k in keys:
            where.append(f"{_q(k)} BETWEEN %s AND %s")
            args += [*_min_max(table.column(k))]
        bounds = ", ".join(f"min({_q(k)}), max({_q(k)})" for k in keys)
        row = cur.execute(
            f"SELECT count(*), {bounds} FROM {_q(spec.name)} WHERE " + " AND ".join(where), args
        ).fetchone()
        if not row or not row[0]:
            return table, None
        inside = _inside(table, keys, list(zip(row[1::2], row[2::2], strict=True)))
        maybe = table.filter(inside)
        new = table.filter(pc.invert(inside))
        return (new if new.num_rows else None), (maybe if maybe.num_rows else None)

    def _stage(self, cur: psycopg.Cursor[Any], spec: TableSpec, table: pa.Table) -> str:
        """``table`` binary-copied into the (emptied) temp staging table of ``spec``."""
        stage = _q(f"_wl_stage_{spec.name}")
        if stage not in self._staged:
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} "
                f"(LIKE {_q(spec.name)} INCLUDING DEFAULTS) ON COMMIT DROP"
            )
            self._staged.add(stage)
        else:
            cur.execute(f"TRUNCATE {stage}")
        copy_binary(cur, stage, table)
        return stage

    def _merge(self, cur: psycopg.Cursor[Any], spec: TableSpec, table: pa.Table) -> None:
        """Binary COPY into a temp staging table, then ``INSERT … ON CONFLICT DO UPDATE``."""
        stage = self._stage(cur, spec, table)
        cols = ", ".join(_q(c) for c in spec.column_names)
        keys = ", ".join(_q(k) for k in spec.primary_key)
        updates = [c for c in spec.column_names if c not in spec.primary_key]
        conflict = (
            "DO UPDATE SET " + ", ".join(f"{_q(c)} = EXCLUDED.{_q(c)}" for c in updates)
            if updates
            else "DO NOTHING"
        )
        insert = f"INSERT INTO {_q(spec.name)} ({cols}) {{}} ON CONFLICT ({keys}) {conflict}"
        try:
            # Fast path: a batch without repeated keys needs no sort.
            with self._conn.transaction():
                cur.execute(insert.format(f"SELECT {cols} FROM {stage}"))
        except psycopg.errors.CardinalityViolation:
            # The batch repeats a key: the last occurrence (highest ctid) wins.
            cur.execute(insert.format(_last_of_each(spec, stage)))


def _last_of_each(spec: TableSpec, stage: str) -> str:
    """The staged rows, the last occurrence (highest ctid: one COPY appends in order) of
    each key."""
    cols = ", ".join(_q(c) for c in spec.column_names)
    keys = ", ".join(_q(k) for k in spec.primary_key)
    return f"SELECT DISTINCT ON ({keys}) {cols} FROM {stage} ORDER BY {keys}, ctid DESC"


def _range_keys(spec: TableSpec, table: pa.Table) -> list[str]:
    """The key columns whose ranges bound a batch: the first, and every non-text one."""
    pk = spec.primary_key
    return [k for i, k in enumerate(pk) if i == 0 or not is_text(table.schema.field(k).type)]


def _min_max(col: pa.ChunkedArray) -> tuple[Any, Any]:
    mm = pc.min_max(col)
    return mm["min"].as_py(), mm["max"].as_py()


def _inside(table: pa.Table, keys: list[str], box: Sequence[tuple[Any, Any]]) -> pa.ChunkedArray:
    """Which rows of ``table`` have every ``keys`` column within its (min, max) in ``box``."""
    inside = None
    for k, (lo, hi) in zip(keys, box, strict=True):
        col = table.column(k)
        this = pc.and_(
            pc.greater_equal(col, pa.scalar(lo, col.type)),
            pc.less_equal(col, pa.scalar(hi, col.type)),
        )
        inside = this if inside is None else pc.and_(inside, this)
    assert inside is not None
    return inside


def _boxes(
    spec: TableSpec, table: pa.Table, runs: tuple[list[int], list[tuple[Any, ...]]] | None
) -> list[Box] | None:
    """The key ranges of ``table``: one box per series (its key, its time range) when it is
    made of contiguous ordered series (``runs``, from ``series_runs``), else one for the
    whole batch; None if the batch repeats a key."""
    pk = spec.primary_key
    if runs is None:
        if _repeats(spec, table):
            return None
        return [tuple(_min_max(table.column(k)) for k in pk)]
    starts = runs[0]
    ends = [*starts[1:], table.num_rows]
    firsts = table.select(list(pk)).take(pa.array(starts)).to_pylist()
    lasts = table.select(list(pk)).take(pa.array([e - 1 for e in ends])).to_pylist()
    return [tuple((a[k], z[k]) for k in pk) for a, z in zip(firsts, lasts, strict=True)]


def _repeats(spec: TableSpec, table: pa.Table) -> bool:
    """Whether ``table`` holds a key more than once (a hash group-by of the key columns)."""
    keys = list(spec.primary_key)
    distinct = table.select(keys).group_by(keys, use_threads=False).aggregate([])
    return bool(distinct.num_rows != table.num_rows)


class Listener:
    """``LISTEN wattlake_changes`` on a connection of its own, in a daemon thread: each
    notification bumps ``changes``. When the connection fails, ``changes.live`` turns False and
    the thread connects again every ``RETRY_S``; once it listens again it bumps ``changes``
    (whatever committed meanwhile was not heard) and turns ``live`` back on. TCP keepalives
    notice a silently dead server within about half a minute."""

    WAIT_S = 0.25  # how long one wait for notifications lasts (so close() returns quickly)
    RETRY_S = 1.0  # between attempts to listen again
    OPTIONS: ClassVar[dict[str, Any]] = {
        "connect_timeout": 10, "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
        "keepalives_count": 3,
    }  # fmt: skip

    def __init__(self, url: str, changes: Changes, me: str) -> None:
        self.url, self.changes, self.me = url, changes, me
        self.backend_pid: int | None = None  # the listening connection's server process
        self._stop = threading.Event()
        conn = self._connect()  # listening before watch() returns, if the server answers
        changes.live = conn is not None
        self._thread = threading.Thread(
            target=self._run, args=(conn,), name="wattlake-listen", daemon=True
        )
        self._thread.start()

    def _connect(self) -> psycopg.Connection[Any] | None:
        conn = None
        try:
            conn = psycopg.connect(
                self.url, autocommit=True, application_name="wattlake-listen", **self.OPTIONS
            )
            conn.execute(f"LISTEN {CHANNEL}")
        except Exception:  # not listening: the cache is bypassed until a retry succeeds
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
            return None
        self.backend_pid = conn.info.backend_pid
        return conn

    def _run(self, conn: psycopg.Connection[Any] | None) -> None:
        try:
            while not self._stop.is_set():
                if conn is None:
                    if self._stop.wait(self.RETRY_S) or (conn := self._connect()) is None:
                        continue
                    self.changes.bump()
                    self.changes.live = True
                try:
                    for n in conn.notifies(timeout=self.WAIT_S):
                        if n.payload != self.me:  # the engine bumped them after its own writes
                            self.changes.bump()
                except Exception:  # the connection is lost (or broken): stop trusting the cache
                    self.changes.live = False
                    with contextlib.suppress(Exception):
                        conn.close()
                    conn = None
        finally:  # stopped (or failed in a way not foreseen): nothing is heard any more
            self.changes.live = False
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


class PostgresEngine:
    dialect = "postgres"

    def __init__(
        self, url: str, *, schema: str | None = None, max_size: int = 8, read_only: bool = False
    ) -> None:
        self.url = url
        self.schema = schema
        self.read_only = read_only
        self.changes = Changes()  # bumped after this engine's writes, and by the listener
        self._me = secrets.token_hex(8)  # this engine, in its notifications' payload
        self._notify = f"NOTIFY {CHANNEL}, '{self._me}'"  # in a write: sent at its commit, if any
        self.listener: Listener | None = None  # started by watch()

        def configure(conn: psycopg.Connection[Any]) -> None:
            conn.execute("SET TIME ZONE 'UTC'")  # every engine computes time in UTC
            if schema:
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(schema)}")
                conn.execute(f"SET search_path TO {_q(schema)}")
            if read_only:
                conn.execute("SET default_transaction_read_only = on")
            conn.commit()

        try:
            self._pool = ConnectionPool(
                url, min_size=1, max_size=max_size, configure=configure, open=False
            )
            self._pool.open(wait=True, timeout=10)
        except Exception as exc:
            raise WarehouseError(
                f"cannot reach PostgreSQL at {redact_url(url)}: {exc}",
                hint="check WATTLAKE_WAREHOUSE and that the server is running and accepts you",
            ) from exc

    def table_exists(self, name: str) -> bool:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [_q(name)]).fetchone()
        return bool(row and row[0])

    def watch(self) -> Changes:
        """:attr:`changes`, bumped from now on by every wattlake write from any process."""
        if self.listener is None:
            self.listener = Listener(self.url, self.changes, self._me)
        return self.changes

    @contextmanager
    def _writing(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for a write, in one transaction: the NOTIFY is sent inside it (so
        delivered at its commit, and only then) and :attr:`changes` bumped after it."""
        with self.changes.after(), self._pool.connection() as conn, conn.transaction():
            yield conn
            conn.execute(self._notify)

    def ensure(self, spec: TableSpec) -> None:
        with self._writing() as conn:
            conn.execute(create_table_sql(spec, "postgres"))
            for col in spec.columns:
                conn.execute(
                    f"ALTER TABLE {_q(spec.name)} ADD COLUMN IF NOT EXISTS {_q(col.name)} "
                    f"{sql_type(col.type, 'postgres')}"
                )
            for cols in spec.indexes:
                name = _q("_".join((spec.name, *cols, "idx")))
                conn.execute(
                    f"CREATE INDEX IF NOT EXISTS {name} ON {_q(spec.name)} "
                    f"({', '.join(map(_q, cols))})"
                )

    @contextmanager
    def transaction(self) -> Iterator[PostgresTx]:
        with self._writing() as conn:
            tx = PostgresTx(conn)
            yield tx
            tx.finish()

    def upsert(self, spec: TableSpec, table: pa.Table) -> int:
        with self.transaction() as tx:
            return tx.upsert(spec, table)

    def execute(self, sql: str, params: Params = None) -> None:
        try:
            with self._writing() as conn:
                conn.execute(transpile(sql, "postgres"), dict(params) if params else None)
        except psycopg.Error as exc:
            raise WarehouseError(f"statement failed: {exc}") from exc

    def query(self, sql: str, params: Params = None) -> pa.Table:
        names, rows = self.rows(sql, params)
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        return pa.table({n: pa.array(list(v)) for n, v in zip(names, columns, strict=True)})

    def rows(self, sql: str, params: Params = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows as Python tuples (what psycopg returns; ``query`` makes Arrow
        of them). One statement in autocommit: no BEGIN and COMMIT round trips around a read."""
        try:
            with self._pool.connection() as conn:
                conn.autocommit = True
                try:
                    cur = conn.execute(transpile(sql, "postgres"), dict(params) if params else None)
                    names = [d.name for d in cur.description or []]
                    return names, cur.fetchall()
                finally:
                    with contextlib.suppress(psycopg.Error):  # a broken one is discarded anyway
                        conn.autocommit = False
        except psycopg.Error as exc:
            raise WarehouseError(f"query failed: {exc}") from exc

    def build(self, model: str) -> int:
        m = load_model(model)
        with self._writing() as conn:
            for name, value in BUILD_SETTINGS.items():
                conn.execute("SELECT set_config(%s, %s, true)", [name, value])
            conn.execute(f"DROP TABLE IF EXISTS {_q(m.name)}")
            conn.execute(f"CREATE TABLE {_q(m.name)} AS {transpile(m.sql, 'postgres')}")
            if m.index:  # the API's lookups: an index scan, not the whole table per request
                cols = ", ".join(_q(c) for c in m.index)
                conn.execute(f"CREATE INDEX ON {_q(m.name)} ({cols})")
            conn.execute(f"ANALYZE {_q(m.name)}")  # statistics now, not at autovacuum's leisure
        return int(self.query(f"SELECT count(*) FROM {_q(m.name)}").column(0)[0].as_py())

    def drop_schema(self) -> None:
        """Drop this engine's schema and everything in it (tests use a throwaway schema)."""
        if self.schema:
            with self._writing() as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {_q(self.schema)} CASCADE")

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
        self._pool.close()
