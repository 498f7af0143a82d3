"""Parquet tables under the lake: the layout the Spark engine writes and DuckDB can read.

Layout under ``<lake>/tables/``::

    <name>/                       one folder per silver or gold table
      <col>=<YYYY-MM-DD>/part-*.parquet   partitioned tables (TableSpec.partition_by)
      part-*.parquet                      unpartitioned tables
    _meta/<name>.arrow            the table's Arrow schema (an empty Arrow IPC file) with
                                  its primary key and partition column in the metadata
    _staging/<id>/                a transaction's batches and rewritten partitions
    _staging/parse-<id>/          batches parsed on the executors, until they are loaded
    _trash/<id>/                  partitions swapped out, deleted right after the swap

Names starting with ``_`` or ``.`` are ignored by Spark's and DuckDB's readers. This module
needs no Spark: :func:`attach_duckdb_views` lets a DuckDB process (e.g. the API) serve what
Spark wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import fsspec
import pyarrow as pa

from wattlake.tables import sql_type

META_KEY = b"wattlake"
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
DAY_COLUMN = "wl_day"  # stored partition column of tables partitioned by a timestamp's day


@dataclass(frozen=True, slots=True)
class TableMeta:
    name: str
    schema: pa.Schema  # the table's columns in order (partition column included)
    primary_key: tuple[str, ...]
    partition_by: str | None  # the partition folder's column (a DATE)
    day_of: str | None = None  # partition_by is DAY_COLUMN, the UTC day of this timestamp

    @property
    def storage_schema(self) -> pa.Schema:
        """The columns as stored: with the derived day column when there is one."""
        if self.day_of is None:
            return self.schema
        return self.schema.append(pa.field(DAY_COLUMN, pa.date32()))


class TableStore:
    """The ``tables/`` folder of a lake: metadata, paths and folder moves, over fsspec."""

    def __init__(self, lake_url: str, **storage_options: Any) -> None:
        self.fs, root = fsspec.core.url_to_fs(lake_url, **storage_options)
        self.root = root.rstrip("/") + "/tables"
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        self.protocol = protocol
        self.fs.makedirs(f"{self.root}/_meta", exist_ok=True)

    # -- paths -------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def url(self, *parts: str) -> str:
        """A path under ``tables/`` as Spark/Hadoop (``s3a://``) want it."""
        return self.to_url(self.path(*parts))

    def to_url(self, p: str) -> str:
        """A path of this store's filesystem as Spark/Hadoop (``s3a://``) want it."""
        if self.protocol in ("file", "local"):
            return p
        if self.protocol in ("s3", "s3a"):
            return f"s3a://{p}"
        return f"{self.protocol}://{p}"

    # -- metadata ----------------------------------------------------------------------
    def write_meta(self, meta: TableMeta) -> None:
        info = {
            "primary_key": list(meta.primary_key),
            "partition_by": meta.partition_by,
            "day_of": meta.day_of,
        }
        schema = meta.schema.with_metadata({META_KEY: json.dumps(info).encode()})
        tmp = self.path("_meta", f".{meta.name}.arrow.tmp")
        with self.fs.open(tmp, "wb") as f, pa.ipc.new_file(f, schema) as w:
            w.write_table(schema.empty_table())
        self.fs.mv(tmp, self.path("_meta", f"{meta.name}.arrow"))

    def read_meta(self, name: str) -> TableMeta | None:
        path = self.path("_meta", f"{name}.arrow")
        try:
            with self.fs.open(path, "rb") as f:
                schema = pa.ipc.open_file(f).schema
        except FileNotFoundError:
            return None
        info = json.loads((schema.metadata or {}).get(META_KEY, b"{}"))
        return TableMeta(
            name,
            schema.remove_metadata(),
            tuple(info.get("primary_key") or ()),
            info.get("partition_by"),
            info.get("day_of"),
        )

    def names(self) -> list[str]:
        return sorted(
            p.rsplit("/", 1)[-1].removesuffix(".arrow")
            for p in self.fs.ls(self.path("_meta"), detail=False)
            if p.endswith(".arrow") and not p.rsplit("/", 1)[-1].startswith(".")
        )

    def has_data(self, name: str) -> bool:
        """Does the table's folder hold any Parquet file? (A partition folder exists only
        with files in it: rewrites never leave an empty one.)"""
        try:
            entries = self.fs.ls(self.path(name), detail=False)
        except FileNotFoundError:
            return False
        for entry in entries:
            base = entry.rstrip("/").rsplit("/", 1)[-1]
            if base.endswith(".parquet") or ("=" in base and not base.startswith((".", "_"))):
                return True
        return False


def partition_dir(column: str, value: Any) -> str:
    """The folder name Spark writes for a date partition value."""
    return f"{column}={HIVE_NULL if value is None else value.isoformat()}"


def duckdb_view_sql(store: TableStore, meta: TableMeta) -> str:
    """A SELECT over the table's Parquet files in DuckDB (typed empty result when none)."""
    cols = ", ".join(f'"{f.name}"' for f in meta.schema)
    if not store.has_data(meta.name):
        nulls = ", ".join(
            f'CAST(NULL AS {sql_type(f.type, "duckdb")}) AS "{f.name}"' for f in meta.schema
        )
        return f"SELECT {nulls} WHERE false"
    url = store.url(meta.name).replace("s3a://", "s3://")
    if meta.partition_by:
        return (
            f"SELECT {cols} FROM read_parquet('{url}/*/*.parquet', hive_partitioning = true, "
            f"hive_types = {{'{meta.partition_by}': DATE}})"
        )
    return f"SELECT {cols} FROM read_parquet('{url}/*.parquet')"


def attach_duckdb_views(con: Any, lake_url: str) -> list[str]:
    """Create DuckDB views over every Parquet table of the lake at ``lake_url``;
    returns their names. The views list the files at each query, so they see new writes."""
    store = TableStore(lake_url)
    names = []
    for name in store.names():
        meta = store.read_meta(name)
        if meta is None:
            continue
        con.execute(f'CREATE OR REPLACE VIEW "{name}" AS {duckdb_view_sql(store, meta)}')
        names.append(name)
    return names
