"""Meter export files (load profile LP, time of use TOU) as Arrow tables.

Conventions
-----------
* A load-profile reading is the energy of the interval that *ends* at its time stamp, as the
  exporting system writes it; ``reading_local`` is that stamp as written (no zone) and
  ``reading_utc`` the same instant, time zone-aware UTC, using ``timezone`` (default
  ``WATTLAKE_METER_TIMEZONE``, UTC+10 with no DST: Australian NEM time).
* ``value`` is in the row's ``units`` (``kwh``, ``kvarh``, ``V``…): a file mixes data types,
  so the unit is a column rather than part of the name.

The parser is :func:`wattlake.sources.meter_files.parse.parse_meter_file`.
"""

from __future__ import annotations

import os
from functools import partial
from typing import TYPE_CHECKING

from wattlake import _facade

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["read_meter_file"]


def read_meter_file(
    path: str | os.PathLike[str], *, timezone: str | None = None, strict: bool = False
) -> pa.Table:
    """Read one meter export file (LP, TOU layout A or B; the layout is read from the header).

    Parameters
    ----------
    path : str or path-like
        The CSV file.
    timezone : str, optional
        IANA zone of the file's local times; default ``WATTLAKE_METER_TIMEZONE``
        (``Etc/GMT-10``, i.e. UTC+10 all year).
    strict : bool
        Raise :class:`~wattlake.errors.InputError` on a row that cannot be read, instead of
        leaving it out with a :class:`~wattlake._facade.RejectedRowsWarning`.

    Returns
    -------
    pyarrow.Table
        LP files: the ``meter_reads`` columns (``meter_code, serial, plant_code,
        reading_local, reading_utc`` (UTC), ``local_date, data_type, value, units, …``).
        TOU files: the ``meter_registers`` columns (``read_utc`` in UTC, ``energy`` and
        ``max_demand`` in the row's ``units``). ``_source_file`` is the file's name.
    """
    from wattlake.config import get_settings
    from wattlake.sources.meter_files.parse import parse_meter_file
    from wattlake.sources.meter_files.schema import METER_READS

    tz = timezone or get_settings().meter_timezone
    tables, _ = _facade.parse_path(partial(parse_meter_file, timezone=tz), path, strict=strict)
    if not tables:
        return METER_READS.arrow_schema.empty_table()
    (table,) = tables.values()
    return _facade.utc(table)
