"""Declared table schemas: the one description every engine creates tables from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from wattlake.lazy_pandas import defer_pandas

defer_pandas()  # every path that builds Arrow tables comes through here first

UTC_TS = pa.timestamp("us", tz="UTC")
LOCAL_TS = pa.timestamp("us")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: pa.DataType
    doc: str = ""
    nullable: bool = True


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A silver (or system) table: columns, primary key, and what it holds.

    ``primary_key`` columns are NOT NULL; upserts on this key are idempotent.
    ``partition_by`` names a DATE column that is a function of the key (a key's row always
    falls on the same day), or a UTC timestamp key column (its UTC day is used): engines that
    store tables as files (Spark) partition by that day, so an upsert rewrites only the days its
    batch touches. None: the table is one partition.
    ``indexes``: column lists readers look rows up by (the API's ``/v1/feeders/{uid}/ders``):
    PostgreSQL creates an index for each; DuckDB relies on its zone maps (an ART index would
    slow every load).
    """

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    doc: str = ""
    partition_by: str | None = None
    indexes: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        missing = [k for k in self.primary_key if k not in names]
        missing += [c for cols in self.indexes for c in cols if c not in names]
        if missing:
            raise ValueError(f"{self.name}: key or index columns {missing} are not columns")
        if self.partition_by is not None and self.partition_by not in names:
            raise ValueError(f"{self.name}: partition column {self.partition_by} is not a column")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema(
            [
                pa.field(c.name, c.type, nullable=c.nullable and c.name not in self.primary_key)
                for c in self.columns
            ]
        )

    def from_rows(self, rows: list[dict[str, Any]]) -> pa.Table:
        """A table of this spec from Python rows (missing keys are null).

        Built column by column: ``pa.Table.from_pylist`` imports pandas (~1 s) on first use.
        """
        return pa.Table.from_arrays(
            [pa.array([r.get(c.name) for r in rows], c.type) for c in self.columns],
            schema=self.arrow_schema,
        )

    def conform(self, table: pa.Table) -> pa.Table:
        """Select and cast ``table``'s columns to this spec (missing nullable columns become null)."""
        arrays = []
        for col in self.columns:
            if col.name in table.column_names:
                arrays.append(table.column(col.name).cast(col.type))
            elif col.nullable and col.name not in self.primary_key:
                arrays.append(pa.nulls(table.num_rows, col.type))
            else:
                raise ValueError(f"{self.name}: batch has no column {col.name!r}")
        return pa.Table.from_arrays(arrays, schema=self.arrow_schema)


def sql_type(t: pa.DataType, dialect: str) -> str:
    """The SQL type for an Arrow type in ``dialect`` ("duckdb" or "postgres")."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "VARCHAR" if dialect == "duckdb" else "TEXT"
    if pa.types.is_float64(t) or pa.types.is_float32(t):
        return "DOUBLE" if dialect == "duckdb" else "DOUBLE PRECISION"
    if pa.types.is_int64(t):
        return "BIGINT"
    if pa.types.is_int32(t) or pa.types.is_int16(t) or pa.types.is_int8(t):
        return "INTEGER"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_date32(t):
        return "DATE"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    raise TypeError(f"no SQL type for Arrow type {t}")


def utcnow() -> datetime:
    """Now in UTC as a naive datetime: what Arrow's UTC timestamp columns take without
    converting (a tz-aware value makes pyarrow import pandas, ~1 s on first use)."""
    return datetime.now(UTC).replace(tzinfo=None)
