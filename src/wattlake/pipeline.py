"""Pipeline specs and the runner that takes artifacts through bronze → silver → gold.

A source declares a :class:`PipelineSpec` (its silver tables, gold models and how to pick a
parser for an artifact). The :class:`Runner` does the rest the same way for every source:

* ``ingest_files`` copies local files into bronze, then loads them;
* ``sync_folder`` makes silver mirror a folder: only new or changed files (by sha256) load, and
  the rows of files gone from it are deleted (``replace_by_file`` sources);
* ``store``/``load_artifact`` are the pieces fetch-based sources (OASIS, Green Button) call
  for each response they get;
* ``build_gold`` rebuilds the gold models.

Each artifact loads in one transaction (silver rows, its rejects and its manifest mark): a
failure leaves the warehouse as it was. (An engine whose commits are expensive says
``group_commit = True``; several artifacts then share one transaction, each still its own step,
see :meth:`Runner.load_many`.) An artifact whose sha256 is already loaded is skipped
unless ``force``.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

import pyarrow as pa

from wattlake.background import prefetch
from wattlake.config import Settings, get_settings
from wattlake.engines import Engine, Tx, connect
from wattlake.errors import InputError, LakeError, WattlakeError
from wattlake.lake import Artifact, Lake, Manifest, sha256_file
from wattlake.parsing import FileReport, Parser, storable
from wattlake.runs import Run, RunCancelled, RunLog, Step
from wattlake.tables import TableSpec, utcnow

Progress = Callable[[str, int, int], None]  # (what, done, total)
UPSERT_ROWS = 250_000  # parser batches are gathered up to this many rows per upsert
STREAM_ROWS = 10_000  # ... and to at least this many per batch of a stream (upsert_stream)
GROUP_FILES = 32  # artifacts per transaction on engines that prefer group commits


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


@dataclass
class FolderSync:
    """What :meth:`Runner.sync_folder` did: a report per file in the folder (``skipped``: same
    content as the version in silver, only hashed) and a report per file gone from it."""

    run: Run
    folder: Path
    reports: list[FileReport] = field(default_factory=list)
    removed: list[FileReport] = field(default_factory=list)
    gold_built: bool = False


class Runner:
    """Engine + lake + manifest + run log: everything a pipeline run needs."""

    def __init__(self, engine: Engine, lake: Lake, settings: Settings | None = None) -> None:
        self.engine = engine
        self.lake = lake
        self.settings = settings or get_settings()
        self.manifest = Manifest(engine)
        self.runs = RunLog(engine, read_only=bool(getattr(engine, "read_only", False)))
        # Called with (artifact key, bytes of it parsed so far, its size) while a file loads,
        # so a progress bar moves during one large file (the CLI sets it).
        self.on_bytes: Progress | None = None

    @classmethod
    def open(cls, settings: Settings | None = None, *, read_only: bool = False) -> Runner:
        """The warehouse and lake of ``settings``; ``read_only`` opens the warehouse for reading
        only (on DuckDB other readers, e.g. `wattlake sql`, can then open it too)."""
        s = settings or get_settings()
        engine = connect(
            s.warehouse_url, duckdb_memory_limit=s.duckdb_memory_limit, read_only=read_only
        )
        return cls(engine, Lake(s.lake_root), s)

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
            stored: list[Artifact] = []
            for path in files:
                key = file_key(path)
                with run.step("bronze", key, reraise=False), path.open("rb") as fh:
                    artifact = self.store(spec, run, key, fh)
                if run.steps[-1].status == "ok":
                    stored.append(artifact)
            parsers = self.parse_ahead(spec, stored, force=force)
            for i, (report, _ok) in enumerate(self.load_many(spec, run, stored, force, parsers)):
                reports.append(report)
                if progress:
                    progress(report.source_file, i + 1, len(stored))
            # With replace_by_file a reload that loads no rows still deleted the earlier ones.
            replaced = spec.replace_by_file and any(not r.skipped for r in reports)
            if any(r.rows_loaded for r in reports) or replaced or force:
                self.build_gold(spec, run)
        except BaseException as exc:
            run.finish(exc)
            raise
        run.finish()
        return run, reports

    def sync_folder(
        self,
        spec: PipelineSpec,
        folder: str | os.PathLike[str],
        *,
        scope: str | None = None,
        force: bool = False,
        only: Collection[str] | None = None,
        progress: Progress | None = None,
    ) -> FolderSync:
        """Make silver mirror ``folder`` (searched recursively for ``spec.file_patterns``).

        A file's key is its path relative to ``folder``. A file whose sha256 is the version of
        its key already in silver is only hashed: not copied, not parsed. A new or changed file
        goes to bronze and loads (replacing its earlier rows if ``spec.replace_by_file``). For
        ``replace_by_file`` sources, a file an earlier sync of the same ``scope`` (default: the
        folder's absolute path) loaded but that is gone now has its rows deleted and its
        manifest rows unmarked (step ``remove``, ``rows_read`` = rows deleted); its bronze
        copies stay. Gold is rebuilt when anything changed. A failed step is recorded and the
        run goes on (status ``partial``). ``only`` limits the sync to those keys (a sensor
        that saw one file change refreshes just that file, or unloads it if it is gone).
        """
        root = Path(folder)
        if not root.is_dir():
            raise InputError(f"{root} is not a folder", hint="create it and put the files in it")
        files = list(expand_paths([root], spec.file_patterns))
        if only is not None:
            files = [f for f in files if file_key(f, root) in only]
        scope = scope or str(root.resolve())
        self.setup(spec)
        params = {"folder": str(root), "scope": scope, "force": force}
        run = self.runs.start(spec.name, params | ({"only": sorted(only)} if only else {}))
        result = FolderSync(run, root)
        try:
            loaded = self.manifest.loaded_versions(spec.source)
            keys = [file_key(path, root) for path in files]
            # A key with no loaded version is new: it is hashed while copied into bronze.
            known = [p for p, k in zip(files, keys, strict=True) if k in loaded]
            shas = {} if force else hash_files(known if spec.replace_by_file else files)
            changed, done = False, 0
            stored: dict[int, Artifact] = {}  # index in result.reports -> artifact to load
            for path, key in zip(files, keys, strict=True):
                report, artifact = self._sync_file(
                    spec, run, path, key, scope, loaded, shas.get(path)
                )
                if artifact is not None:
                    stored[len(result.reports)] = artifact
                elif progress:
                    done += 1
                    progress(key, done, len(files))
                result.reports.append(report)
            # Stored first, then parsed at once where the engine can, then loaded.
            todo = list(stored.values())
            parsers = self.parse_ahead(spec, todo, force=True)
            loads = self.load_many(spec, run, todo, True, parsers)
            for i, (report, ok) in zip(stored, loads, strict=True):
                result.reports[i] = report
                changed = changed or ok
                if progress:
                    done += 1
                    progress(report.source_file, done, len(files))
            present = {r.source_file for r in result.reports}
            for key, versions in sorted(loaded.items()):
                wanted = only is None or key in only
                gone = key not in present and scope in versions.values()
                if spec.replace_by_file and wanted and gone:
                    result.removed.append(self.unload(spec, run, key))
                    changed = changed or run.steps[-1].status == "ok"
            missing = any(not self.engine.table_exists(m) for m in spec.models)
            if changed or force or missing:
                result.gold_built = True
                for model in spec.models:
                    with run.step("gold", model, reraise=False) as step:
                        step.rows_loaded = self.engine.build(model)
        except BaseException as exc:
            run.finish(exc)
            raise
        run.finish()
        return result

    def unload(self, spec: PipelineSpec, run: Run, key: str) -> FileReport:
        """Delete the silver rows of file ``key`` (by ``_source_file``) and unmark its manifest
        rows, in one transaction; a later file with that key loads again."""
        report = FileReport(key)
        with run.step("remove", key, reraise=False) as step:
            where = "WHERE _source_file = $f"
            counts = [
                self.engine.query(f'SELECT count(*) FROM "{t.name}" {where}', {"f": key})
                for t in spec.tables
            ]
            with self.engine.transaction() as tx:
                for table in spec.tables:
                    tx.execute(f'DELETE FROM "{table.name}" {where}', {"f": key})
                self.manifest.unmark(tx, spec.source, key)
            step.rows_read = sum(int(c.column(0)[0].as_py()) for c in counts)
        failed = run.steps[-1].status == "failed"
        report.note = run.steps[-1].error if failed else f"gone: {step.rows_read} rows deleted"
        return report

    def _sync_file(
        self,
        spec: PipelineSpec,
        run: Run,
        path: Path,
        key: str,
        scope: str,
        loaded: dict[str, dict[str, str]],
        sha: str | OSError | None,
    ) -> tuple[FileReport, Artifact | None]:
        """Store one file in bronze unless ``sha`` (its hash, None: not hashed, load it) shows
        the same content is loaded; returns (report, the artifact to load or None)."""
        report = FileReport(key)
        if isinstance(sha, OSError):
            with run.step("bronze", key, reraise=False):
                raise LakeError(f"cannot read {path}: {sha}") from sha
            report.note = run.steps[-1].error
            return report, None
        if sha is None:
            unchanged = False
        elif spec.replace_by_file:
            unchanged = loaded.get(key, {}).get(sha) == scope
        else:
            unchanged = any(sha in versions for versions in loaded.values())
        if unchanged:
            report.skipped = True
            report.note = "unchanged (same sha256 as the version loaded)"
            return report, None
        with run.step("bronze", key, reraise=False), path.open("rb") as fh:
            artifact = self.store(spec, run, key, fh, params={"sync": scope})
        if run.steps[-1].status == "failed":
            report.note = run.steps[-1].error
            return report, None
        return report, artifact

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

    def parse_ahead(
        self, spec: PipelineSpec, artifacts: list[Artifact], *, force: bool = False
    ) -> dict[tuple[str, str], Parser]:
        """Parse many artifacts at once where the engine can (Spark: on its executors);
        returns a parser per (key, sha256) that replays the result, {} otherwise."""
        parse_many = getattr(self.engine, "parse_many", None)
        if parse_many is None:
            return {}
        by_key = spec.replace_by_file
        todo = [
            a
            for a in artifacts
            if force
            or not self.manifest.is_loaded(spec.source, a.sha256, a.key if by_key else None)
        ]
        if len(todo) < 2:
            return {}
        parsers: dict[tuple[str, str], Parser] = parse_many(spec.parser_for, self.lake, todo)
        return parsers

    def load_many(
        self,
        spec: PipelineSpec,
        run: Run,
        artifacts: list[Artifact],
        force: bool = False,
        parsers: Mapping[tuple[str, str], Parser] | None = None,
    ) -> Iterator[tuple[FileReport, bool]]:
        """Load each artifact (as :meth:`load_artifact`, with its parser from
        :meth:`parse_ahead` if any), yielding (report, its silver step succeeded). An engine
        with ``group_commit`` (Spark: a commit costs a job) loads up to GROUP_FILES at a time
        in one transaction (:meth:`_load_group`)."""
        parsers = parsers or {}
        size = GROUP_FILES if getattr(self.engine, "group_commit", False) else 1
        for start in range(0, len(artifacts), size):
            group = artifacts[start : start + size]
            if len(group) > 1:
                yield from self._load_group(spec, run, group, force, parsers)
                continue
            artifact = group[0]
            parser = parsers.get((artifact.key, artifact.sha256))
            report = self.load_artifact(spec, run, artifact, force=force, parser=parser)
            yield report, not report.skipped and run.steps[-1].status == "ok"

    def load_artifact(
        self,
        spec: PipelineSpec,
        run: Run,
        artifact: Artifact,
        *,
        force: bool = False,
        parser: Parser | None = None,
        before: Callable[[Tx], None] | None = None,
        also: Callable[[Tx], None] | None = None,
    ) -> FileReport:
        """Parse ``artifact`` into silver in one transaction (skipped if already loaded).

        ``before(tx)`` and ``also(tx)`` run in that transaction before and after the silver
        rows (e.g. a source's own replacement rule, an incremental gold update), so everything
        commits together or not at all. ``parser`` (from :meth:`parse_ahead`) replaces the
        source's own."""
        report = FileReport(artifact.key)
        if self._skip(spec, artifact, report, force):
            return report
        with run.step("silver", artifact.key, reraise=False) as step:
            parser = parser or spec.parser_for(artifact.name)
            with self.engine.transaction() as tx:
                self._fill(tx, spec, run, artifact, report, parser, before, also)
            step.rows_read = report.rows_read
            step.rows_loaded = report.rows_loaded
            step.rows_rejected = report.rows_rejected
        if run.steps[-1].status == "failed":
            report.note = run.steps[-1].error
            report.rows_loaded = 0
        return report

    def _skip(
        self, spec: PipelineSpec, artifact: Artifact, report: FileReport, force: bool
    ) -> bool:
        # With replace_by_file only the key's own loaded version counts (a file changed back
        # to earlier content must load again); otherwise the same bytes under any name do.
        key = artifact.key if spec.replace_by_file else None
        if not force and self.manifest.is_loaded(spec.source, artifact.sha256, key):
            report.skipped = True
            report.note = "already loaded (same sha256); use --force to reload"
            return True
        return False

    def _fill(
        self,
        tx: Tx,
        spec: PipelineSpec,
        run: Run,
        artifact: Artifact,
        report: FileReport,
        parser: Parser,
        before: Callable[[Tx], None] | None = None,
        also: Callable[[Tx], None] | None = None,
    ) -> None:
        """The work of loading one artifact, in ``tx``: its rows, rejects and manifest mark."""
        if before is not None:
            before(tx)
        if spec.replace_by_file:
            for table in spec.tables:
                tx.execute(
                    f'DELETE FROM "{table.name}" WHERE _source_file = $f', {"f": artifact.key}
                )
        with self.lake.open(artifact) as raw:
            stream = raw if self.on_bytes is None else _tracked(raw, artifact, self.on_bytes)
            report.rows_loaded += _write(tx, spec, parser(stream, report))
        if not report.balanced:
            raise WattlakeError(
                f"{artifact.key}: {report.rows_read} rows read but "
                f"{report.rows_loaded} loaded + {report.rows_rejected} rejected",
                hint="this is a bug in the parser; please report it with the file",
            )
        if also is not None:
            also(tx)
        self.runs.write_rejects(tx, run.run_id, report.rejects)
        self.manifest.mark_loaded(tx, artifact)
        if spec.replace_by_file:  # this version is now the only one of the key in silver
            self.manifest.unmark(tx, spec.source, artifact.key, keep_sha256=artifact.sha256)

    def _load_group(
        self,
        spec: PipelineSpec,
        run: Run,
        group: list[Artifact],
        force: bool,
        parsers: Mapping[tuple[str, str], Parser],
    ) -> list[tuple[FileReport, bool]]:
        """Load ``group`` in one transaction, each file still its own silver step (with its
        rejects and manifest mark). A file that fails is dropped from the transaction alone
        (``tx.unit()``); if the commit fails, every file of the group is recorded failed."""
        if run.cancel is not None and run.cancel.is_set():
            raise RunCancelled(f"run {run.run_id} was asked to stop before loading {group[0].key}")
        reports: list[FileReport] = []
        steps: list[tuple[Step, FileReport, datetime, float]] = []
        seen: set[tuple[str, str | None]] = set()
        t_commit = time.perf_counter()
        try:
            with self.engine.transaction() as tx:
                for artifact in group:
                    report = FileReport(artifact.key)
                    reports.append(report)
                    ident = (artifact.sha256, artifact.key if spec.replace_by_file else None)
                    if (ident in seen and not force) or self._skip(spec, artifact, report, force):
                        report.skipped = True
                        report.note = "already loaded (same sha256); use --force to reload"
                        continue
                    seen.add(ident)
                    step, started, t0 = Step("silver", artifact.key), utcnow(), time.perf_counter()
                    try:
                        with cast(Any, tx).unit():
                            parser = parsers.get((artifact.key, artifact.sha256))
                            parser = parser or spec.parser_for(artifact.name)
                            self._fill(tx, spec, run, artifact, report, parser)
                        step.rows_read = report.rows_read
                        step.rows_loaded = report.rows_loaded
                        step.rows_rejected = report.rows_rejected
                    except Exception as exc:
                        step.status, step.error = "failed", f"{type(exc).__name__}: {exc}"
                    steps.append((step, report, started, time.perf_counter() - t0))
                t_commit = time.perf_counter()
        except Exception as exc:  # the commit failed: none of the group is in silver
            for step, _report, _started, _seconds in steps:
                if step.status == "ok":
                    step.status, step.error = "failed", f"{type(exc).__name__}: {exc}"
                    step.rows_read = step.rows_loaded = step.rows_rejected = 0
        share = (time.perf_counter() - t_commit) / max(1, len(steps))  # the commit's cost
        for step, report, started, seconds in steps:
            run.steps.append(step)
            run.log.record_step(run, len(run.steps), step, started, seconds + share)
            if step.status == "failed":
                report.note, report.rows_loaded = step.error, 0
        ok = {id(r) for s, r, _a, _b in steps if s.status == "ok"}
        return [(r, id(r) in ok) for r in reports]

    def build_gold(self, spec: PipelineSpec, run: Run) -> None:
        for model in spec.models:
            with run.step("gold", model) as step:
                step.rows_loaded = self.engine.build(model)

    def close(self) -> None:
        self.engine.close()


def file_key(path: Path, root: Path | None = None) -> str:
    """The key of a local file: its name (or its path under ``root``, with ``/``), as text
    every warehouse and object store can hold: a name that is not UTF-8 (``café`` written in
    latin-1) keeps its undecodable bytes as ``\\xNN`` (see :func:`storable`)."""
    return storable(path.name if root is None else path.relative_to(root).as_posix())


def _write(tx: Tx, spec: PipelineSpec, parsed: Iterator[tuple[str, pa.Table]]) -> int:
    """Write a parser's ``(table name, batch)`` output in ``tx``, parsing in a background
    thread meanwhile; the rows written. An engine with ``upsert_stream`` (DuckDB) takes them
    as a stream (small batches gathered to at least STREAM_ROWS rows); the others take batches
    gathered up to UPSERT_ROWS rows, one upsert each."""
    stream_into = getattr(tx, "upsert_stream", None)
    if stream_into is None:
        batches = prefetch(coalesce(parsed, UPSERT_ROWS))
        return sum(tx.upsert(spec.table(name), batch) for name, batch in batches)
    # Consumed (so parsed) on the engine's checking thread; small batches gathered.
    return int(stream_into(spec.table, coalesce(parsed, STREAM_ROWS, eager=True)))


class _Position(io.RawIOBase):
    """A read-only stream that reports how far into it reading has got."""

    def __init__(self, f: BinaryIO, report: Callable[[int], None]) -> None:
        self._f, self._report = f, report

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return bool(self._f.seekable())

    def readinto(self, buffer: Any) -> int:
        data = self._f.read(len(buffer))
        buffer[: len(data)] = data
        self._report(self._f.tell())
        return len(data)

    def readall(self) -> bytes:  # read() to the end: one call, not one per 8 KiB
        data = self._f.read()
        self._report(self._f.tell())
        return bytes(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self._f.seek(offset, whence))

    def tell(self) -> int:
        return int(self._f.tell())


def _tracked(f: BinaryIO, artifact: Artifact, on_bytes: Progress) -> BinaryIO:
    size = artifact.bytes
    raw = _Position(f, lambda pos: on_bytes(artifact.key, pos, size))
    return io.BufferedReader(raw, buffer_size=1 << 20)


def hash_files(paths: list[Path]) -> dict[Path, str | OSError]:
    """sha256 of each file (or the error reading it), several at once (hashlib frees the GIL)."""

    def one(path: Path) -> str | OSError:
        try:
            return sha256_file(path)
        except OSError as exc:
            return exc

    if len(paths) < 2:
        return {p: one(p) for p in paths}
    with ThreadPoolExecutor(min(4, os.cpu_count() or 1), "wattlake-hash") as pool:
        return dict(zip(paths, pool.map(one, paths), strict=True))


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
            raise _not_a_file(p)


def _not_a_file(p: Path) -> InputError:
    """Why ``p`` (neither a folder nor a regular file) cannot be loaded, in one line."""
    import errno
    import stat

    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        if p.is_symlink():
            return InputError(
                f"{p} is a symbolic link to {os.readlink(p)}, which does not exist",
                hint="fix the link or name the file itself",
            )
        return InputError(f"{p} does not exist", hint="check the path; folders are searched")
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return InputError(
                f"{p} is a symbolic link loop", hint="fix the link or name the file itself"
            )
        return InputError(f"cannot read {p}: {exc.strerror}", hint="check its permissions")
    kind = (
        "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
        else "a socket" if stat.S_ISSOCK(mode)
        else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "not a regular file"
    )  # fmt: skip
    return InputError(
        f"{p} is {kind}, not a file that can be stored",
        hint="copy the data into a regular file and load that",
    )


def coalesce(
    batches: Iterable[tuple[str, pa.Table]], rows: int, *, eager: bool = False
) -> Iterator[tuple[str, pa.Table]]:
    """Gather consecutive batches of one table up to ``rows`` rows: fewer, larger upserts
    (each upsert has a fixed cost), while memory stays bounded by ``rows``. ``eager``: gather
    only until they reach ``rows`` and pass them on then, never waiting for the next batch (a
    stream's first batch starts the load as soon as it is parsed)."""
    pending: list[pa.Table] = []
    name: str | None = None
    size = 0
    for table_name, batch in batches:
        full = not eager and size + batch.num_rows > rows
        if pending and (table_name != name or full):
            yield name or table_name, pa.concat_tables(pending)
            pending, size = [], 0
        name = table_name
        pending.append(batch)
        size += batch.num_rows
        if eager and size >= rows:
            yield name, pa.concat_tables(pending)
            pending, size = [], 0
    if pending and name is not None:
        yield name, pa.concat_tables(pending)
