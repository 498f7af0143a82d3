"""Warehouse engines, chosen by URL: ``duckdb:///path`` (default) or ``postgresql://…``."""

from __future__ import annotations

from wattlake.engines.base import Engine, Tx, load_model, transpile
from wattlake.errors import ConfigError

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
        from wattlake.engines.duckdb import DuckDBEngine

        # SQLAlchemy style: duckdb:///relative.db, duckdb:////absolute.db, duckdb:///:memory:
        path = url.removeprefix("duckdb://").removeprefix("/") or ":memory:"
        return DuckDBEngine(path, read_only=read_only, memory_limit=duckdb_memory_limit)
    if url.startswith(("postgresql://", "postgres://")):
        from wattlake.engines.postgres import PostgresEngine

        return PostgresEngine(url, schema=schema, read_only=read_only)
    scheme = url.split("://", 1)[0] if "://" in url else ""
    what = f"scheme {scheme!r}" if scheme else "(no scheme://)"
    raise ConfigError(
        f"unsupported warehouse URL {what} in WATTLAKE_WAREHOUSE={_redact(url)!r}",
        hint="use duckdb:///path/to/file.duckdb or postgresql://user@host/db",
    )


def _redact(url: str) -> str:
    """``url`` with any password replaced by ***."""
    from urllib.parse import urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        return url
    return url.replace(f":{password}@", ":***@") if password else url
