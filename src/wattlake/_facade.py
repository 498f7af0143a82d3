"""Shared plumbing of the public library modules (``wattlake.caiso``, ``wattlake.meters``, …):
run a source's parser over a file, normalise time zones, name columns with their units.

Nothing here knows a source's format; the parsers and clients live in ``wattlake.sources``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from wattlake.config import Settings
    from wattlake.parsing import FileReport, Parser


class RejectedRowsWarning(UserWarning):
    """Some rows of a file could not be read; the table holds the others."""


def parse_path(
    parser: Parser, path: str | os.PathLike[str], *, key: str | None = None, strict: bool = False
) -> tuple[dict[str, pa.Table], FileReport]:
    """Run ``parser`` over the file at ``path``: its tables by name and its report.

    Rejected rows raise :class:`~wattlake.errors.InputError` when ``strict``, else they are
    reported in a :class:`RejectedRowsWarning` (count and the first reasons).
    """
    from wattlake.errors import InputError
    from wattlake.parsing import FileReport

    p = Path(path)
    report = FileReport(key or p.name)
    parts: dict[str, list[pa.Table]] = {}
    with p.open("rb") as stream:
        for name, batch in parser(stream, report):
            parts.setdefault(name, []).append(batch)
    tables = {name: pa.concat_tables(batches) for name, batches in parts.items()}
    if report.rejects:
        first = "; ".join(f"line {r.line}: {r.rule}" for r in report.rejects[:3])
        message = f"{report.source_file}: {report.rows_rejected} rows rejected ({first})"
        if strict:
            raise InputError(message, hint="pass strict=False to keep the rows that parse")
        warnings.warn(message, RejectedRowsWarning, stacklevel=3)
    return tables, report


def utc(table: pa.Table) -> pa.Table:
    """Every time zone-aware timestamp column in zone ``UTC`` (same instants)."""
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type) and f.type.tz is not None and f.type.tz != "UTC":
            table = table.set_column(
                i, f.name, table.column(i).cast(pa.timestamp(f.type.unit, "UTC"))
            )
    return table


def renamed(table: pa.Table, names: Mapping[str, str]) -> pa.Table:
    """``table`` with columns renamed by ``names`` (others unchanged)."""
    return table.rename_columns([names.get(n, n) for n in table.column_names])


def as_date(value: date | datetime | str) -> date:
    """A calendar date from a ``date``, a ``datetime`` (its date) or ``YYYY-MM-DD`` text."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value)


def as_utc(value: datetime | date | str) -> datetime:
    """An aware UTC datetime; naive values and bare dates are taken as UTC."""
    from datetime import UTC, time

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: Environment variables that say "this process has a wattlake home / lake".
CONFIG_VARS = ("WATTLAKE_HOME", "WATTLAKE_LAKE_URL", "WATTLAKE_WAREHOUSE")


def configured_settings(keep: bool | None) -> Settings | None:
    """The settings when raw answers should be kept: ``keep=True`` always, ``False`` never,
    ``None`` when a lake is configured (a ``WATTLAKE_HOME``/``_LAKE_URL``/``_WAREHOUSE``
    variable or a ``wattlake.toml`` in the working folder)."""
    if keep is False:
        return None
    if keep is None and not (
        any(os.environ.get(v) for v in CONFIG_VARS) or Path("wattlake.toml").is_file()
    ):
        return None
    from wattlake.config import get_settings

    return get_settings()


def columns(table: pa.Table, names: Iterable[str]) -> pa.Table:
    return table.select(list(names))
