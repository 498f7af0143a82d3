"""Helpers for the hosting-capacity tests: parse bytes/text/paths, load into DuckDB."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from wattlake.parsing import FileReport
from wattlake.sources.hosting_capacity import (
    TABLES,
    FileFormat,
    parse_hosting_capacity,
    parser_for,
)
from wattlake.sources.hosting_capacity.formats import load_formats

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "samples" / "hosting_capacity"
SEED = SAMPLES / "esource_case_study"
FIXTURES = SAMPLES / "fixtures"
SUMMARY_SQL = (
    Path(__file__).resolve().parents[2] / "src" / "wattlake" / "models" / "feeder_summary.sql"
)


@dataclass
class Parsed:
    """What one parse produced: the report (rows_loaded filled in) and tables by name."""

    report: FileReport
    tables: dict[str, pa.Table]

    def rows(self, table: str) -> list[dict[str, object]]:
        return self.tables[table].to_pylist() if table in self.tables else []

    @property
    def rules(self) -> Counter[str]:
        return Counter(r.rule for r in self.report.rejects)


def parse_bytes(name: str, data: bytes, fmt: FileFormat | None = None) -> Parsed:
    """Parse ``data`` as a file called ``name`` (format by name unless ``fmt`` is given)."""
    report = FileReport(name)
    stream = io.BytesIO(data)
    if fmt is None:
        batches = list(parser_for(name)(stream, report))
    else:
        batches = list(parse_hosting_capacity(stream, report, fmt))
    tables: dict[str, pa.Table] = {}
    for table_name, batch in batches:
        assert table_name in TABLES
        assert batch.schema == TABLES[table_name].arrow_schema
        tables[table_name] = (
            pa.concat_tables([tables[table_name], batch]) if table_name in tables else batch
        )
    report.rows_loaded = sum(t.num_rows for t in tables.values())
    assert report.balanced, (report.rows_read, report.rows_loaded, report.rows_rejected)
    return Parsed(report, tables)


def parse_text(name: str, text: str, fmt: FileFormat | None = None) -> Parsed:
    """Parse CSV text (written with CRLF line ends, like the real files)."""
    return parse_bytes(name, text.replace("\n", "\r\n").encode("utf-8"), fmt)


def parse_path(path: Path) -> Parsed:
    return parse_bytes(path.name, path.read_bytes())


def fmt_named(name: str) -> FileFormat:
    return next(f for f in load_formats() if f.name == name)


def to_duckdb(parsed: Iterable[Parsed]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the silver tables (empty where nothing was parsed)."""
    parsed = list(parsed)
    con = duckdb.connect()
    for name, spec in TABLES.items():
        batches = [p.tables[name] for p in parsed if name in p.tables]
        table = pa.concat_tables(batches) if batches else spec.arrow_schema.empty_table()
        con.register(f"{name}_arrow", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_arrow")
    return con
