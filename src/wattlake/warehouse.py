"""Query the warehouse from Python: ``wattlake.open()`` → :class:`Warehouse`.

>>> import wattlake
>>> with wattlake.open() as wh:                            # doctest: +SKIP
...     daily = wh.table("lmp_daily")                      # a pyarrow.Table
...     hubs = wh.sql("SELECT node, avg(avg_lmp) AS avg_lmp_usd_per_mwh FROM lmp_daily "
...                   "WHERE market = $m GROUP BY node", {"m": "DAM"})
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from wattlake._facade import utc

if TYPE_CHECKING:
    from wattlake.engines import Engine

__all__ = ["Warehouse", "open"]


class Warehouse:
    """A handle on the warehouse (DuckDB file or PostgreSQL) that answers in Arrow.

    Every time zone-aware timestamp comes back in zone ``UTC``. Use it as a context manager or
    call :meth:`close`. A DuckDB file is open in one process at a time (the API, a CLI load or
    this handle); use PostgreSQL to share it.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def url(self) -> str:
        """The warehouse URL (``duckdb:///…`` or ``postgresql://…``)."""
        return self.engine.url

    def sql(self, query: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run one SELECT and return its rows.

        Parameters
        ----------
        query : str
            SQL in DuckDB's dialect (translated for PostgreSQL); parameters as ``$name``.
        params : mapping, optional
            Values of the ``$name`` parameters.

        Returns
        -------
        pyarrow.Table
            The result; time zone-aware timestamps in UTC.
        """
        return utc(self.engine.query(query, dict(params) if params else None))

    def tables(self) -> list[str]:
        """Names of the tables in the warehouse (silver, gold and the run log), sorted."""
        t = self.engine.query(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() ORDER BY table_name"
        )
        return [str(v) for v in t.column(0).to_pylist()]

    def table(self, name: str, *, limit: int | None = None) -> pa.Table:
        """A whole table (or its first ``limit`` rows), e.g. ``"lmp_daily"``, ``"feeders"``.

        Raises
        ------
        wattlake.errors.NotFoundError
            When there is no table of that name (the message lists the ones there are).
        """
        from wattlake.errors import NotFoundError

        known = self.tables()
        if name not in known:
            raise NotFoundError(
                f"no table {name!r} in {self.url}", hint=f"tables: {', '.join(known) or 'none'}"
            )
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")
        suffix = "" if limit is None else f" LIMIT {int(limit)}"
        return self.sql(f'SELECT * FROM "{name}"{suffix}')

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Warehouse({self.url!r})"


def open(url: str | None = None, *, read_only: bool = False) -> Warehouse:
    """Open the warehouse of the settings in effect (``WATTLAKE_*`` / ``wattlake.toml``).

    Parameters
    ----------
    url : str, optional
        ``duckdb:///path.db`` or ``postgresql://…``; default: the configured warehouse
        (``$WATTLAKE_HOME/warehouse.duckdb``).
    read_only : bool
        Open a DuckDB file read-only.

    Returns
    -------
    Warehouse
        Query it with :meth:`Warehouse.sql` and :meth:`Warehouse.table`.
    """
    from wattlake.config import get_settings
    from wattlake.engines import connect

    s = get_settings()
    engine = connect(
        url or s.warehouse_url, read_only=read_only, duckdb_memory_limit=s.duckdb_memory_limit
    )
    return Warehouse(engine)
