"""Wind SCADA 10-minute statistics as Arrow tables, fetched from the SCADA source API.

Conventions
-----------
* One row per turbine, signal and 10-minute bin: ``bucket_start_utc`` (time zone-aware UTC)
  starts the bin ``[start, start + 10 min)``; ``mean``, ``min``, ``max``, ``std`` (sample,
  ddof=1; null under two samples) and ``count`` (non-null 1-minute samples) summarise it.
* Values are in the signal's unit as the source sends it (the stand-in: ``wind_speed`` m/s,
  ``power`` kW, ``ambient_temperature`` °C): several signals share the table, so the unit
  goes with ``signal`` rather than into a column name.
* Days are calendar days of ``zone`` (the source's clock; default UTC), ``[start, end)``.

The work is done by :mod:`wattlake.sources.scada` (client, parser, pipeline, 10-minute model).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from wattlake import _facade

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["get_10min"]


def get_10min(
    start: date | datetime | str,
    end: date | datetime | str,
    *,
    turbines: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    base_url: str | None = None,
    zone: str | None = None,
    keep: bool | None = None,
) -> pa.Table:
    """Fetch 1-minute SCADA data for the days ``[start, end)`` and return 10-minute statistics.

    Parameters
    ----------
    start, end : date, datetime or str
        First day (inclusive) and the day after the last (exclusive), ``YYYY-MM-DD`` or dates.
    turbines : sequence of str, optional
        Turbine ids, e.g. ``["WTG02"]``; default the source's default turbine (``"default"``).
    columns : sequence of str, optional
        Source columns (signals); default ``wind_speed`` and ``power``.
    base_url : str, optional
        Root of the SCADA source API; default ``WATTLAKE_SCADA_SOURCE_URL``.
    zone : str, optional
        IANA zone of the source's clock (its timestamps carry none); default
        ``WATTLAKE_SCADA_TIMEZONE`` (UTC).
    keep : bool, optional
        ``True`` keeps the raw answers in the configured lake and the statistics in its
        warehouse (a second call reads them back); ``False`` works in memory and a temporary
        folder; ``None`` (default) keeps them when a lake is configured (``WATTLAKE_HOME``,
        ``WATTLAKE_LAKE_URL`` or ``WATTLAKE_WAREHOUSE`` set, or ``wattlake.toml`` here).

    Returns
    -------
    pyarrow.Table
        ``turbine, signal, bucket_start_utc`` (UTC, bins ``[start, start + 10 min)``),
        ``mean, min, max, std`` (the signal's unit) and ``count`` (samples), ordered by
        turbine, signal and time.
    """
    from wattlake.config import Settings, get_settings
    from wattlake.engines import connect
    from wattlake.errors import FetchError
    from wattlake.lake import Lake
    from wattlake.pipeline import Runner
    from wattlake.sources.scada.client import day_window
    from wattlake.sources.scada.pipeline import days_between, plan, read_gold, run_days

    lo_day, hi_day = _facade.as_date(start), _facade.as_date(end)
    days = days_between(lo_day, hi_day - timedelta(days=1))
    settings = _facade.configured_settings(keep)
    defaults = settings or get_settings()
    tz = zone or defaults.scada_timezone
    requests = plan(days, columns, turbines, tz)
    with tempfile.TemporaryDirectory(prefix="wattlake-scada-") as tmp:
        if settings is None:
            runner = Runner(connect("duckdb:///:memory:"), Lake(tmp), Settings(home=tmp))
        else:
            runner = Runner.open(settings)
        try:
            result = run_days(runner, requests, base_url=base_url or defaults.scada_source_url)
            if result.failed:
                raise FetchError(
                    f"{result.failed} of {len(requests)} turbine-days could not be fetched",
                    hint="check base_url and that the source answers; call again to retry",
                )
            lo, hi = day_window(days[0], tz)[0], day_window(days[-1], tz)[1]
            names = sorted({r.turbine for r in requests})
            return _facade.utc(read_gold(runner.engine, names, lo, hi))
        finally:
            runner.close()
