"""Warehouse engines, chosen by URL: ``duckdb:///path`` (default), ``postgresql://…``, or
``spark+local[N]`` / ``spark://host:7077`` (Parquet tables under the lake, see ``spark.py``).

``duckdb:///path?parquet=<lake URL>`` opens DuckDB with views over the Parquet tables the Spark
engine wrote under that lake (a light server for what Spark computed)."""

from __future__ import annotations

from wattlake.engines.base import Engine, Tx, load_model, transpile
from wattlake.errors import ConfigError
from wattlake.redact import redact_url

__all__ = ["Engine", "Tx", "connect", "load_model", "transpile"]


def connect(
    url: str,
    *,
    schema: str | None = None,
    read_only: bool = False,
    duckdb_memory_limit: str = "256MB",
) -> Engine:
    """Open the warehouse at ``url`` (``read_only`` refuses every write)."""
    if url.startswith("duckdb://"):
        from urllib.parse import parse_qs

        from wattlake.engines.duckdb import DuckDBEngine

        # SQLAlchemy style: duckdb:///relative.db, duckdb:////absolute.db, duckdb:///:memory:
        url, _, query = url.partition("?")
        path = url.removeprefix("duckdb://").removeprefix("/") or ":memory:"
        lakes = parse_qs(query).get("parquet") if query else None
        if lakes and path == ":memory:":
            read_only = False  # only views over the Parquet: nothing here to protect
        engine = DuckDBEngine(path, read_only=read_only, memory_limit=duckdb_memory_limit)
        if lakes:
            engine.attach_parquet(lakes[-1])
        return engine
    if url.startswith(("spark://", "spark+")):
        from wattlake.engines.spark import SparkEngine

        return SparkEngine(url, read_only=read_only)
    if url.startswith(("postgresql://", "postgres://")):
        from wattlake.engines.postgres import PostgresEngine

        return PostgresEngine(url, schema=schema, read_only=read_only)
    scheme = url.split("://", 1)[0] if "://" in url else ""
    what = f"scheme {scheme!r}" if scheme else "(no scheme://)"
    raise ConfigError(
        f"unsupported warehouse URL {what} in WATTLAKE_WAREHOUSE={redact_url(url)!r}",
        hint="use duckdb:///path/to/file.duckdb, postgresql://user@host/db or spark+local[2]",
    )
