"""PostgreSQL engine: ``COPY`` (CSV written by Arrow) into a staging table, then ``INSERT … ON CONFLICT DO UPDATE``.

Tables carry a real PRIMARY KEY. Gold models and queries are written in DuckDB's dialect and
transpiled by sqlglot. ``schema`` (optional) puts every table in that schema via search_path.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from wattlake.engines.base import Params, create_table_sql, load_model, transpile
from wattlake.errors import WarehouseError
from wattlake.tables import TableSpec, sql_type

try:
    import psycopg
    from psycopg_pool import ConnectionPool
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "PostgreSQL support needs the `postgres` extra: pip install 'wattlake[postgres]'"
    ) from exc

_COPY_CHUNK = 200_000
_CSV = pacsv.WriteOptions(include_header=False)


def _q(name: str) -> str:
    return f'"{name}"'


class PostgresTx:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self._staged: set[str] = set()

    def execute(self, sql: str, params: Params = None) -> None:
        self._conn.execute(transpile(sql, "postgres"), dict(params) if params else None)

    def upsert(self, spec: TableSpec, table: pa.Table) -> int:
        if table.num_rows == 0:
            return 0
        table = spec.conform(table)
        stage = _q(f"_wl_stage_{spec.name}")
        cols = ", ".join(_q(c) for c in spec.column_names)
        if stage not in self._staged:
            self._conn.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} "
                f"(LIKE {_q(spec.name)} INCLUDING DEFAULTS) ON COMMIT DROP"
            )
            self._staged.add(stage)
        else:
            self._conn.execute(f"TRUNCATE {stage}")
        with self._conn.cursor() as cur:
            # Arrow writes CSV in C (strings quoted, nulls as bare empty fields, which is
            # exactly PostgreSQL's CSV convention): ~10x faster than a Python write_row loop.
            with cur.copy(f"COPY {stage} ({cols}) FROM STDIN (FORMAT CSV)") as copy:
                for offset in range(0, table.num_rows, _COPY_CHUNK):
                    buf = io.BytesIO()
                    pacsv.write_csv(table.slice(offset, _COPY_CHUNK), buf, _CSV)
                    copy.write(buf.getbuffer())
            if not spec.primary_key:
                cur.execute(f"INSERT INTO {_q(spec.name)} ({cols}) SELECT {cols} FROM {stage}")
                return int(table.num_rows)
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
                cur.execute(
                    insert.format(
                        f"SELECT DISTINCT ON ({keys}) {cols} FROM {stage} ORDER BY {keys}, ctid DESC"
                    )
                )
        return int(table.num_rows)


class PostgresEngine:
    dialect = "postgres"

    def __init__(
        self, url: str, *, schema: str | None = None, max_size: int = 8, read_only: bool = False
    ) -> None:
        self.url = url
        self.schema = schema
        self.read_only = read_only

        def configure(conn: psycopg.Connection[Any]) -> None:
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
                f"cannot reach PostgreSQL at {_redact(url)}: {exc}",
                hint="check WATTLAKE_WAREHOUSE and that the server is running and accepts you",
            ) from exc

    def table_exists(self, name: str) -> bool:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [_q(name)]).fetchone()
        return bool(row and row[0])

    def ensure(self, spec: TableSpec) -> None:
        with self._pool.connection() as conn:
            conn.execute(create_table_sql(spec, "postgres"))
            for col in spec.columns:
                conn.execute(
                    f"ALTER TABLE {_q(spec.name)} ADD COLUMN IF NOT EXISTS {_q(col.name)} "
                    f"{sql_type(col.type, 'postgres')}"
                )

    @contextmanager
    def transaction(self) -> Iterator[PostgresTx]:
        with self._pool.connection() as conn, conn.transaction():
            yield PostgresTx(conn)

    def upsert(self, spec: TableSpec, table: pa.Table) -> int:
        with self.transaction() as tx:
            return tx.upsert(spec, table)

    def execute(self, sql: str, params: Params = None) -> None:
        try:
            with self._pool.connection() as conn:
                conn.execute(transpile(sql, "postgres"), dict(params) if params else None)
        except psycopg.Error as exc:
            raise WarehouseError(f"statement failed: {exc}") from exc

    def query(self, sql: str, params: Params = None) -> pa.Table:
        try:
            with self._pool.connection() as conn, conn.cursor() as cur:
                cur.execute(transpile(sql, "postgres"), dict(params) if params else None)
                names = [d.name for d in cur.description or []]
                rows = cur.fetchall()
        except psycopg.Error as exc:
            raise WarehouseError(f"query failed: {exc}") from exc
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        return pa.table({n: pa.array(list(v)) for n, v in zip(names, columns, strict=True)})

    def build(self, model: str) -> int:
        m = load_model(model)
        with self.transaction() as tx:
            tx.execute(f"DROP TABLE IF EXISTS {_q(m.name)}")
            tx.execute(f"CREATE TABLE {_q(m.name)} AS {m.sql}")
        return int(self.query(f"SELECT count(*) FROM {_q(m.name)}").column(0)[0].as_py())

    def drop_schema(self) -> None:
        """Drop this engine's schema and everything in it (tests use a throwaway schema)."""
        if self.schema:
            with self._pool.connection() as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {_q(self.schema)} CASCADE")

    def close(self) -> None:
        self._pool.close()


def _redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
