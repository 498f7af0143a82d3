"""Pipeline specs and the runner that takes artifacts through bronze → silver → gold.

A source declares a :class:`PipelineSpec` (its silver tables, gold models and how to pick a
parser for an artifact). The :class:`Runner` does the rest the same way for every source:

* ``ingest_files`` copies local files into bronze, then loads them;
* ``store``/``load_artifact`` are the pieces fetch-based sources (OASIS, Green Button) call
  for each response they get;
* ``build_gold`` rebuilds the gold models.

Each artifact loads in one transaction (silver rows, its rejects and its manifest mark): a
failure leaves the warehouse as it was. An artifact whose sha256 is already loaded is skipped
unless ``force``.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import pyarrow as pa

from wattlake.config import Settings, get_settings
from wattlake.engines import Engine, connect
from wattlake.errors import InputError, WattlakeError
from wattlake.lake import Artifact, Lake, Manifest
from wattlake.parsing import FileReport, Parser
from wattlake.runs import Run, RunLog
from wattlake.tables import TableSpec

T = TypeVar("T")
Progress = Callable[[str, int, int], None]  # (what, done, total)
UPSERT_ROWS = 1_000_000  # parser batches are gathered up to this many rows per upsert


@dataclass(frozen=True)
class PipelineSpec:
    """What a source contributes: tables, models, and a parser for each artifact."""

    name: str  # CLI / run-log name, e.g. "meter-files"
    source: str  # bronze folder and manifest source, e.g. "meter_files"
    tables: tuple[TableSpec, ...]
    models: tuple[str, ...]  # gold model names, built in this order
    parser_for: Callable[[str], Parser]  # artifact name -> parser (raise InputError if none)
    file_patterns: tuple[str, ...] = ("*",)  # which files in a folder belong to this source
    replace_by_file: bool = False  # delete a file's earlier rows (by _source_file) before loading

    def table(self, name: str) -> TableSpec:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"{self.name}: parser produced unknown table {name!r}")


class Runner:
    """Engine + lake + manifest + run log: everything a pipeline run needs."""

    def __init__(self, engine: Engine, lake: Lake, settings: Settings | None = None) -> None:
        self.engine = engine
        self.lake = lake
        self.settings = settings or get_settings()
        self.manifest = Manifest(engine)
        self.runs = RunLog(engine)

    @classmethod
    def open(cls, settings: Settings | None = None) -> Runner:
        s = settings or get_settings()
        return cls(connect(s.warehouse_url), Lake(s.lake_root), s)

    def setup(self, spec: PipelineSpec) -> None:
        for table in spec.tables:
            self.engine.ensure(table)

    # -- files ---------------------------------------------------------------------------
    def ingest_files(
        self,
        spec: PipelineSpec,
        paths: Iterable[str | os.PathLike[str]],
        *,
        force: bool = False,
        progress: Progress | None = None,
    ) -> tuple[Run, list[FileReport]]:
        """Store each file in bronze and load it; then rebuild gold if anything changed."""
        files = list(expand_paths(paths, spec.file_patterns))
        self.setup(spec)
        run = self.runs.start(spec.name, {"files": [str(f) for f in files], "force": force})
        reports: list[FileReport] = []
        try:
            for i, path in enumerate(files):
                with run.step("bronze", path.name, reraise=False), path.open("rb") as fh:
                    artifact = self.store(spec, run, path.name, fh)
                if run.steps[-1].status == "ok":
                    reports.append(self.load_artifact(spec, run, artifact, force=force))
                if progress:
                    progress(path.name, i + 1, len(files))
            if any(r.rows_loaded for r in reports) or force:
                self.build_gold(spec, run)
        except BaseException as exc:
            run.finish(exc)
            raise
        run.finish()
        return run, reports

    # -- the shared steps ----------------------------------------------------------------
    def store(
        self,
        spec: PipelineSpec,
        run: Run,
        key: str,
        stream: BinaryIO,
        params: Mapping[str, Any] | None = None,
    ) -> Artifact:
        artifact = self.lake.put(
            spec.source, key, stream, run_id=run.run_id, params=params,
            max_bytes=self.settings.max_file_bytes,
        )  # fmt: skip
        self.manifest.record(artifact)
        return artifact

    def load_artifact(
        self, spec: PipelineSpec, run: Run, artifact: Artifact, *, force: bool = False
    ) -> FileReport:
        """Parse ``artifact`` into silver in one transaction (skipped if already loaded)."""
        report = FileReport(artifact.key)
        if not force and self.manifest.is_loaded(spec.source, artifact.sha256):
            report.skipped = True
            report.note = "already loaded (same sha256); use --force to reload"
            return report
        with run.step("silver", artifact.key, reraise=False) as step:
            parser = spec.parser_for(artifact.name)
            with self.engine.transaction() as tx:
                if spec.replace_by_file:
                    for table in spec.tables:
                        tx.execute(
                            f'DELETE FROM "{table.name}" WHERE _source_file = $f',
                            {"f": artifact.key},
                        )
                with self.lake.open(artifact) as stream:
                    batches = prefetch(coalesce(parser(stream, report), UPSERT_ROWS))
                    for table_name, batch in batches:
                        report.rows_loaded += tx.upsert(spec.table(table_name), batch)
                if not report.balanced:
                    raise WattlakeError(
                        f"{artifact.key}: {report.rows_read} rows read but "
                        f"{report.rows_loaded} loaded + {report.rows_rejected} rejected",
                        hint="this is a bug in the parser; please report it with the file",
                    )
                self.runs.write_rejects(tx, run.run_id, report.rejects)
                self.manifest.mark_loaded(tx, artifact)
            step.rows_read = report.rows_read
            step.rows_loaded = report.rows_loaded
            step.rows_rejected = report.rows_rejected
        if run.steps[-1].status == "failed":
            report.note = run.steps[-1].error
            report.rows_loaded = 0
        return report

    def build_gold(self, spec: PipelineSpec, run: Run) -> None:
        for model in spec.models:
            with run.step("gold", model) as step:
                step.rows_loaded = self.engine.build(model)

    def close(self) -> None:
        self.engine.close()


def expand_paths(
    paths: Iterable[str | os.PathLike[str]], patterns: tuple[str, ...] = ("*",)
) -> Iterator[Path]:
    """Files named directly, plus the files in named folders matching ``patterns`` (sorted)."""
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted({f for pat in patterns for f in p.rglob(pat) if f.is_file()})
            yield from found
        elif p.is_file():
            yield p
        else:
            raise InputError(f"{p} does not exist", hint="check the path; folders are searched")


def coalesce(batches: Iterable[tuple[str, pa.Table]], rows: int) -> Iterator[tuple[str, pa.Table]]:
    """Gather consecutive batches of one table up to ``rows`` rows: fewer, larger upserts
    (each upsert has a fixed cost), while memory stays bounded by ``rows``."""
    pending: list[pa.Table] = []
    name: str | None = None
    size = 0
    for table_name, batch in batches:
        if pending and (table_name != name or size + batch.num_rows > rows):
            yield name or table_name, pa.concat_tables(pending)
            pending, size = [], 0
        name = table_name
        pending.append(batch)
        size += batch.num_rows
    if pending and name is not None:
        yield name, pa.concat_tables(pending)


def prefetch(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Run ``items`` in a background thread, ``depth`` ahead: parsing the next batch overlaps
    loading this one (pyarrow and the engines release the GIL). Errors re-raise here."""
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("done", None))
        except BaseException as exc:
            q.put(("error", exc))

    worker = threading.Thread(target=produce, name="wattlake-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while worker.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)
