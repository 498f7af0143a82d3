"""DuckDB engine (the embedded default).

Tables are created WITHOUT a PRIMARY KEY constraint: DuckDB maintains a key with an ART index
whose insert cost measured 1.2–1.5 s per million rows here, against 0.3–0.5 s for the
delete-then-insert upsert below (see docs/architecture.md). The key is still the identity of a
row: ``upsert`` is the only write path and keeps it unique — it removes the stored rows whose key
appears in the batch and inserts the batch, keeping the last occurrence of a key repeated inside
the batch.

One connection per engine; every call takes its own cursor, so API requests on threads don't
trip over an unfinished result. Writes are serialized by a lock (DuckDB allows one writer).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from wattlake.engines.base import Params, create_table_sql, load_model
from wattlake.errors import WarehouseError
from wattlake.tables import Column, TableSpec, sql_type

_STAGE = "_wl_stage"
SMALL_ROWS = 1000  # batches up to this size are checked for repeated keys in Python
DIRECT_ROWS = 250_000  # pending rows per table a transaction keeps in memory before staging


def _q(name: str) -> str:
    return f'"{name}"'


class DuckDBTx:
    """A unit of work, applied in one DuckDB transaction when the ``with`` block ends.

    DuckDB keeps a transaction's own rows in memory (measured: 1.1 GB more RSS for a 10M-row
    file in one transaction), so nothing is written inside the transaction while a file is
    parsed. Statements are recorded; small upserts keep their Arrow batch; once a table has
    ``DIRECT_ROWS`` pending rows, its batches are appended (autocommit) to a TEMP staging
    table: connection-local, not written to the WAL, spilled to DuckDB's temp files beyond
    ``memory_limit``. At the end the recorded work replays on the same connection, in order,
    in one short transaction that either commits all of it or none; staging tables are dropped
    either way.
    """

    def __init__(self, cur: duckdb.DuckDBPyConnection) -> None:
        self.cur = cur  # this unit of work's connection (staging tables are local to it)
        self._ops: list[tuple[str, Any, Any]] = []  # ("sql", sql, params) | ("up", spec, src)
        self._pending: dict[str, int] = {}
        self._staged: dict[str, str] = {}  # table -> staging table
        self._ord = 0

    def execute(self, sql: str, params: Params = None) -> None:
        self._ops.append(("sql", sql, dict(params) if params else None))

    def upsert(self, spec: TableSpec, table: pa.Table) -> int:
        n = int(table.num_rows)
        if n == 0:
            return 0
        table = spec.conform(table)
        pending = self._pending.get(spec.name, 0) + n
        self._pending[spec.name] = pending
        if spec.name not in self._staged and pending <= DIRECT_ROWS:
            self._ops.append(("up", spec, table))
            return n
        stage = self._staged.get(spec.name)
        if stage is None:
            stage = self._staged[spec.name] = f"{_STAGE}_{spec.name}_{secrets.token_hex(4)}"
            staged = TableSpec(stage, (*spec.columns, Column("_wl_ord", pa.int64())), ())
            ddl = create_table_sql(staged, "duckdb", primary_key=False)
            self.cur.execute(ddl.replace("CREATE TABLE", "CREATE TEMP TABLE", 1))
        lo, hi = self._ord, self._ord + n
        self._ord = hi
        self.cur.register(_STAGE, table.append_column("_wl_ord", pa.array(np.arange(lo, hi))))
        try:
            self.cur.execute(f"INSERT INTO {_q(stage)} SELECT * FROM {_STAGE}")
        finally:
            self.cur.unregister(_STAGE)
        last = self._ops[-1] if self._ops else None
        if last and last[0] == "up" and isinstance(last[2], tuple) and last[1] is spec:
            self._ops[-1] = ("up", spec, (stage, last[2][1], hi))  # extend the same range
        else:
            self._ops.append(("up", spec, (stage, lo, hi)))
        return n

    def apply(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Replay the recorded work on ``cur`` (inside its transaction)."""
        for kind, a, b in self._ops:
            if kind == "sql":
                cur.execute(a, b)
            elif isinstance(b, pa.Table):
                _merge(cur, a, b)
            else:
                stage, lo, hi = b
                _merge(
                    cur, a, f"(SELECT * FROM {_q(stage)} WHERE _wl_ord >= {lo} AND _wl_ord < {hi})"
                )

    def discard(self) -> None:
        for stage in self._staged.values():
            self.cur.execute(f"DROP TABLE IF EXISTS {_q(stage)}")
        self._staged.clear()


def _merge(cur: duckdb.DuckDBPyConnection, spec: TableSpec, source: pa.Table | str) -> None:
    """Upsert ``source`` (an Arrow table, or a staged subquery with ``_wl_ord``) into
    ``spec``: delete the stored rows whose key it holds, insert it; when it repeats a key, the
    last occurrence wins."""
    cols = ", ".join(_q(c) for c in spec.column_names)
    if isinstance(source, pa.Table):
        ordinal = pa.array(np.arange(source.num_rows, dtype=np.int64))
        cur.register(_STAGE, source.append_column("_wl_ord", ordinal))
        src = _STAGE
    else:
        src = source
    try:
        select = src
        if spec.primary_key:
            keys = ", ".join(_q(k) for k in spec.primary_key)
            if _repeats_a_key(cur, spec, source, src):
                select = (
                    f"(SELECT * FROM {src} QUALIFY row_number() OVER "
                    f"(PARTITION BY {keys} ORDER BY _wl_ord DESC) = 1)"
                )
            match = " AND ".join(f"t.{_q(k)} = s.{_q(k)}" for k in spec.primary_key)
            cur.execute(f"DELETE FROM {_q(spec.name)} AS t USING {src} AS s WHERE {match}")
        cur.execute(f"INSERT INTO {_q(spec.name)} ({cols}) SELECT {cols} FROM {select} AS _u")
    finally:
        if isinstance(source, pa.Table):
            cur.unregister(_STAGE)


def _repeats_a_key(
    cur: duckdb.DuckDBPyConnection, spec: TableSpec, source: pa.Table | str, src: str
) -> bool:
    """Does the batch hold a key twice? Small Arrow batches (run log, manifest rows) are
    checked in Python, saving a statement; larger ones count distinct key hashes (one 64-bit
    column is far cheaper than the key's columns; a collision only costs the dedupe path)."""
    if isinstance(source, pa.Table) and source.num_rows <= SMALL_ROWS:
        keys = [source.column(k).to_pylist() for k in spec.primary_key]
        return len(set(zip(*keys, strict=True))) != int(source.num_rows)
    key_list = ", ".join(_q(k) for k in spec.primary_key)
    total, distinct = cur.execute(
        f"SELECT count(*), count(DISTINCT hash({key_list})) FROM {src}"
    ).fetchall()[0]
    return bool(distinct != total)


def open_error(path: str, exc: duckdb.Error, *, read_only: bool) -> WarehouseError:
    """A one-line reason why DuckDB could not open ``path``, with what to do."""
    text = str(exc)
    if read_only and path != ":memory:" and not Path(path).exists():
        return WarehouseError(
            f"there is no warehouse at {path} yet",
            hint="load something first (wattlake ingest …, wattlake demo), or set "
            "WATTLAKE_HOME / WATTLAKE_WAREHOUSE to where it is",
        )
    if "Conflicting lock" in text:
        holder = text.split("Conflicting lock is held in ", 1)[-1].split(". ", 1)[0]
        return WarehouseError(
            f"the DuckDB warehouse {path} is in use by another process ({holder})",
            hint="stop that process (a running `wattlake serve`?) or wait for it to finish; "
            "`wattlake serve --read-only` lets `wattlake sql` and `wattlake runs` read "
            "alongside it; PostgreSQL (WATTLAKE_WAREHOUSE) allows many writers",
        )
    if any(s in text for s in ("Permission denied", "Operation not permitted", "Read-only file")):
        need = "read" if read_only else "write"
        return WarehouseError(
            f"no permission to {need} the DuckDB warehouse {path}",
            hint=f"give this user {need} access to the file and its folder, or point "
            "WATTLAKE_WAREHOUSE / WATTLAKE_HOME elsewhere",
        )
    if isinstance(exc, duckdb.InvalidInputException | duckdb.BinderException):
        return WarehouseError(
            f"cannot open the DuckDB warehouse {path}: {text}",
            hint="check WATTLAKE_DUCKDB_MEMORY_LIMIT (e.g. 256MB or 4GB)",
        )
    return WarehouseError(
        f"cannot open the DuckDB warehouse {path}: {text}",
        hint="is it a DuckDB file? point WATTLAKE_WAREHOUSE at a new file or at PostgreSQL",
    )


class DuckDBEngine:
    dialect = "duckdb"

    def __init__(
        self, path: str = ":memory:", *, read_only: bool = False, memory_limit: str = "256MB"
    ) -> None:
        self.url = f"duckdb:///{path}"
        self.read_only = read_only
        if path != ":memory:" and not read_only:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {"preserve_insertion_order": False, "memory_limit": memory_limit}
        if read_only:
            # A read-only connection runs user SQL (`wattlake sql`): no files or network beyond
            # the warehouse (no COPY TO, read_csv('/etc/passwd'), ATTACH, INSTALL/LOAD), and the
            # settings cannot be changed back by a SET.
            config |= {
                "enable_external_access": False,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "lock_configuration": True,
            }
        try:
            # Row order is never relied on (every read orders explicitly); without it DuckDB
            # inserts in parallel: measured 0.48 s instead of 0.85 s per million rows here.
            # memory_limit caps DuckDB's buffer pool (it spills to disk beyond it), so loading
            # 10M rows does not grow the process by the size of the table.
            self._con = duckdb.connect(path, read_only=read_only, config=config)
        except duckdb.Error as exc:
            raise open_error(path, exc, read_only=read_only) from exc
        self._write_lock = threading.RLock()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        return self._con.cursor()

    def table_exists(self, name: str) -> bool:
        rows = (
            self._cursor()
            .execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])
            .fetchall()
        )
        return bool(rows[0][0])

    def ensure(self, spec: TableSpec) -> None:
        if self.read_only:  # nothing can be created; a missing table fails the query that reads it
            return
        with self._write_lock:
            cur = self._cursor()
            cur.execute(create_table_sql(spec, "duckdb", primary_key=False))
            have = {
                r[0]
                for r in cur.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                    [spec.name],
                ).fetchall()
            }
            for col in spec.columns:
                if col.name not in have:
                    cur.execute(
                        f"ALTER TABLE {_q(spec.name)} ADD COLUMN {_q(col.name)} "
                        f"{sql_type(col.type, 'duckdb')}"
                    )

    @contextmanager
    def transaction(self) -> Iterator[DuckDBTx]:
        with self._write_lock:
            tx = DuckDBTx(self._cursor())
            try:
                yield tx
                cur = tx.cur
                cur.begin()
                try:
                    tx.apply(cur)
                except BaseException:
                    cur.rollback()
                    raise
                cur.commit()
            finally:
                tx.discard()

    def upsert(self, spec: TableSpec, table: pa.Table) -> int:
        with self.transaction() as tx:
            return tx.upsert(spec, table)

    def execute(self, sql: str, params: Params = None) -> None:
        with self._write_lock:
            try:
                self._cursor().execute(sql, dict(params) if params else None)
            except duckdb.Error as exc:
                raise WarehouseError(f"statement failed: {exc}") from exc

    def query(self, sql: str, params: Params = None) -> pa.Table:
        try:
            rel = self._cursor().sql(sql, params=dict(params) if params else None)
            if rel is None:
                raise WarehouseError("query() needs a statement that returns rows")
            return rel.to_arrow_table()
        except duckdb.Error as exc:
            raise WarehouseError(f"query failed: {exc}") from exc

    def build(self, model: str) -> int:
        m = load_model(model)
        with self.transaction() as tx:
            tx.execute(f"CREATE OR REPLACE TABLE {_q(m.name)} AS {m.sql}")
        return int(self.query(f"SELECT count(*) FROM {_q(m.name)}").column(0)[0].as_py())

    def close(self) -> None:
        self._con.close()
