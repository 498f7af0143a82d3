"""The Fonte stand-in's database: the original ``data`` table, on DuckDB or PostgreSQL.

Tables (created if missing):

- ``data`` — exactly the original (seed-systems.md §C.3): ``id`` integer primary key,
  ``timestamp`` timestamp without time zone, ``wind_speed``, ``power``, ``ambient_temperature``
  double precision, indexes ``ix_data_id`` and ``ix_data_timestamp``. It holds the **default
  turbine**, so a reader of the original table sees what it always saw.
- ``turbine(name, position, is_default)`` — the farm; ``position`` 0 is the default turbine.
- ``turbine_data(turbine, id, timestamp, wind_speed, power, ambient_temperature)`` — the other
  turbines, ``id`` 1…n per turbine, primary key (turbine, id), index (turbine, timestamp).

``open_store(url)``: ``None`` or ``duckdb:///:memory:`` for an in-memory DuckDB,
``duckdb:///path.duckdb`` for a file, ``postgresql://…`` (``postgresql+psycopg2://`` accepted)
for PostgreSQL. Reads take their own cursor / pooled connection, so the server's threads can
read at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

import pyarrow as pa

from wattlake.sims.scada_data import COLUMNS, VALUE_COLUMNS, with_ids

Row = tuple[Any, ...]

_DDL_DUCKDB = """
CREATE TABLE IF NOT EXISTS data (
    id INTEGER PRIMARY KEY, timestamp TIMESTAMP, wind_speed DOUBLE, power DOUBLE,
    ambient_temperature DOUBLE);
CREATE INDEX IF NOT EXISTS ix_data_timestamp ON data (timestamp);
CREATE TABLE IF NOT EXISTS turbine (name VARCHAR PRIMARY KEY, position INTEGER NOT NULL,
    is_default BOOLEAN NOT NULL);
CREATE TABLE IF NOT EXISTS turbine_data (
    turbine VARCHAR NOT NULL, id INTEGER NOT NULL, timestamp TIMESTAMP, wind_speed DOUBLE,
    power DOUBLE, ambient_temperature DOUBLE, PRIMARY KEY (turbine, id));
CREATE INDEX IF NOT EXISTS ix_turbine_data_ts ON turbine_data (turbine, timestamp);
"""
# PostgreSQL: what SQLAlchemy's create_all made of the original model (SERIAL id, FLOAT columns).
_DDL_POSTGRES = """
CREATE TABLE IF NOT EXISTS data (
    id SERIAL NOT NULL, timestamp TIMESTAMP WITHOUT TIME ZONE, wind_speed FLOAT,
    power FLOAT, ambient_temperature FLOAT, PRIMARY KEY (id));
CREATE INDEX IF NOT EXISTS ix_data_id ON data (id);
CREATE INDEX IF NOT EXISTS ix_data_timestamp ON data (timestamp);
CREATE TABLE IF NOT EXISTS turbine (name VARCHAR PRIMARY KEY, position INTEGER NOT NULL,
    is_default BOOLEAN NOT NULL);
CREATE TABLE IF NOT EXISTS turbine_data (
    turbine VARCHAR NOT NULL, id INTEGER NOT NULL, timestamp TIMESTAMP WITHOUT TIME ZONE,
    wind_speed FLOAT, power FLOAT, ambient_temperature FLOAT, PRIMARY KEY (turbine, id));
CREATE INDEX IF NOT EXISTS ix_turbine_data_ts ON turbine_data (turbine, timestamp);
"""


class ScadaStore(Protocol):
    url: str

    def ensure(self) -> None: ...
    def row_count(self) -> int: ...
    def turbines(self) -> list[tuple[str, bool]]: ...
    def set_turbines(self, names: Sequence[str]) -> None: ...
    def replace(self, turbine: str | None, table: pa.Table) -> int: ...
    def select(
        self,
        turbine: str | None,
        columns: Sequence[str],
        start: datetime | None,
        end: datetime | None,
        limit: int | None,
        offset: int,
    ) -> list[Row]: ...
    def get(self, turbine: str | None, row_id: int) -> Row | None: ...
    def close(self) -> None: ...


def _where(turbine: str | None, start: datetime | None, end: datetime | None, ph: str) -> str:
    conds = []
    if turbine is not None:
        conds.append(f"turbine = {ph}")
    if start is not None:
        conds.append(f"timestamp >= {ph}")
    if end is not None:
        conds.append(f"timestamp < {ph}")
    return (" WHERE " + " AND ".join(conds)) if conds else ""


def _select_sql(
    turbine: str | None,
    columns: Sequence[str],
    start: datetime | None,
    end: datetime | None,
    limit: int | None,
    offset: int,
    ph: str,
) -> tuple[str, list[Any]]:
    bad = [c for c in columns if c not in COLUMNS]
    if bad:
        raise ValueError(f"unknown columns {bad}")
    table = "data" if turbine is None else "turbine_data"
    sql = f"SELECT {', '.join(columns)} FROM {table}{_where(turbine, start, end, ph)} ORDER BY id"
    params: list[Any] = [p for p in (turbine, start, end) if p is not None]
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    if offset:
        sql += f" OFFSET {int(offset)}"
    return sql, params


def _turbine_rows(names: Sequence[str]) -> list[tuple[str, int, bool]]:
    return [(n, i, i == 0) for i, n in enumerate(names)]


class DuckDBStore:
    """The embedded default: one DuckDB database, a cursor per call."""

    def __init__(self, url: str = "duckdb:///:memory:") -> None:
        import duckdb

        path = url.removeprefix("duckdb:///") or ":memory:"
        self.url = url
        self._con = duckdb.connect(path)
        self._write = threading.Lock()

    @contextmanager
    def _cur(self) -> Iterator[Any]:
        cur = self._con.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def ensure(self) -> None:
        with self._cur() as cur:
            cur.execute(_DDL_DUCKDB)

    def row_count(self) -> int:
        with self._cur() as cur:
            return int(cur.execute("SELECT count(*) FROM data").fetchone()[0])

    def turbines(self) -> list[tuple[str, bool]]:
        with self._cur() as cur:
            rows = cur.execute("SELECT name, is_default FROM turbine ORDER BY position").fetchall()
        return [(str(n), bool(d)) for n, d in rows]

    def set_turbines(self, names: Sequence[str]) -> None:
        with self._write, self._cur() as cur:
            cur.execute("BEGIN")
            cur.execute("DELETE FROM turbine")
            cur.executemany("INSERT INTO turbine VALUES (?, ?, ?)", _turbine_rows(names))
            cur.execute("COMMIT")

    def replace(self, turbine: str | None, table: pa.Table) -> int:
        rows = with_ids(table)
        with self._write, self._cur() as cur:
            cur.register("incoming", rows)
            cur.execute("BEGIN")
            if turbine is None:
                cur.execute("DELETE FROM data")
                cur.execute(f"INSERT INTO data SELECT {', '.join(COLUMNS)} FROM incoming")
            else:
                cur.execute("DELETE FROM turbine_data WHERE turbine = ?", [turbine])
                cur.execute(
                    f"INSERT INTO turbine_data SELECT ?, {', '.join(COLUMNS)} FROM incoming",
                    [turbine],
                )
            cur.execute("COMMIT")
            cur.unregister("incoming")
        return int(rows.num_rows)

    def select(
        self,
        turbine: str | None,
        columns: Sequence[str],
        start: datetime | None,
        end: datetime | None,
        limit: int | None,
        offset: int,
    ) -> list[Row]:
        sql, params = _select_sql(turbine, columns, start, end, limit, offset, "?")
        with self._cur() as cur:
            return list(cur.execute(sql, params).fetchall())

    def get(self, turbine: str | None, row_id: int) -> Row | None:
        cols = ", ".join(("timestamp", *VALUE_COLUMNS, "id"))
        with self._cur() as cur:
            if turbine is None:
                cur.execute(f"SELECT {cols} FROM data WHERE id = ?", [row_id])
            else:
                cur.execute(
                    f"SELECT {cols} FROM turbine_data WHERE turbine = ? AND id = ?",
                    [turbine, row_id],
                )
            row = cur.fetchone()
        return tuple(row) if row is not None else None

    def close(self) -> None:
        self._con.close()


class PostgresStore:
    """PostgreSQL (the original's Fonte database): a small connection pool."""

    def __init__(self, url: str) -> None:
        from psycopg_pool import ConnectionPool

        self.url = url
        conninfo = url.replace("postgresql+psycopg2://", "postgresql://").replace(
            "postgresql+psycopg://", "postgresql://"
        )
        self._pool = ConnectionPool(conninfo, min_size=1, max_size=4, open=True)
        try:
            self._pool.wait(timeout=10)
        except Exception:
            self._pool.close()
            raise

    def ensure(self) -> None:
        with self._pool.connection() as conn:
            conn.execute(_DDL_POSTGRES)

    def row_count(self) -> int:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM data").fetchone()
        return int(row[0]) if row else 0

    def turbines(self) -> list[tuple[str, bool]]:
        with self._pool.connection() as conn:
            rows = conn.execute("SELECT name, is_default FROM turbine ORDER BY position").fetchall()
        return [(str(n), bool(d)) for n, d in rows]

    def set_turbines(self, names: Sequence[str]) -> None:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("DELETE FROM turbine")
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO turbine VALUES (%s, %s, %s)", _turbine_rows(names))

    def replace(self, turbine: str | None, table: pa.Table) -> int:
        rows = with_ids(table)
        cols = rows.to_pydict()
        records = zip(*(cols[c] for c in COLUMNS), strict=True)
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if turbine is None:
                cur.execute("DELETE FROM data")
                copy_sql = f"COPY data ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
                types = ["int4", "timestamp", "float8", "float8", "float8"]
            else:
                cur.execute("DELETE FROM turbine_data WHERE turbine = %s", [turbine])
                copy_sql = (
                    f"COPY turbine_data (turbine, {', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
                )
                types = ["varchar", "int4", "timestamp", "float8", "float8", "float8"]
            with cur.copy(copy_sql) as copy:
                copy.set_types(types)
                for rec in records:
                    copy.write_row(rec if turbine is None else (turbine, *rec))
            if turbine is None:  # keep the SERIAL in step, like rows inserted by the ORM
                cur.execute(
                    "SELECT setval(pg_get_serial_sequence('data', 'id'), "
                    "GREATEST((SELECT max(id) FROM data), 1))"
                )
        return int(rows.num_rows)

    def select(
        self,
        turbine: str | None,
        columns: Sequence[str],
        start: datetime | None,
        end: datetime | None,
        limit: int | None,
        offset: int,
    ) -> list[Row]:
        sql, params = _select_sql(turbine, columns, start, end, limit, offset, "%s")
        with self._pool.connection() as conn:
            return list(conn.execute(sql, params).fetchall())

    def get(self, turbine: str | None, row_id: int) -> Row | None:
        cols = ", ".join(("timestamp", *VALUE_COLUMNS, "id"))
        with self._pool.connection() as conn:
            if turbine is None:
                row = conn.execute(f"SELECT {cols} FROM data WHERE id = %s", [row_id]).fetchone()
            else:
                row = conn.execute(
                    f"SELECT {cols} FROM turbine_data WHERE turbine = %s AND id = %s",
                    [turbine, row_id],
                ).fetchone()
        return tuple(row) if row is not None else None

    def close(self) -> None:
        self._pool.close()


def open_store(url: str | None = None) -> ScadaStore:
    """A store for ``url`` (see the module doc); tables are created by ``ensure()``."""
    if url is None or url.startswith("duckdb:"):
        return DuckDBStore(url or "duckdb:///:memory:")
    if url.startswith(("postgresql:", "postgres:", "postgresql+")):
        return PostgresStore(url)
    raise ValueError(f"unsupported database URL {url!r}: use duckdb:///path or postgresql://…")
