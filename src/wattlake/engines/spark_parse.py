"""Parsing distributed over bronze files: the sources' pure ``parse_*`` functions on Spark
executors.

One row per artifact goes to the executors (``mapInArrow``); each executor opens the artifact
in the lake (fsspec), runs the source's parser on it (bytes in, Arrow out) and writes every
batch as a Parquet file under ``<lake>/tables/_staging/parse-<id>/``; only a small summary per
artifact (rows read, rejects, files written, error) comes back to the driver. The Runner then
loads each artifact as usual, with a parser that replays the staged batches
(:func:`replay`), so the run log, rejects and manifest are exactly those of a serial load.

A replay removes its artifact's staged folder when it ends (consumed, stopped early or failed),
and the last one the ``parse-<id>`` folder. What is never replayed (a cancelled run, a skipped
file) is swept by a later :func:`parse_many`: ``parse-*`` folders untouched for a day.

Executors need wattlake installed (the same version) and access to the lake URL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from wattlake import errors
from wattlake.errors import WattlakeError
from wattlake.parsing import FileReport, Parser, Reject

SUMMARY = (
    "i long, rows_read long, rejects string, tables string, "
    "error_type string, error string, hint string"
)
SUMMARY_ARROW = pa.schema(
    [
        ("i", pa.int64()),
        ("rows_read", pa.int64()),
        ("rejects", pa.string()),
        ("tables", pa.string()),
        ("error_type", pa.string()),  # the parser's exception: class name, message, hint
        ("error", pa.string()),
        ("hint", pa.string()),
    ]
)
SWEEP_AGE_S = 86_400.0  # a parse-* folder untouched this long belongs to no live run


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
                error: Exception | None = None
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
                    error = exc
                rejects = [[r.line, r.field, r.rule, r.raw] for r in report.rejects]
                summary = {
                    "i": row["i"],
                    "rows_read": report.rows_read,
                    "rejects": json.dumps(rejects),
                    "tables": json.dumps(written),
                    **_described(error),
                }
                yield pa.RecordBatch.from_pylist([summary], schema=SUMMARY_ARROW)

    return run


def _described(error: Exception | None) -> dict[str, str | None]:
    """The summary's error fields: class name, message and hint (what rebuilds it)."""
    if error is None:
        return {"error_type": None, "error": None, "hint": None}
    if isinstance(error, WattlakeError):
        return {"error_type": type(error).__name__, "error": error.message, "hint": error.hint}
    return {"error_type": type(error).__name__, "error": str(error), "hint": None}


def parser_error(summary: dict[str, Any]) -> WattlakeError:
    """The error an executor's parser raised, as a serial parse would have raised it: the
    same class of :mod:`wattlake.errors`, message and hint; another class is named in the
    message of a :class:`WattlakeError`."""
    name, message, hint = summary["error_type"], summary["error"], summary["hint"]
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, WattlakeError):
        return cls(message, hint=hint)
    return WattlakeError(f"{name}: {message}", hint=hint)


class Staged:
    """The folder a :func:`parse_many` staged its batches in: each artifact's folder
    (``<root>/<i>``) is removed when its replay ends, the whole folder with the last one."""

    def __init__(self, fs: Any, root: str, pending: Iterable[int]) -> None:
        self.fs, self.root = fs, root
        self.pending = set(pending)
        self._lock = threading.Lock()  # replays run on the loads' prefetch threads

    def done(self, i: int) -> None:
        with self._lock:
            if i not in self.pending:
                return
            self.pending.discard(i)
            last = not self.pending
        _remove(self.fs, self.root if last else f"{self.root}/{i}")


def replay(summary: dict[str, Any], fs: Any, staged: Staged) -> Parser:
    """A parser that hands back what an executor parsed; its staged files are removed when
    it ends, however it ends."""

    def parse(stream: BinaryIO, report: FileReport) -> Iterator[tuple[str, pa.Table]]:
        try:
            if summary["error_type"]:
                raise parser_error(summary)
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
        finally:
            staged.done(int(summary["i"]))

    return parse


def sweep(fs: Any, staging: str, max_age_s: float = SWEEP_AGE_S) -> None:
    """Remove the ``parse-*`` folders under ``staging`` in which nothing changed for
    ``max_age_s`` (left by runs that never replayed them); a younger one may be in use."""
    fs.invalidate_cache(staging)
    try:
        folders = fs.ls(staging, detail=False)
    except OSError:  # none yet, or unreadable: nothing to sweep
        return
    cutoff = time.time() - max_age_s
    for path in folders:
        if not path.rstrip("/").rsplit("/", 1)[-1].startswith("parse-"):
            continue
        try:
            entries = fs.find(path, withdirs=True, detail=True).values()
        except OSError:
            continue
        newest = max((t for t in map(_modified, entries) if t is not None), default=None)
        if newest is not None and newest < cutoff:
            _remove(fs, path)


def _modified(info: dict[str, Any]) -> float | None:
    """When an fsspec entry last changed (local: ``mtime``; S3: ``LastModified``)."""
    t = info.get("mtime", info.get("LastModified"))
    if isinstance(t, dt.datetime):
        return t.timestamp()
    return float(t) if isinstance(t, int | float) else None


def _remove(fs: Any, path: str) -> None:
    """Remove ``path`` and everything under it; gone already or failing is fine (what is left
    is swept later), a cleanup never hides the error it follows."""
    with contextlib.suppress(OSError):
        fs.rm(path, recursive=True)


def parse_many(
    engine: Any, parser_for: Callable[[str], Parser], lake: Any, artifacts: list[Any]
) -> dict[tuple[str, str], Parser]:
    """Parse ``artifacts`` (bronze :class:`~wattlake.lake.Artifact`) on the executors, several
    at once; returns a replaying parser per (key, sha256)."""
    if not artifacts:
        return {}
    spark = engine.spark
    fs = engine.store.fs
    sweep(fs, engine.store.path("_staging"))
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
        _remove(fs, out)
        raise WattlakeError(f"distributed parse failed: {str(exc).splitlines()[0][:300]}") from exc
    by_i = {int(r["i"]): r for r in got}
    # one parser per (key, sha256): the same artifact twice is replayed once
    index = {(a.key, a.sha256): i for i, a in enumerate(artifacts) if i in by_i}
    if not index:
        _remove(fs, out)
    staged = Staged(fs, out, index.values())
    return {ident: replay(by_i[i], fs, staged) for ident, i in index.items()}
