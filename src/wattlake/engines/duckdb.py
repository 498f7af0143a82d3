"""DuckDB engine (the embedded default).

Tables are created WITHOUT a PRIMARY KEY constraint: DuckDB maintains a key with an ART index
whose insert cost measured 1.2–1.5 s per million rows here, against 0.3–0.5 s for the
upsert below (see docs/architecture.md). The key is still the identity of a row: ``upsert`` is
the only write path and keeps it unique — a batch whose keys may be stored first deletes those
rows, and a key repeated inside a batch keeps its last occurrence.

One connection per engine; every call takes its own cursor, so API requests on threads don't
trip over an unfinished result. Writes are serialized by a lock (DuckDB allows one writer).

The process that opens a database file for writing is its only writer (DuckDB's file lock), so
every change is seen here: each write (a transaction's end, ``execute``, ``ensure``) bumps the
file's :class:`Changes` once it is over, and the API's response cache follows them (``watch``).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from wattlake.background import prefetch
from wattlake.engines.base import (
    Changes,
    Params,
    create_table_sql,
    is_text,
    load_model,
    series_columns,
    series_runs,
)
from wattlake.errors import WarehouseError
from wattlake.tables import TableSpec, sql_type

_BATCH = "_wl_batch"
_SPANS = "_wl_spans"  # a batch's series spans, for the exact check of _is_new
SMALL_ROWS = 1000  # batches up to this size are checked for repeated keys in Python
VALUES_ROWS = 8  # batches up to this size are written as SQL parameters, not through Arrow
MERGE_ROWS = 250_000  # a stream's batches that may meet stored keys: upserted this many at once
_HUGE = ("HUGEINT", "UHUGEINT")
_Checked = tuple[TableSpec, bool, pa.Table]  # (table, keys certainly new, conformed batch)
_CHANGES: dict[str, Changes] = {}  # database file -> its changes (engines on one file share them)
_CHANGES_LOCK = threading.Lock()


def _changes_of(path: str) -> Changes:
    """The :class:`Changes` of the database at ``path``: one per file in this process (two
    engines on one file write the same data), a new one for each in-memory database."""
    if path == ":memory:":
        return Changes()
    with _CHANGES_LOCK:
        return _CHANGES.setdefault(str(Path(path).resolve()), Changes())


def _q(name: str) -> str:
    return f'"{name}"'


class DuckDBTx:
    """A unit of work: one DuckDB transaction from the ``with`` block's start to its end.

    Each batch goes into its table once, straight from Arrow. A batch whose keys cannot be
    stored yet (an empty table, a first load, no stored row inside the batch's key ranges,
    which a scan pruned by DuckDB's min/max zone maps answers) is one plain ``INSERT``; only a
    batch that may meet stored keys pays a ``DELETE … USING`` first. A key repeated inside a
    batch keeps its last occurrence. DuckDB writes a large transaction's row groups to the
    database file as they fill (unreferenced until the commit), so memory stays bounded by
    ``memory_limit`` and a crash before the commit leaves none of them.

    The rows this transaction wrote itself are ruled out without a scan when it can: for
    batches shaped as time series (see :func:`series_runs`) it keeps each series' time span,
    and a batch whose spans miss them all only asks the committed rows (through a cursor
    outside the transaction, which does not scan this transaction's own rows). Any SQL run
    through ``execute`` may have written rows, so after it every batch asks inside.
    """

    def __init__(
        self,
        cur: duckdb.DuckDBPyConnection,
        committed: Callable[[], duckdb.DuckDBPyConnection] | None = None,
    ) -> None:
        self.cur = cur  # this unit of work's cursor, inside its transaction
        self._committed = committed  # a new cursor outside it (None: always ask inside)
        # cursors outside it, one per thread that asks: the writer's and upsert_stream's checker
        self._outside: dict[int, duckdb.DuckDBPyConnection] = {}
        # table -> series key -> (first, last) time of each span written; None: not tracked
        self._spans: dict[str, Spans | None] = {}
        # spans of the batches upsert_stream's checker found not new: upserted later, in order
        self._queued: dict[str, Spans] = {}
        self._spans_lock = threading.Lock()  # the checker and the writer both keep spans
        self._wrote_sql = False

    def execute(self, sql: str, params: Params = None) -> None:
        self._wrote_sql = True
        self.cur.execute(sql, dict(params) if params else None)

    def close(self) -> None:
        for cur in self._outside.values():
            cur.close()
        self._outside.clear()

    def upsert(self, spec: TableSpec, table: pa.Table) -> int:
        n = int(table.num_rows)
        if n == 0:
            return 0
        table = spec.conform(table)
        if n <= VALUES_ROWS and not any(pa.types.is_nested(f.type) for f in table.schema):
            return self._upsert_values(spec, table)
        cur, target = self.cur, _q(spec.name)
        cols = ", ".join(_q(c) for c in spec.column_names)
        if not spec.primary_key:
            _with_batch(cur, table, f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {_BATCH}")
            return n
        pk = spec.primary_key
        keys = ", ".join(_q(k) for k in pk)
        runs = series_runs(spec, table) if n > 1 else None
        if n <= SMALL_ROWS:  # run log, manifest, rejects: checked in Python
            repeats = _repeats_in_python(spec, table)
        elif runs is not None:  # time series as files hold them: no repeats
            repeats = False
        else:
            sql = f"SELECT count(DISTINCT hash({keys})) FROM {_BATCH}"
            repeats = int(_with_batch(cur, table.select(pk), sql).fetchall()[0][0]) != n
        # Which stored rows could share a key with the batch: those inside its key ranges (a
        # scan DuckDB prunes by zone maps); their own ranges narrow the batch rows to match.
        reader = self._reader(spec, table, runs)
        ranges, args = _key_ranges(spec, table)
        range_keys = _range_keys(spec, table)
        bounds = ", ".join(f"min(t.{_q(k)}), max(t.{_q(k)})" for k in range_keys)
        rel = reader.sql(
            f"SELECT count(*), {bounds} FROM {target} AS t WHERE {ranges}", params=args
        )
        assert rel is not None
        stored: pa.Table = rel.to_arrow_table()
        if stored.column(0)[0].as_py():  # some keys may be stored: delete those rows first
            inside = None
            for i, k in enumerate(range_keys):
                col = table.column(k)
                lo, hi = stored.column(1 + 2 * i)[0], stored.column(2 + 2 * i)[0]
                this = pc.and_(
                    pc.greater_equal(col, lo.cast(col.type)), pc.less_equal(col, hi.cast(col.type))
                )
                inside = this if inside is None else pc.and_(inside, this)
            candidates = table.select(pk).filter(inside)
            if candidates.num_rows:
                match = " AND ".join(f"t.{_q(k)} = s.{_q(k)}" for k in pk)
                sql = f"DELETE FROM {target} AS t USING {_BATCH} AS s WHERE {match}"
                _with_batch(cur, candidates, sql)
        source = _BATCH
        if repeats:  # the last occurrence of a key wins: number the rows in input order
            table = table.append_column("_wl_ord", pa.array(np.arange(n, dtype=np.int64)))
            source = (
                f"(SELECT * FROM {_BATCH} QUALIFY row_number() OVER "
                f"(PARTITION BY {keys} ORDER BY _wl_ord DESC) = 1)"
            )
        _with_batch(cur, table, f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {source} AS _u")
        return n

    def _upsert_values(self, spec: TableSpec, table: pa.Table) -> int:
        """``upsert`` of a few rows (the run log, the manifest) as SQL parameters: a statement
        over an Arrow relation costs about 2 ms more here, four of them a file."""
        n, target = int(table.num_rows), _q(spec.name)
        rows = table.to_pylist()
        if pk := spec.primary_key:
            runs = series_runs(spec, table) if n > 1 else None
            self._written(spec, table, runs)  # for the stream's checks
            last = {tuple(r[k] for k in pk): r for r in rows}  # a repeated key keeps its last
            rows = list(last.values())
            match = " AND ".join(f"{_q(k)} = ?" for k in pk)
            where = " OR ".join([f"({match})"] * len(rows))
            self.cur.execute(
                f"DELETE FROM {target} WHERE {where}", [v for key in last for v in key]
            )
        names = spec.column_names
        cols = ", ".join(_q(c) for c in names)
        row = "(" + ", ".join(["?"] * len(names)) + ")"
        values = ", ".join([row] * len(rows))
        params = [r[c] for r in rows for c in names]
        self.cur.execute(f"INSERT INTO {target} ({cols}) VALUES {values}", params)
        return n

    def upsert_stream(
        self,
        table_of: Callable[[str], TableSpec],
        batches: Iterable[tuple[str, pa.Table]],
    ) -> int:
        """Upsert each ``(table name, batch)`` of ``batches`` in order, as ``upsert`` would,
        and return the rows written; ``batches`` is consumed on a thread of its own (a parser:
        parsing overlaps the load), where each batch is also checked.

        While a table's batches are provably new (:meth:`_is_new`: a first load, as most
        are) they flow into ONE ``INSERT`` from an Arrow stream: DuckDB spreads it over its
        threads (a 200k-row batch alone took twice the time per row of a 1M-row insert here)
        and parsing goes on meanwhile. A batch that may meet a stored key (or one this stream
        wrote) is upserted, gathered with the like batches after it up to MERGE_ROWS rows; the
        next provably new batch starts another INSERT (a file that repeats a day already
        loaded pays the delete+insert for that day only)."""
        checked = prefetch(self._checked(table_of, batches))
        total, pending = 0, list[pa.Table]()  # of one table, to upsert together
        pending_spec: TableSpec | None = None
        try:
            item = next(checked, None)
            while item is not None:
                spec, new, table = item
                if pending_spec is not None and (
                    new
                    or spec.name != pending_spec.name
                    or sum(t.num_rows for t in pending) + table.num_rows > MERGE_ROWS
                ):
                    total += self._merge(pending_spec, pending)
                if new:
                    streamed, item = self._insert_stream(spec, table, checked)
                    total += streamed
                    continue
                pending_spec = spec
                pending.append(table)
                item = next(checked, None)
            if pending_spec is not None:
                total += self._merge(pending_spec, pending)
        finally:
            checked.close()  # stops the checking thread if we leave early
        return total

    def _merge(self, spec: TableSpec, pending: list[pa.Table]) -> int:
        """Upsert ``pending`` (in order) as one batch, and empty it: the same result as one
        upsert each (a later row of a key wins), with fewer statements."""
        if not pending:
            return 0
        table = pa.concat_tables(pending)
        pending.clear()
        return self.upsert(spec, table)

    def _insert_stream(
        self, spec: TableSpec, first: pa.Table, checked: Iterator[_Checked]
    ) -> tuple[int, _Checked | None]:
        """One ``INSERT`` of ``first`` and the new batches of the same table after it in
        ``checked``; returns (rows inserted, the item that ended the stream or None). An error
        while producing the batches ends the stream and is raised here as it was (through
        DuckDB it would come back wrapped)."""
        rows = [int(first.num_rows)]
        after: list[_Checked] = []
        failed: list[BaseException] = []

        def feed() -> Iterator[pa.RecordBatch]:
            yield from first.to_batches()
            try:
                for item in checked:
                    other, new, table = item
                    if not new or other.name != spec.name:
                        after.append(item)
                        return
                    rows[0] += int(table.num_rows)
                    yield from table.to_batches()
            except BaseException as exc:  # re-raised below, with its own type and hint
                failed.append(exc)

        cols = ", ".join(_q(c) for c in spec.column_names)
        reader = pa.RecordBatchReader.from_batches(spec.arrow_schema, feed())
        sql = f"INSERT INTO {_q(spec.name)} ({cols}) SELECT {cols} FROM {_BATCH}"
        self.cur.from_arrow(reader).query(_BATCH, sql)
        if failed:
            raise failed[0]
        return rows[0], (after[0] if after else None)

    def _checked(
        self, table_of: Callable[[str], TableSpec], batches: Iterable[tuple[str, pa.Table]]
    ) -> Iterator[_Checked]:
        """(table, keys certainly new, conformed batch) for each batch with rows, checked
        ahead of the writes (on the thread that consumes ``batches``)."""
        for name, batch in batches:
            if not batch.num_rows:
                continue
            spec = table_of(name)
            table = spec.conform(batch)
            yield spec, self._is_new(spec, table), table

    def _is_new(self, spec: TableSpec, table: pa.Table) -> bool:
        """Can none of ``table``'s keys be stored yet, nor repeat inside it? Proven cheaply or
        not at all: a time-series batch (:func:`series_runs`) whose series spans miss this
        transaction's writes (and the batches checked before it) and whose key ranges hold no
        committed row. Either way its spans are recorded: as written if new (the caller
        writes it), as queued if not (the caller upserts it before any later batch)."""
        if not spec.primary_key:
            return True
        runs = series_runs(spec, table) if table.num_rows > 1 else None
        spans = self._spans.setdefault(spec.name, {})
        if spans is None or self._wrote_sql or self._committed is None:
            return False
        if runs is None:  # keys of unknown shape to be written: no later batch is provable
            self._spans[spec.name] = None
            return False
        new = _series_spans(spec, table, runs)
        queued = self._queued.setdefault(spec.name, {})
        with self._spans_lock:
            clash = _meets(spans, new) or _meets(queued, new)
        # A row in the batch's key ranges (a zone-map-pruned scan) may still be of other
        # series: only then is the exact, costlier, span check asked.
        if not clash:
            cur, (ranges, args) = self._outside_cursor(), _key_ranges(spec, table)
            sql = (
                f"SELECT count(*) FROM (SELECT 1 FROM {_q(spec.name)} AS t WHERE {ranges} LIMIT 1)"
            )
            clash = bool(cur.execute(sql, args).fetchall()[0][0]) and _stored_in_spans(
                cur, spec, table, runs[0], (ranges, args)
            )
        with self._spans_lock:
            _record(queued if clash else spans, new)
        return not clash

    def _outside_cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor outside the transaction (its committed rows only) for the calling thread,
        opened once: upsert_stream's checker asks while the writer upserts."""
        assert self._committed is not None
        thread = threading.get_ident()
        if thread not in self._outside:
            self._outside[thread] = self._committed()
        return self._outside[thread]

    def _reader(
        self,
        spec: TableSpec,
        table: pa.Table,
        runs: tuple[list[int], list[tuple[Any, ...]]] | None,
    ) -> duckdb.DuckDBPyConnection:
        """The cursor to look for stored keys with: outside the transaction when none of the
        rows it wrote can share a key with ``table`` (then recorded as written), else inside."""
        if not self._written(spec, table, runs) or self._wrote_sql or self._committed is None:
            return self.cur
        return self._outside_cursor()

    def _written(
        self,
        spec: TableSpec,
        table: pa.Table,
        runs: tuple[list[int], list[tuple[Any, ...]]] | None,
    ) -> bool:
        """Record ``table``'s rows as written by this transaction; True if none of the rows
        it wrote before can share a key with them (known only for time series)."""
        spans = self._spans.setdefault(spec.name, {})
        new = None if runs is None else _series_spans(spec, table, runs)
        if spans is None or new is None:
            self._spans[spec.name] = None  # rows of unknown shape written: ask inside from now
            return False
        with self._spans_lock:
            clear = not _meets(spans, new)
            _record(spans, new)
        return clear


Spans = dict[tuple[Any, ...], list[tuple[int, int]]]  # series key -> (first, last) times written


def _meets(spans: Spans, new: list[tuple[tuple[Any, ...], int, int]]) -> bool:
    """Does a span of ``new`` overlap one of the same series in ``spans``?"""
    return any(lo <= b and a <= hi for key, lo, hi in new for a, b in spans.get(key, ()))


def _record(spans: Spans, new: list[tuple[tuple[Any, ...], int, int]]) -> None:
    for key, lo, hi in new:
        spans.setdefault(key, []).append((lo, hi))


def _series_spans(
    spec: TableSpec, table: pa.Table, runs: tuple[list[int], list[tuple[Any, ...]]]
) -> list[tuple[tuple[Any, ...], int, int]]:
    """(series key, first time, last time) of each series of a batch ``series_runs`` proved
    to be time series (times as integer ticks)."""
    _series, seq = _series_columns(spec, table)
    values = table.column(seq).combine_chunks()
    ticks = np.asarray(values.to_numpy(zero_copy_only=False))
    if ticks.dtype.kind in "mM":
        ticks = ticks.view(np.int64)
    starts, keys = runs
    first, last = ticks[starts].tolist(), ticks[_last_rows(starts, len(ticks))].tolist()
    return list(zip(keys, first, last, strict=True))


def _series_columns(spec: TableSpec, table: pa.Table) -> tuple[list[str], str]:
    """:func:`series_columns` of a batch ``series_runs`` proved to be time series."""
    columns = series_columns(spec, table)
    assert columns is not None
    return columns


def _last_rows(starts: list[int], n: int) -> np.ndarray:
    """The last row of each run of ``n`` rows whose runs start at ``starts``."""
    return np.array([*starts[1:], n], dtype=np.int64) - 1


def _stored_in_spans(
    cur: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    table: pa.Table,
    starts: list[int],
    key_ranges: tuple[str, dict[str, Any]],
) -> bool:
    """Does ``cur`` see a stored row of one of the series of ``table`` (a time-series batch
    whose series start at ``starts``) within that series' time span? Exact, so stored series
    whose text keys fall inside the batch's key range (meter "100" between "1" and "2") do
    not count; the batch's key ranges still let DuckDB skip row groups by their zone maps."""
    series, seq = _series_columns(spec, table)
    spans = table.select(series).take(starts)
    spans = spans.append_column("_wl_lo", table.column(seq).take(starts))
    spans = spans.append_column("_wl_hi", table.column(seq).take(_last_rows(starts, len(table))))
    ranges, args = key_ranges
    match = " AND ".join(
        [f"t.{_q(k)} = s.{_q(k)}" for k in series] + [f"t.{_q(seq)} BETWEEN s._wl_lo AND s._wl_hi"]
    )
    sql = (
        f"SELECT count(*) FROM (SELECT 1 FROM {_q(spec.name)} AS t JOIN {_SPANS} AS s "
        f"ON {match} WHERE {ranges} LIMIT 1)"
    )
    cur.register(_SPANS, spans)
    try:
        return bool(cur.execute(sql, args).fetchall()[0][0])
    finally:
        cur.unregister(_SPANS)


def _with_batch(cur: duckdb.DuckDBPyConnection, table: pa.Table, sql: str) -> Any:
    """Run ``sql`` with ``table`` visible as ``_wl_batch``. Through a relation, not
    ``register()``: a registered Arrow table stays alive until the transaction ends (measured:
    a 4M-row file held 490 MB of Arrow batches at its peak), a relation's only as long as the
    statement."""
    return cur.from_arrow(table).query(_BATCH, sql)


def _range_keys(spec: TableSpec, table: pa.Table) -> list[str]:
    """The key columns whose ranges bound a lookup: the first one and every non-text one
    (min/max of text costs more than it prunes)."""
    pk = spec.primary_key
    return [k for i, k in enumerate(pk) if i == 0 or not is_text(table.schema.field(k).type)]


def _key_ranges(spec: TableSpec, table: pa.Table) -> tuple[str, dict[str, Any]]:
    """``t.k BETWEEN $lo<i> AND $hi<i>`` for each range key, with the batch's bounds: every
    stored row with a key in the batch satisfies it, and DuckDB skips the row groups whose
    zone maps lie outside it."""
    parts, args = [], {}
    for i, k in enumerate(_range_keys(spec, table)):
        mm = pc.min_max(table.column(k))
        args[f"lo{i}"], args[f"hi{i}"] = mm["min"].as_py(), mm["max"].as_py()
        parts.append(f"t.{_q(k)} BETWEEN $lo{i} AND $hi{i}")
    return " AND ".join(parts), args


def _repeats_in_python(spec: TableSpec, table: pa.Table) -> bool:
    keys = [table.column(k).to_pylist() for k in spec.primary_key]
    return len(set(zip(*keys, strict=True))) != int(table.num_rows)


def open_error(path: str, exc: duckdb.Error, *, read_only: bool) -> WarehouseError:
    """A one-line reason why DuckDB could not open ``path``, with what to do."""
    text = str(exc)
    if read_only and path != ":memory:" and not Path(path).exists():
        return WarehouseError(
            f"there is no warehouse at {path} yet",
            hint="load something first (wattlake ingest …, wattlake demo), or set "
            "WATTLAKE_HOME / WATTLAKE_WAREHOUSE to where it is",
        )
    if "Conflicting lock" in text:
        holder = text.split("Conflicting lock is held in ", 1)[-1].split(". ", 1)[0]
        return WarehouseError(
            f"the DuckDB warehouse {path} is in use by another process ({holder})",
            hint="stop that process (a running `wattlake serve`?) or wait for it to finish; "
            "`wattlake serve --read-only` lets `wattlake sql` and `wattlake runs` read "
            "alongside it; PostgreSQL (WATTLAKE_WAREHOUSE) allows many writers",
        )
    if any(s in text for s in ("Permission denied", "Operation not permitted", "Read-only file")):
        need = "read" if read_only else "write"
        return WarehouseError(
            f"no permission to {need} the DuckDB warehouse {path}",
            hint=f"give this user {need} access to the file and its folder, or point "
            "WATTLAKE_WAREHOUSE / WATTLAKE_HOME elsewhere",
        )
    if isinstance(exc, duckdb.InvalidInputException | duckdb.BinderException):
        return WarehouseError(
            f"cannot open the DuckDB warehouse {path}: {text}",
            hint="check WATTLAKE_DUCKDB_MEMORY_LIMIT (e.g. 256MB or 4GB)",
        )
    return WarehouseError(
        f"cannot open the DuckDB warehouse {path}: {text}",
        hint="is it a DuckDB file? point WATTLAKE_WAREHOUSE at a new file or at PostgreSQL",
    )


class DuckDBEngine:
    dialect = "duckdb"

    def __init__(
        self, path: str = ":memory:", *, read_only: bool = False, memory_limit: str = "256MB"
    ) -> None:
        self.url = f"duckdb:///{path}"
        self.read_only = read_only
        if path != ":memory:" and not read_only:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {"preserve_insertion_order": False, "memory_limit": memory_limit}
        if read_only:
            # A read-only connection runs user SQL (`wattlake sql`): no files or network beyond
            # the warehouse (no COPY TO, read_csv('/etc/passwd'), ATTACH, INSTALL/LOAD), and the
            # settings cannot be changed back by a SET.
            config |= {
                "enable_external_access": False,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "lock_configuration": True,
            }
        try:
            # Row order is never relied on (every read orders explicitly); without it DuckDB
            # inserts in parallel: measured 0.48 s instead of 0.85 s per million rows here.
            # memory_limit caps DuckDB's buffer pool (it spills to disk beyond it), so loading
            # 10M rows does not grow the process by the size of the table.
            self._con = duckdb.connect(path, read_only=read_only, config=config)
        except duckdb.Error as exc:
            raise open_error(path, exc, read_only=read_only) from exc
        self._write_lock = threading.RLock()
        self.changes = _changes_of(path)
        self._views = False  # views over Parquet files another process writes (attach_parquet)
        # Every engine computes time in UTC (without ICU, DuckDB knows only UTC anyway).
        with contextlib.suppress(duckdb.Error):
            self._con.execute("SET GLOBAL TimeZone = 'UTC'")
        # Read cursors are reused (a fresh cursor per query measured 0.3-2 ms more per API
        # request): taken from this free list, put back after the query. At most as many as
        # queries ever ran at once (the API's thread pool bounds that); closed by close().
        self._readers: queue.SimpleQueue[duckdb.DuckDBPyConnection] = queue.SimpleQueue()
        self._all_readers: list[duckdb.DuckDBPyConnection] = []

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        return self._con.cursor()

    def table_exists(self, name: str) -> bool:
        rows = (
            self._cursor()
            .execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])
            .fetchall()
        )
        return bool(rows[0][0])

    def ensure(self, spec: TableSpec) -> None:
        if self.read_only:  # nothing can be created; a missing table fails the query that reads it
            return
        with self._write_lock, self.changes.after():
            cur = self._cursor()
            cur.execute(create_table_sql(spec, "duckdb", primary_key=False))
            have = {
                r[0]
                for r in cur.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                    [spec.name],
                ).fetchall()
            }
            for col in spec.columns:
                if col.name not in have:
                    cur.execute(
                        f"ALTER TABLE {_q(spec.name)} ADD COLUMN {_q(col.name)} "
                        f"{sql_type(col.type, 'duckdb')}"
                    )

    def watch(self) -> Changes | None:
        """Every write of this file goes through this process (see the module's docstring),
        except into the Parquet files behind ``attach_parquet``'s views: then None."""
        return None if self._views else self.changes

    @contextmanager
    def transaction(self) -> Iterator[DuckDBTx]:
        with self._write_lock, self.changes.after():
            cur = self._cursor()
            cur.begin()
            tx = DuckDBTx(cur, self._cursor)
            try:
                yield tx
            except BaseException:
                tx.close()
                cur.rollback()
                raise
            tx.close()
            cur.commit()

    def upsert(self, spec: TableSpec, table: pa.Table) -> int:
        with self.transaction() as tx:
            return tx.upsert(spec, table)

    def execute(self, sql: str, params: Params = None) -> None:
        with self._write_lock, self.changes.after():
            try:
                self._cursor().execute(sql, dict(params) if params else None)
            except duckdb.Error as exc:
                raise WarehouseError(f"statement failed: {exc}") from exc

    @contextmanager
    def _reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read cursor from the free list (a new one when all are busy), put back after."""
        try:
            cur = self._readers.get_nowait()
        except queue.Empty:
            cur = self._cursor()
            with self._write_lock:
                self._all_readers.append(cur)
        try:
            yield cur
        except duckdb.Error as exc:
            raise WarehouseError(f"query failed: {exc}") from exc
        finally:
            self._readers.put(cur)

    def query(self, sql: str, params: Params = None) -> pa.Table:
        with self._reader() as cur:
            rel = cur.sql(sql, params=dict(params) if params else None)
            if rel is None:
                raise WarehouseError("query() needs a statement that returns rows")
            return rel.to_arrow_table()

    def rows(self, sql: str, params: Params = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows as Python tuples, for small answers read by Python (an API
        page): no Arrow on the way, and one pass through DuckDB (``query`` binds the statement
        first): 1.8 instead of 2.7 ms of CPU for a 100-row, 16-column page here."""
        with self._reader() as cur:
            cur.execute(sql, dict(params) if params else None)
            if cur.description is None:
                raise WarehouseError("rows() needs a statement that returns rows")
            names, rows = [d[0] for d in cur.description], cur.fetchall()
            # The values ``query`` gives: a 128-bit integer (a sum of BIGINT) comes out of Arrow
            # as a decimal, so it is one here too.
            huge = [i for i, d in enumerate(cur.description) if str(d[1]) in _HUGE]
        if huge and rows:
            cols = list(zip(*rows, strict=True))
            for i in huge:
                cols[i] = tuple(None if v is None else Decimal(v) for v in cols[i])
            rows = list(zip(*cols, strict=True))
        return names, rows

    def build(self, model: str) -> int:
        m = load_model(model)
        with self.transaction() as tx:
            tx.execute(f"CREATE OR REPLACE TABLE {_q(m.name)} AS {m.sql}")
        return int(self.query(f"SELECT count(*) FROM {_q(m.name)}").column(0)[0].as_py())

    def attach_parquet(self, lake_url: str) -> list[str]:
        """Views over the Parquet tables the Spark engine wrote under ``lake_url`` (temporary:
        call again to pick up tables created since)."""
        from wattlake.engines.parquet_tables import attach_duckdb_views

        with self._write_lock, self.changes.after():
            self._views = True
            return attach_duckdb_views(self._cursor(), lake_url)

    def close(self) -> None:
        for cur in self._all_readers:
            cur.close()
        self._all_readers.clear()
        self._con.close()
