"""Hosting capacity and DER files of New York utilities (a folder of CSV files) as Arrow.

Conventions
-----------
* Units are in the column names: hosting capacity ``*_mw`` (MW), voltage ``voltage_kv`` (kV),
  DER nameplate ``nameplate_kw`` (kW), cost ``*_usd``.
* Ids are namespaced ``<utility>:<the utility's own id>`` (``feeder_uid``, ``der_uid``), so
  several utilities can share one table. Dates (refresh, queue, planned install) are calendar
  dates as published, with no time of day.
* The file name picks the utility and data set (``utility2_circuits.csv``…; the layouts are the
  TOML files of :mod:`wattlake.sources.hosting_capacity.formats`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from wattlake import _facade

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["TABLES", "read_folder"]

#: What :func:`read_folder` can return: one feeder per row, feeder sections, DER projects.
TABLES = ("feeders", "feeder_sections", "ders")


def read_folder(
    path: str | os.PathLike[str], table: str = "feeders", *, strict: bool = False
) -> pa.Table:
    """Read every hosting-capacity file under ``path`` (recursively) into one table.

    Parameters
    ----------
    path : str or path-like
        A folder such as the landing folder (``<utility>/<utility>_circuits.csv``, …).
    table : {"feeders", "feeder_sections", "ders"}
        Which table to return.
    strict : bool
        Raise on a row that cannot be read (else it is left out with a warning). Files whose
        name matches no known layout are skipped with a warning either way.

    Returns
    -------
    pyarrow.Table
        The rows of ``table`` from every file, ``_source_file`` = the path relative to
        ``path``. Rows repeated across files are all kept (the warehouse keeps the last).
    """
    import pyarrow as pa

    from wattlake.errors import InputError
    from wattlake.sources.hosting_capacity.parse import parser_for
    from wattlake.sources.hosting_capacity.schema import TABLES as SPECS

    if table not in TABLES:
        raise ValueError(f"table must be one of {', '.join(TABLES)}, got {table!r}")
    root = Path(path)
    if not root.is_dir():
        raise InputError(f"{root} is not a folder", hint="pass the folder that holds the CSV files")
    parts: list[pa.Table] = []
    for file in sorted(p for p in root.rglob("*") if p.suffix.lower() == ".csv"):
        key = file.relative_to(root).as_posix()
        try:
            parser = parser_for(file.name)
        except InputError as exc:
            warnings.warn(
                f"skipped {key}: {exc.message}", _facade.RejectedRowsWarning, stacklevel=2
            )
            continue
        tables, _ = _facade.parse_path(parser, file, key=key, strict=strict)
        if table in tables:
            parts.append(tables[table])
    if not parts:
        return SPECS[table].arrow_schema.empty_table()
    return _facade.utc(pa.concat_tables(parts))
