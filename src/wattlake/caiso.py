"""CAISO locational marginal prices (LMP) as Arrow tables.

Conventions of every table returned here
-----------------------------------------
* One row per (market, node, interval). ``interval_start_utc`` / ``interval_end_utc`` bound a
  half-open interval ``[start, end)``, time zone-aware, in UTC: an hour in the day-ahead market
  (DAM), 5 minutes in RTM, 15 minutes in RTPD and HASP.
* ``opr_date`` is the Pacific operating date, ``opr_hour`` the hour-ending label in Pacific
  prevailing time (23 labels on the spring-forward day; the repeated fall-back hour is 25).
* Prices in US dollars per megawatt-hour, named so: ``lmp_usd_per_mwh`` =
  ``energy_usd_per_mwh + congestion_usd_per_mwh + loss_usd_per_mwh (+ ghg_usd_per_mwh)``.

The work is done by :mod:`wattlake.sources.caiso` (client, parser) and its pipeline.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

from wattlake import _facade
from wattlake.sources.caiso.client import DEFAULT_REAL_OASIS_URL

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["OASIS_URL", "PRICE_COLUMNS", "get_lmp", "read_oasis_zip"]

#: The public OASIS API (``get_lmp``'s default ``base_url``).
OASIS_URL = DEFAULT_REAL_OASIS_URL
#: Price columns of the silver table → their names here (US$/MWh).
PRICE_COLUMNS = {
    "lmp": "lmp_usd_per_mwh",
    "energy": "energy_usd_per_mwh",
    "congestion": "congestion_usd_per_mwh",
    "loss": "loss_usd_per_mwh",
    "ghg": "ghg_usd_per_mwh",
}
_ORDER = [("market", "ascending"), ("node", "ascending"), ("interval_start_utc", "ascending")]


def _shape(table: pa.Table) -> pa.Table:
    import pyarrow as pa

    from wattlake.sources.caiso.schema import LMP

    cols = [c.name for c in LMP.columns if c.name != "_source_file"]
    out = _facade.utc(table.select(cols).sort_by(_ORDER))
    # the same schema whether the rows come from the parser or from the warehouse
    out = out.cast(pa.schema([f.with_nullable(True) for f in out.schema]))
    return _facade.renamed(out, PRICE_COLUMNS)


def get_lmp(
    start: date | datetime | str,
    end: date | datetime | str,
    market: str = "DAM",
    nodes: Sequence[str] | None = None,
    *,
    all_nodes: bool = False,
    base_url: str | None = None,
    min_interval_s: float = 5.0,
    keep: bool | None = None,
) -> pa.Table:
    """Fetch LMPs for the Pacific operating days ``[start, end)`` from OASIS.

    Parameters
    ----------
    start, end : date, datetime or str
        First operating date (inclusive) and the day after the last (exclusive), as
        ``YYYY-MM-DD`` or date objects (a datetime's date is used).
    market : {"DAM", "RTM", "RTPD", "HASP"}
        Market run: day-ahead (hourly), real-time (5-minute), 15-minute pre-dispatch, hour-ahead.
    nodes : sequence of str, optional
        Pricing nodes, e.g. ``["TH_NP15_GEN-APND"]``; default the three trading hubs.
    all_nodes : bool
        Every node instead (one request per day, or per hour in real-time markets).
    base_url : str, optional
        OASIS API root; default ``WATTLAKE_OASIS_URL`` if set, else the public OASIS
        (:data:`OASIS_URL`).
    min_interval_s : float
        Least seconds between two requests to the host (OASIS throttles; keep 5 for the
        public site).
    keep : bool, optional
        Keep the raw answers: ``True`` stores them in the lake (and loads them into the
        warehouse, so a second call is not fetched again); ``False`` never; ``None`` (default)
        keeps them when a lake is configured (``WATTLAKE_HOME``, ``WATTLAKE_LAKE_URL`` or
        ``WATTLAKE_WAREHOUSE`` set, or ``wattlake.toml`` here). No warehouse is needed otherwise.

    Returns
    -------
    pyarrow.Table
        ``market, node, interval_start_utc, interval_end_utc`` (UTC, ``[start, end)``),
        ``opr_date, opr_hour, opr_interval`` and the prices ``lmp_usd_per_mwh``,
        ``energy_usd_per_mwh``, ``congestion_usd_per_mwh``, ``loss_usd_per_mwh``,
        ``ghg_usd_per_mwh`` ($/MWh), sorted by market, node and interval start.
        Rows OASIS sent that cannot be read are dropped with a logged warning.
    """
    from wattlake.sources.caiso.client import OasisClient
    from wattlake.sources.caiso.schema import TRADING_HUBS, market_query

    lo, hi = _facade.as_date(start), _facade.as_date(end)
    base_url = base_url or os.environ.get("WATTLAKE_OASIS_URL") or OASIS_URL
    settings = _facade.configured_settings(keep)
    if settings is None:
        with OasisClient(base_url, min_interval_s=min_interval_s) as client:
            return _shape(client.get_lmp(lo, hi, market, nodes, all_nodes=all_nodes))
    from wattlake.pipeline import Runner
    from wattlake.sources.caiso.pipeline import backfill

    runner = Runner.open(settings)
    try:
        backfill(
            runner, lo, hi, market, nodes, all_nodes=all_nodes, base_url=base_url,
            min_interval_s=min_interval_s,
        )  # fmt: skip
        where = "market = $m AND opr_date >= $lo AND opr_date < $hi"
        params: dict[str, object] = {"m": market_query(market).market.value, "lo": lo, "hi": hi}
        if not all_nodes:
            names = sorted(set(TRADING_HUBS if nodes is None else nodes))
            where += " AND node IN (" + ", ".join(f"$n{i}" for i in range(len(names))) + ")"
            params.update({f"n{i}": n for i, n in enumerate(names)})
        return _shape(runner.engine.query(f"SELECT * FROM lmp WHERE {where}", params))
    finally:
        runner.close()


def read_oasis_zip(path: str | os.PathLike[str], *, strict: bool = False) -> pa.Table:
    """Read an OASIS LMP answer saved on disk (``SingleZip`` zip, its CSV, or an error XML).

    Parameters
    ----------
    path : str or path-like
        The file.
    strict : bool
        Raise :class:`~wattlake.errors.InputError` when a row cannot be read, instead of
        leaving it out with a :class:`~wattlake._facade.RejectedRowsWarning`.

    Returns
    -------
    pyarrow.Table
        The columns of :func:`get_lmp` (UTC ``[start, end)`` intervals, prices in $/MWh).
        An OASIS "no data" answer gives an empty table.
    """
    from wattlake.sources.caiso.parse import parse_oasis_zip
    from wattlake.sources.caiso.schema import LMP

    tables, _ = _facade.parse_path(parse_oasis_zip, path, strict=strict)
    return _shape(tables.get("lmp", LMP.arrow_schema.empty_table()))
