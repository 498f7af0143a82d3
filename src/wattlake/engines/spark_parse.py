"""Parsing distributed over bronze files: the sources' pure ``parse_*`` functions on Spark
executors.

One row per artifact goes to the executors (``mapInArrow``); each executor opens the artifact
in the lake (fsspec), runs the source's parser on it (bytes in, Arrow out) and writes every
batch as a Parquet file under ``<lake>/tables/_staging/parse-<id>/``; only a small summary per
artifact (rows read, rejects, files written, error) comes back to the driver. The Runner then
loads each artifact as usual, with a parser that replays the staged batches
(:func:`replay`), so the run log, rejects and manifest are exactly those of a serial load.

Executors need wattlake installed (the same version) and access to the lake URL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from wattlake.errors import WattlakeError
from wattlake.parsing import FileReport, Parser, Reject

SUMMARY = "i long, rows_read long, rejects string, tables string, error string"
SUMMARY_ARROW = pa.schema(
    [
        ("i", pa.int64()),
        ("rows_read", pa.int64()),
        ("rejects", pa.string()),
        ("tables", pa.string()),
        ("error", pa.string()),
    ]
)


def _parse_on_executor(
    parser_for: Callable[[str], Parser], bronze_url: str, out_url: str
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import fsspec

        bfs, broot = fsspec.core.url_to_fs(bronze_url)
        ofs, oroot = fsspec.core.url_to_fs(out_url)
        for batch in batches:
            for row in batch.to_pylist():
                report = FileReport(row["key"])
                written: dict[str, list[str]] = {}
                error = None
                try:
                    parser = parser_for(row["name"])
                    with bfs.open(f"{broot.rstrip('/')}/{row['path']}", "rb") as stream:
                        for k, (table, part) in enumerate(parser(stream, report)):
                            path = f"{oroot}/{row['i']}/{table}/{k:06d}.parquet"
                            ofs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
                            with ofs.open(path, "wb") as f:
                                pq.write_table(part, f)
                            written.setdefault(table, []).append(path)
                except Exception as exc:  # recorded as the artifact's failed step
                    error = f"{type(exc).__name__}: {exc}"
                rejects = [[r.line, r.field, r.rule, r.raw] for r in report.rejects]
                summary = {
                    "i": row["i"],
                    "rows_read": report.rows_read,
                    "rejects": json.dumps(rejects),
                    "tables": json.dumps(written),
                    "error": error,
                }
                yield pa.RecordBatch.from_pylist([summary], schema=SUMMARY_ARROW)

    return run


def replay(summary: dict[str, Any], fs: Any) -> Parser:
    """A parser that hands back what an executor parsed (and deletes the staged files)."""

    def parse(stream: BinaryIO, report: FileReport) -> Iterator[tuple[str, pa.Table]]:
        if summary["error"]:
            raise WattlakeError(summary["error"])
        report.rows_read = int(summary["rows_read"])
        for line, field, rule, raw in json.loads(summary["rejects"]):
            report.rejects.append(Reject(report.source_file, line, field, rule, raw))
        tables: dict[str, list[str]] = json.loads(summary["tables"])
        # the parser's own batch order: file names are its batch numbers
        order = sorted(
            ((p, t) for t, paths in tables.items() for p in paths),
            key=lambda pt: pt[0].rsplit("/", 1)[-1],
        )
        for path, table in order:
            with fs.open(path, "rb") as f:
                yield table, pq.read_table(f)
        for path, _table in order:
            fs.rm(path)

    return parse


def parse_many(
    engine: Any, parser_for: Callable[[str], Parser], lake: Any, artifacts: list[Any]
) -> dict[tuple[str, str], Parser]:
    """Parse ``artifacts`` (bronze :class:`~wattlake.lake.Artifact`) on the executors, several
    at once; returns a replaying parser per (key, sha256)."""
    if not artifacts:
        return {}
    spark = engine.spark
    out = engine.store.path("_staging", f"parse-{uuid.uuid4().hex}")
    out_url = engine.store.fs.unstrip_protocol(out)
    rows = pa.table(
        {
            "i": pa.array(range(len(artifacts)), pa.int64()),
            "path": [a.path for a in artifacts],
            "name": [a.name for a in artifacts],
            "key": [a.key for a in artifacts],
        }
    )
    slots = max(1, min(len(artifacts), 2 * spark.sparkContext.defaultParallelism))
    frame = spark.createDataFrame(rows).repartition(slots)
    fn = _parse_on_executor(parser_for, lake.url, out_url)
    try:
        got = frame.mapInArrow(fn, SUMMARY).toArrow().to_pylist()
    except Exception as exc:
        raise WattlakeError(f"distributed parse failed: {str(exc).splitlines()[0][:300]}") from exc
    by_i = {int(r["i"]): r for r in got}
    return {
        (a.key, a.sha256): replay(by_i[i], engine.store.fs)
        for i, a in enumerate(artifacts)
        if i in by_i
    }
