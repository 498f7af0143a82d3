"""Green Button (ESPI) downloads as Arrow tables.

Conventions
-----------
* ``interval_start_utc`` / ``interval_end_utc``: the reading's interval ``[start, end)``,
  time zone-aware UTC, unique per channel; ``local_start`` is the wall-clock label in the
  utility's zone (from the feed's LocalTimeParameters), repeated on the fall-back day.
* ``value`` = ``raw_value × 10^power_of_ten`` in the row's ``unit`` (``Wh``, ``therm``…): one
  feed can hold electricity and gas, so the unit is a column. ``flow_direction`` 1 is
  consumption (forward), 19 export (reverse), 4 net.
* ``cost`` is in currency units of ``currency`` (ISO 4217 numeric).

The parser is :func:`wattlake.sources.espi.parse.parse_espi` (no DTDs or entities, size-capped).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from wattlake import _facade

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["TABLES", "read_espi"]

#: What :func:`read_espi` can return.
TABLES = ("interval_reads", "usage_points", "reading_types", "meter_readings", "usage_summaries")


def read_espi(
    path: str | os.PathLike[str],
    table: str = "interval_reads",
    *,
    zone: str | None = None,
    custodian: str | None = None,
    strict: bool = False,
) -> pa.Table:
    """Read one Green Button XML file (an Atom feed or a single entry).

    Parameters
    ----------
    path : str or path-like
        The XML file as downloaded ("Download My Data") or fetched (Connect My Data).
    table : {"interval_reads", "usage_points", "reading_types", "meter_readings", "usage_summaries"}
        Which table to return; default the interval readings.
    zone : str, optional
        IANA zone for local labels when the feed has no LocalTimeParameters (default
        ``WATTLAKE_ESPI_TIMEZONE``, else UTC).
    custodian : str, optional
        Name of the data custodian (utility) for the key columns; default taken from the feed.
    strict : bool
        Raise :class:`~wattlake.errors.InputError` on a reading that cannot be read, instead
        of leaving it out with a :class:`~wattlake._facade.RejectedRowsWarning`.

    Returns
    -------
    pyarrow.Table
        ``interval_reads``: one row per reading and channel: ``custodian, usage_point_id,
        reading_type_id, interval_start_utc, interval_end_utc`` (UTC, ``[start, end)``),
        ``duration_s`` (seconds), ``local_start``, ``flow_direction``, ``value`` in ``unit``,
        ``cost``, quality flags. Other tables: the feed's resources of that kind.
    """
    from wattlake.sources.espi.pipeline import parser
    from wattlake.sources.espi.schema import TABLES as SPECS

    if table not in TABLES:
        raise ValueError(f"table must be one of {', '.join(TABLES)}, got {table!r}")
    tables, _ = _facade.parse_path(parser(zone=zone, custodian=custodian), path, strict=strict)
    if table in tables:
        return _facade.utc(tables[table])
    spec = next(s for s in SPECS if s.name == table)
    return spec.arrow_schema.empty_table()
