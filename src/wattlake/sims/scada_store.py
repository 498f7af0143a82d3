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

``load_rows(db, rows, turbine=None)`` / ``load_csv(path, db, turbine=None)`` replace one
turbine's rows (default: the default turbine, i.e. the ``data`` table) with real data, ids
1…n in the given order; ``db`` is a store or a database URL.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.csv as pacsv

from wattlake.sims.scada_data import COLUMNS, DEFAULT_TURBINE, VALUE_COLUMNS, with_ids

Row = tuple[Any, ...]
_COPY_CHUNK = 200_000
_CSV = pacsv.WriteOptions(include_header=False)

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
        if turbine is not None:
            rows = rows.add_column(0, "turbine", pa.array([turbine] * rows.num_rows, pa.string()))
        target = "data" if turbine is None else "turbine_data"
        copy_sql = f"COPY {target} ({', '.join(rows.column_names)}) FROM STDIN (FORMAT CSV)"
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if turbine is None:
                cur.execute("DELETE FROM data")
            else:
                cur.execute("DELETE FROM turbine_data WHERE turbine = %s", [turbine])
            with cur.copy(copy_sql) as copy:  # CSV written by Arrow: shortest exact floats
                for off in range(0, rows.num_rows, _COPY_CHUNK):
                    buf = io.BytesIO()
                    pacsv.write_csv(rows.slice(off, _COPY_CHUNK), buf, _CSV)
                    copy.write(buf.getvalue())
            if turbine is None:  # keep the SERIAL in step, like rows inserted by the ORM
                cur.execute(
                    "SELECT setval(pg_get_serial_sequence('data', 'id'), "
                    "GREATEST((SELECT max(id) FROM data), 1))"
                )
        with self._pool.connection() as conn:  # fresh statistics: range scans use the index
            conn.execute("ANALYZE data" if turbine is None else "ANALYZE turbine_data")
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


# -- loading real rows -----------------------------------------------------------------------


def _as_store(db: ScadaStore | str) -> tuple[ScadaStore, bool]:
    if isinstance(db, str):
        store = open_store(db)
        store.ensure()
        return store, True
    return db, False


def _default_name(store: ScadaStore) -> str:
    return next((n for n, d in store.turbines() if d), DEFAULT_TURBINE)


def _replace(store: ScadaStore, table: pa.Table, turbine: str | None) -> int:
    known = [n for n, _ in store.turbines()]
    default = _default_name(store)
    name = turbine or default
    n = store.replace(None if name == default else name, table)
    if name not in known or default not in known:
        others = [k for k in known if k != default]
        store.set_turbines([default, *others, *([name] if name not in (default, *others) else [])])
    return n


def _parse_ts(v: Any) -> datetime | None:
    if v is None or isinstance(v, datetime):
        return v
    return datetime.fromisoformat(str(v))


def _opt_float(v: Any) -> float | None:
    return None if v is None or v == "" else float(v)


def load_rows(
    db: ScadaStore | str,
    rows: Iterable[Mapping[str, Any] | Sequence[Any]],
    turbine: str | None = None,
) -> int:
    """Replace ``turbine``'s rows (default: the default turbine, i.e. the ``data`` table).

    ``rows`` are mappings with ``timestamp, wind_speed, power, ambient_temperature`` or tuples in
    that order; timestamps are datetimes or ISO text. Ids are 1…n in the given order. Returns
    the number of rows. ``db`` is a store or a database URL.
    """
    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS[1:]}
    for r in rows:
        vals = [r.get(c) for c in COLUMNS[1:]] if isinstance(r, Mapping) else list(r)[:4]
        cols["timestamp"].append(_parse_ts(vals[0]))
        for c, v in zip(VALUE_COLUMNS, vals[1:], strict=True):
            cols[c].append(_opt_float(v))
    table = pa.table(
        {
            "timestamp": pa.array(cols["timestamp"], pa.timestamp("us")),
            **{c: pa.array(cols[c], pa.float64()) for c in VALUE_COLUMNS},
        }
    )
    store, own = _as_store(db)
    try:
        return _replace(store, table, turbine)
    finally:
        if own:
            store.close()


def load_csv(path: str | Path, db: ScadaStore | str, turbine: str | None = None) -> int:
    """Replace a turbine's rows with a CSV ``timestamp,wind_speed,power,ambient_temperature``
    (the sample's layout; an ``id`` column, if any, is ignored and ids are renumbered 1…n in
    file order). Values keep their full precision. Returns the number of rows."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        return load_rows(db, list(csv.DictReader(f)), turbine)
