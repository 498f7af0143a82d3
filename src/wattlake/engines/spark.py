"""Spark engine: silver and gold as Parquet tables under the lake, the run log beside them.

URL: ``spark+local[N]`` (an in-process local cluster) or ``spark://host:7077`` (a standalone
master; ``spark+yarn``, ``spark+k8s://…`` work the same way). Optional query parameters
``?lake=<fsspec URL>&control=<duckdb:///… | postgresql://…>``; by default the lake is
``WATTLAKE_LAKE_URL`` (or ``WATTLAKE_HOME/lake``) and the control database
``WATTLAKE_SPARK_CONTROL`` (or the DuckDB file ``WATTLAKE_HOME/control.duckdb``).

The split:

* **Data tables** (silver and gold) are Parquet under ``<lake>/tables/<name>/`` (layout in
  :mod:`wattlake.engines.parquet_tables`), partitioned by ``TableSpec.partition_by`` (a day).
  A transaction stages each upsert batch as a Parquet file as it arrives (the driver keeps
  none of them in memory). At commit, for each table, the partitions the batches and DELETEs
  touch are rewritten: their existing rows + the batches (last row per key wins) − deleted
  rows, written by one Spark job with dynamic partition overwrite into a staging folder, then
  each touched partition folder is swapped in by rename. A failed task fails the job before
  any swap: no partition is ever half written, and re-running a load is idempotent.
* **INSERT INTO t SELECT …** in a transaction (SCADA's incremental gold) is a second phase of
  the commit: the tables its SELECT reads are rewritten to staging first, the SELECT runs on
  their post-transaction state (live partitions not rewritten + the staged ones), its result
  is staged as a batch of ``t``, then ``t`` is rewritten; all swaps still come after every
  job. A cycle between INSERTs, a self-read and other statements are refused.
* **Group commit** (``group_commit = True``): the Runner loads several parsed files in one
  transaction; :meth:`SparkTx.unit` drops one failing file's part of it.
* **Control tables** (``runs``, ``run_steps``, ``rejects``, ``state``, ``lake_manifest``,
  ``run_leases``) need real transactions: they live in the control database. Statements are
  routed by the tables they name (sqlglot). A transaction commits the data first, then the
  control rows in one control transaction: a crash between the two leaves the artifact
  unmarked in the manifest, so it loads again, idempotently.

Queries name tables; Spark reads data tables as temp views (fresh file listing each time),
control tables are copied in when a query joins them with data. Every session runs in UTC.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from wattlake.engines.base import Changes, Engine, Params, load_model, transpile
from wattlake.engines.parquet_tables import DAY_COLUMN, TableMeta, TableStore, partition_dir
from wattlake.engines.spark_session import parse_url, spark_schema, spark_session, spark_type

__all__ = ["CONTROL_TABLES", "SparkEngine", "SparkTx", "named_tables", "spark_session"]
from wattlake.errors import WarehouseError
from wattlake.tables import TableSpec

CONTROL_TABLES = frozenset({"runs", "run_steps", "rejects", "state", "lake_manifest", "run_leases"})
ORD = "_wl_ord"  # input order of staged rows; existing rows get -1


def named_tables(sql: str) -> set[str]:
    """The tables a statement reads or writes (CTE names excluded)."""
    return _tables_in(_parse(sql))


def _parse(sql: str) -> Any:
    try:
        return sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise WarehouseError(f"cannot parse SQL: {exc}") from exc


def _tables_in(tree: Any) -> set[str]:
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    return {t.name for t in tree.find_all(exp.Table) if t.name and t.name not in ctes}


@dataclass
class Op:
    """One recorded change to a data table, applied at commit in the order recorded.

    ``ord`` places it among the transaction's rows: staged rows carry their input order
    (``_wl_ord``), existing rows -1. An ``up`` op's rows start at ``ord``; a ``del`` op
    removes the rows recorded before it (``_wl_ord < ord``) that match ``sql``; an ``ins``
    op (INSERT … SELECT) becomes an ``up`` op at commit, its rows all at ``ord``."""

    kind: str  # "up" | "del" | "ins"
    ord: int
    paths: list[str] = field(default_factory=list)  # up: staged Parquet files / folders
    days: set[Any] = field(default_factory=set)  # up: the partition values of its rows
    sql: str = ""  # del: the condition; ins: the SELECT (Spark SQL, :name parameters)
    params: dict[str, Any] | None = None
    columns: tuple[str, ...] = ()  # ins: the target columns its SELECT fills, in order
    reads: frozenset[str] = frozenset()  # ins: the data tables its SELECT reads


Swap = tuple[str, str, str | None, list[Any] | None]  # table, staged folder, part, touched


def _meta_of(spec: TableSpec) -> TableMeta:
    part = spec.partition_by
    if part is not None and pa.types.is_timestamp(spec.arrow_schema.field(part).type):
        return TableMeta(spec.name, spec.arrow_schema, spec.primary_key, DAY_COLUMN, part)
    return TableMeta(spec.name, spec.arrow_schema, spec.primary_key, part)


def utc_day(column: Any) -> pa.Array:
    """The UTC day (date32) of each timestamp (microseconds since the epoch, 1970 on)."""
    micros = pc.cast(column, pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return pc.divide(micros, 86_400_000_000).cast(pa.int32()).cast(pa.date32())


class SparkTx:
    """A unit of work: control statements and rows are recorded, data batches staged as
    Parquet; :meth:`SparkEngine.transaction` applies them at the end (data, then control)."""

    def __init__(self, engine: SparkEngine) -> None:
        self.engine = engine
        self.id = uuid.uuid4().hex
        self.stage = engine.store.path("_staging", self.id)
        self.control: list[tuple[str, Any, Any]] = []  # ("sql", sql, params) | ("up", spec, t)
        self.data: dict[str, list[Op]] = {}  # table -> ops in order
        self.staged_files: list[str] = []
        self.clean: dict[str, bool] = {}
        self._days: dict[str, set[Any]] = {}
        self._ord = 0

    def upsert(self, spec: TableSpec, table: pa.Table) -> int:
        n = int(table.num_rows)
        if n == 0:
            return 0
        if spec.name in CONTROL_TABLES:
            self.control.append(("up", spec, table))
            return n
        self.engine.ensure(spec)
        meta = self.engine._meta(spec.name)
        assert meta is not None
        table = spec.conform(table)
        if meta.day_of is not None:
            table = table.append_column(DAY_COLUMN, utc_day(table.column(meta.day_of)))
        first = self._ord
        ords = pa.array(range(first, first + n), pa.int64())
        self._ord += n
        path = f"{self.stage}/in/{spec.name}/b{len(self.staged_files):06d}.parquet"
        self.engine.store.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with self.engine.store.fs.open(path, "wb") as f:
            pq.write_table(table.append_column(ORD, ords), f)
        self.staged_files.append(path)
        days: set[Any] = set()
        if meta.partition_by:  # the days this batch touches, known without a Spark job
            days = set(pc.unique(table.column(meta.partition_by)).to_pylist())
        # "clean": no key repeats within or across this transaction's batches of the table
        # (a key's day is fixed, so batches on disjoint days cannot share a key).
        unique = not spec.primary_key or (
            table.group_by(list(spec.primary_key)).aggregate([]).num_rows == n
        )
        seen = self._days.setdefault(spec.name, set())
        disjoint = not (days & seen) if meta.partition_by else spec.name not in self.data
        seen |= days
        self.clean[spec.name] = self.clean.get(spec.name, True) and unique and disjoint
        ops = self.data.setdefault(spec.name, [])
        if ops and ops[-1].kind == "up":
            ops[-1].paths.append(path)  # consecutive batches are read as one DataFrame
            ops[-1].days.update(days)
        else:
            ops.append(Op("up", first, [path], days))
        return n

    def execute(self, sql: str, params: Params = None) -> None:
        names = named_tables(sql)
        p = dict(params) if params else None
        if names <= CONTROL_TABLES:
            self.control.append(("sql", sql, p))
            return
        tree = _parse(sql)
        if isinstance(tree, exp.Delete) and len(names) == 1:
            where = tree.args.get("where")
            cond = where.this.sql(dialect="spark") if where is not None else "TRUE"
            self.data.setdefault(next(iter(names)), []).append(
                Op("del", self._ord, sql=cond, params=p)
            )
            return
        if isinstance(tree, exp.Insert):
            self._insert(tree, p)
            return
        raise WarehouseError(
            "the Spark engine runs only DELETE … WHERE on one data table and INSERT INTO "
            "<table> SELECT … in a transaction",
            hint="write data with upserts; gold tables are rebuilt by models",
        )

    def _insert(self, tree: exp.Insert, params: dict[str, Any] | None) -> None:
        """Record ``INSERT INTO t [(cols)] <query>``: evaluated at commit, after the tables
        its query reads are rewritten (see :meth:`SparkEngine.transaction`)."""
        target = tree.this
        schema = target if isinstance(target, exp.Schema) else None
        table = (schema.this if schema is not None else target).name
        query = tree.expression
        unsupported = [
            k for k in ("conflict", "returning", "overwrite", "alternative", "by_name", "where")
            if tree.args.get(k)
        ]  # fmt: skip
        if not table or query is None or unsupported or table in CONTROL_TABLES:
            raise WarehouseError(
                "the Spark engine runs INSERT INTO <data table> [(columns)] SELECT … only "
                f"(not {', '.join(unsupported) or 'this form'})",
                hint="write data with upserts; ON CONFLICT / OR REPLACE / RETURNING are not run",
            )
        reads = frozenset(_tables_in(query))
        if table in reads:
            raise WarehouseError(
                f"INSERT INTO {table} SELECT … FROM {table}: the Spark engine cannot read the "
                "table an INSERT writes in the same transaction",
                hint="select from the tables it is computed from instead",
            )
        if reads & CONTROL_TABLES:
            raise WarehouseError(
                f"INSERT INTO {table} reads control tables ({', '.join(sorted(reads & CONTROL_TABLES))})"
                " inside a transaction; the Spark engine cannot",
                hint="query the control tables first and upsert the rows",
            )
        meta = self.engine._meta(table)
        assert meta is not None
        columns = tuple(c.name for c in schema.expressions) if schema is not None else ()
        unknown = [c for c in columns if c not in meta.schema.names]
        if unknown:
            raise WarehouseError(f"INSERT INTO {table}: no column {unknown[0]!r}")
        select = transpile(query.sql(dialect="duckdb"), "spark")
        self.data.setdefault(table, []).append(
            Op("ins", self._ord, sql=select, params=params, columns=columns, reads=reads)
        )
        self._ord += 1
        self.clean[table] = False

    @contextmanager
    def unit(self) -> Iterator[None]:
        """A part of the transaction that is dropped if it raises (the error goes on): what
        it recorded is forgotten, what came before stays. (Runner's group commit: one file
        of several in a transaction fails alone.)"""
        saved = (
            len(self.control),
            {t: [replace(o, paths=list(o.paths), days=set(o.days)) for o in ops]
             for t, ops in self.data.items()},
            dict(self.clean),
            {t: set(d) for t, d in self._days.items()},
        )  # fmt: skip
        try:
            yield
        except BaseException:
            del self.control[saved[0] :]
            self.data, self.clean, self._days = saved[1], saved[2], saved[3]
            raise


class SparkEngine:
    dialect = "spark"
    group_commit = True  # a commit is a Spark job: the Runner loads several files per transaction

    def __init__(
        self,
        url: str = "spark+local[2]",
        *,
        lake_url: str | None = None,
        control_url: str | None = None,
        read_only: bool = False,
    ) -> None:
        from wattlake.config import get_settings

        master, opts = parse_url(url)
        s = get_settings()
        self.url = url
        self.read_only = read_only
        lake = lake_url or opts.get("lake") or s.lake_root
        control = control_url or opts.get("control") or os.environ.get("WATTLAKE_SPARK_CONTROL")
        control = control or f"duckdb:///{(s.home / 'control.duckdb').resolve()}"
        from wattlake.engines import connect

        if read_only and control.startswith("duckdb:///") and ":memory:" not in control:
            path = control.removeprefix("duckdb:///").partition("?")[0]
            if not os.path.exists(path):  # nothing loaded yet: an empty run log
                control = "duckdb:///:memory:"

        self.control: Engine = connect(control, read_only=read_only)
        self.store = TableStore(lake)
        self.spark = spark_session(master)
        self._specs: dict[str, TableMeta] = {}
        self._lock = threading.RLock()  # temp views are session-wide: one statement at a time

    # -- tables ------------------------------------------------------------------------
    def ensure(self, spec: TableSpec) -> None:
        if spec.name in CONTROL_TABLES:
            self.control.ensure(spec)
            return
        meta = _meta_of(spec)
        if self._specs.get(spec.name) == meta:
            return
        old = self.store.read_meta(spec.name)
        if old != meta:
            if old is not None:  # columns are only ever added; a reader fills them with null
                extra = [f for f in old.schema if f.name not in spec.column_names]
                meta = TableMeta(
                    spec.name, pa.schema([*spec.arrow_schema, *extra]), meta.primary_key,
                    meta.partition_by,
                )  # fmt: skip
            self.store.write_meta(meta)
        self.store.fs.makedirs(self.store.path(spec.name), exist_ok=True)
        self._specs[spec.name] = meta

    def watch(self) -> Changes | None:
        """None: other processes (Spark jobs, other drivers) write the lake's Parquet files
        without telling this one, so the API caches no answer over this engine."""
        return None

    def table_exists(self, name: str) -> bool:
        if name in CONTROL_TABLES:
            return self.control.table_exists(name)
        return self._meta(name, required=False) is not None

    def _meta(self, name: str, *, required: bool = True) -> TableMeta | None:
        meta = self._specs.get(name) or self.store.read_meta(name)
        if meta is None and required:
            raise WarehouseError(f"no table {name!r} in the lake at {self.store.root}")
        return meta

    def frame(self, name: str, *, storage: bool = False) -> Any:
        """The table as a DataFrame (its files listed now), columns in declared order
        (``storage``: with the derived day column, if any)."""
        meta = self._meta(name)
        assert meta is not None
        schema = meta.storage_schema if storage else meta.schema
        if not self.store.has_data(name):
            return self.spark.createDataFrame([], spark_schema(schema))
        df = self.spark.read.schema(spark_schema(meta.storage_schema)).parquet(self.store.url(name))
        return df.select(*[f.name for f in schema])

    def _views(self, names: set[str]) -> None:
        for name in names:
            if name in CONTROL_TABLES:
                if self.control.table_exists(name):
                    rows = self.control.query(f'SELECT * FROM "{name}"')
                    self.spark.createDataFrame(rows).createOrReplaceTempView(name)
            elif self._meta(name, required=False) is not None:
                self.frame(name).createOrReplaceTempView(name)

    # -- reads -------------------------------------------------------------------------
    def query(self, sql: str, params: Params = None) -> pa.Table:
        names = named_tables(sql)
        if names and names <= CONTROL_TABLES:
            return self.control.query(sql, params)
        with self._lock:
            try:
                self._views(names)
                df = self.spark.sql(transpile(sql, "spark"), args=dict(params or {}))
                return df.toArrow()
            except WarehouseError:
                raise
            except Exception as exc:
                raise WarehouseError(f"query failed: {_short(exc)}") from exc

    # -- writes ------------------------------------------------------------------------
    def _writable(self) -> None:
        if self.read_only:
            raise WarehouseError("this warehouse connection is read-only")

    @contextmanager
    def transaction(self) -> Iterator[SparkTx]:
        self._writable()
        with self._lock:
            tx = SparkTx(self)
            try:
                yield tx
                # Every table's partitions are written to staging first; only when all jobs
                # succeeded are they swapped in (renames), so the tables commit together.
                for swap in self._stage_all(tx):
                    if swap is not None:
                        self._swap(*swap)
                if tx.control:
                    with self.control.transaction() as ctl:
                        for kind, a, b in tx.control:
                            if kind == "sql":
                                ctl.execute(a, b)
                            else:
                                ctl.upsert(a, b)
            finally:
                self._discard(tx.stage)

    def _stage_all(self, tx: SparkTx) -> list[Swap | None]:
        """Write the new version of every table ``tx`` changes to staging, nothing swapped
        yet. Tables an INSERT … SELECT reads go first; the SELECT then sees their state after
        the transaction (untouched live partitions + the staged ones) and its rows are staged
        like an upsert batch of the target (the second phase)."""
        swaps: dict[str, Swap | None] = {}
        for table in _commit_order(tx.data):
            try:
                ops = [
                    self._stage_insert(tx, table, op, swaps) if op.kind == "ins" else op
                    for op in tx.data[table]
                ]
                swaps[table] = self._rewrite(tx, table, ops)
            except WarehouseError:
                raise
            except Exception as exc:
                raise WarehouseError(f"writing {table} failed: {_short(exc)}") from exc
        return list(swaps.values())

    def _stage_insert(self, tx: SparkTx, table: str, op: Op, swaps: dict[str, Swap | None]) -> Op:
        """Evaluate an INSERT's SELECT against the post-transaction state of what it reads and
        stage its rows (as Parquet, with their day and ``_wl_ord``); returns the ``up`` op."""
        from pyspark.sql import functions as F

        meta = self._meta(table)
        assert meta is not None
        for name in op.reads:
            if self._meta(name, required=False) is None:
                raise WarehouseError(f"INSERT INTO {table} reads {name!r}, which does not exist")
            self._post_frame(tx, name, swaps.get(name)).createOrReplaceTempView(name)
        df = self.spark.sql(op.sql, args=op.params or {})
        columns = op.columns or tuple(meta.schema.names)
        if len(df.columns) != len(columns):
            raise WarehouseError(
                f"INSERT INTO {table}: {len(columns)} columns but the SELECT gives {len(df.columns)}"
            )
        df = df.toDF(*columns).select(
            *[
                (F.col(f.name) if f.name in columns else F.lit(None))
                .cast(spark_type(f.type))
                .alias(f.name)
                for f in meta.schema
            ]
        )
        if meta.day_of is not None:  # the session is in UTC: to_date is the UTC day
            df = df.withColumn(DAY_COLUMN, F.to_date(F.col(meta.day_of)))
        name = f"ins{op.ord:012d}"
        df.withColumn(ORD, F.lit(op.ord).cast("long")).write.parquet(
            self.store.url("_staging", tx.id, "in", table, name)
        )
        path = f"{tx.stage}/in/{table}/{name}"
        days: set[Any] = set()
        if meta.partition_by:
            schema = spark_schema(meta.storage_schema.append(pa.field(ORD, pa.int64())))
            staged = self.spark.read.schema(schema).parquet(self.store.to_url(path))
            days = {r[0] for r in staged.select(meta.partition_by).distinct().collect()}
        return Op("up", op.ord, [path], days)

    def _post_frame(self, tx: SparkTx, name: str, swap: Swap | None) -> Any:
        """``name`` as it will be once ``tx`` commits: its live partitions that ``swap`` does
        not replace + the staged ones (its declared columns)."""
        from pyspark.sql import functions as F

        if swap is None:
            return self.frame(name)
        meta = self._meta(name)
        assert meta is not None
        _table, staged, part, touched = swap
        columns = [f.name for f in meta.schema]
        if any(p.endswith(".parquet") for p in self.store.fs.find(staged)):
            new = self.spark.read.schema(spark_schema(meta.storage_schema)).parquet(
                self.store.to_url(staged)
            )
        else:
            new = self.spark.createDataFrame([], spark_schema(meta.storage_schema))
        if part is None or touched is None:
            return new.select(*columns)
        replaced = F.col(part).isin([v for v in touched if v is not None])
        if None in touched:
            replaced = replaced | F.col(part).isNull()
        kept = self.frame(name, storage=True).where(~F.coalesce(replaced, F.lit(False)))
        return kept.unionByName(new).select(*columns)

    def upsert(self, spec: TableSpec, table: pa.Table) -> int:
        with self.transaction() as tx:
            return tx.upsert(spec, table)

    def execute(self, sql: str, params: Params = None) -> None:
        if named_tables(sql) <= CONTROL_TABLES:
            self.control.execute(sql, params)
            return
        with self.transaction() as tx:
            tx.execute(sql, params)

    def _rewrite(self, tx: SparkTx, table: str, ops: list[Op]) -> Swap | None:
        """Write the new version of the partitions of ``table`` that ``ops`` touch to staging
        (see the module doc); returns what :meth:`_swap` needs, None if nothing changes."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        meta = self._meta(table)
        assert meta is not None
        part = meta.partition_by
        schema = spark_schema(meta.storage_schema.append(pa.field(ORD, pa.int64())))
        live = self.frame(table, storage=True)
        ups = [op for op in ops if op.kind == "up"]
        dels = [op for op in ops if op.kind == "del"]
        paths = [self.store.to_url(p) for op in ups for p in op.paths]
        # all staged rows in one read: each carries its input position (_wl_ord)
        batch = self.spark.read.schema(schema).parquet(*paths) if paths else None
        # Which partitions change: those of the batches and those holding rows a DELETE hits.
        if part is None:
            touched: list[Any] | None = None
            if batch is None and not (dels and self._hit(live, dels).limit(1).count()):
                return None
            current = live
        else:
            values: set[Any] = set().union(*(op.days for op in ups))
            if dels:  # one job for all the DELETEs (a group commit has one per file)
                values |= {r[0] for r in self._hit(live, dels).select(part).distinct().collect()}
            if not values:
                return None
            touched = sorted(values, key=lambda v: (v is None, v))
            replaced = F.col(part).isin([v for v in touched if v is not None])
            if None in values:
                replaced = replaced | F.col(part).isNull()
            current = live.where(replaced)
        target = f"{tx.stage}/out/{table}"
        url = self.store.url("_staging", tx.id, "out", table)
        if self._only_new(tx, table, ops, part, touched):
            # Fast path (a backfill of new days): nothing to merge with, nothing to dedupe.
            assert batch is not None
            out = batch.drop(ORD).select(*[f.name for f in meta.storage_schema])
            if part is None:
                out.coalesce(self.spark.sparkContext.defaultParallelism).write.parquet(url)
            else:
                out.write.partitionBy(part).parquet(url)
            return table, target, part, touched
        # Last write per key wins (one window over all rows), then each DELETE removes the
        # surviving rows recorded before it that it matches: the result of applying the ops
        # one after another.
        df = current.withColumn(ORD, F.lit(-1).cast("long"))
        if batch is not None:
            df = df.unionByName(batch)
        keys = list(meta.primary_key)
        if keys and batch is not None:  # existing rows alone have distinct keys
            latest = Window.partitionBy(*keys).orderBy(F.col(ORD).desc())
            df = df.withColumn("_wl_rn", F.row_number().over(latest))
            df = df.where("_wl_rn = 1").drop("_wl_rn")
        for d in dels:
            df = self._where(df, f"NOT coalesce(({ORD} < {d.ord} AND ({d.sql})), false)", d.params)
        out = df.drop(ORD).select(*[f.name for f in meta.storage_schema])
        if part is None:
            out.coalesce(self.spark.sparkContext.defaultParallelism).write.parquet(url)
        else:
            out.repartition(part).write.partitionBy(part).parquet(url)
        return table, target, part, touched

    def _only_new(
        self, tx: SparkTx, table: str, ops: list[Op], part: str | None, touched: list[Any] | None
    ) -> bool:
        """Are the transaction's batches of ``table`` free of repeated keys, without DELETEs,
        and all on partitions that do not exist yet?"""
        if not tx.clean.get(table) or any(op.kind != "up" for op in ops):
            return False
        if part is None or touched is None:
            return not self.store.has_data(table)
        try:
            names = {p.rstrip("/").rsplit("/", 1)[-1] for p in self.store.fs.ls(
                self.store.path(table), detail=False
            )}  # fmt: skip
        except FileNotFoundError:
            return True
        return not any(partition_dir(part, v) in names for v in touched)

    def _where(self, df: Any, cond: str, params: dict[str, Any] | None) -> Any:
        view = f"_wl_v{uuid.uuid4().hex[:8]}"
        df.createOrReplaceTempView(view)
        try:  # spark.sql analyzes at once: the view can go right after
            return self.spark.sql(f"SELECT * FROM {view} WHERE {cond}", args=params or {})
        finally:
            self.spark.catalog.dropTempView(view)

    def _hit(self, df: Any, dels: list[Op]) -> Any:
        """The rows of ``df`` that any of the DELETEs ``dels`` match."""
        hits = [self._where(df, d.sql, d.params) for d in dels]
        out = hits[0]
        for h in hits[1:]:
            out = out.unionByName(h)
        return out

    def _swap(self, table: str, staged: str, part: str | None, touched: list[Any] | None) -> None:
        """Move the staged partitions into place (each by rename); swapped-out ones go to
        ``_trash`` and are deleted."""
        fs = self.store.fs
        live = self.store.path(table)
        trash = self.store.path("_trash", uuid.uuid4().hex)
        fs.makedirs(trash, exist_ok=True)
        try:
            if part is None or touched is None:
                if fs.exists(live):
                    fs.mv(live, f"{trash}/{table}", recursive=True)
                if fs.exists(staged):
                    fs.mv(staged, live, recursive=True)
                else:
                    fs.makedirs(live, exist_ok=True)
                return
            for value in touched:
                name = partition_dir(part, value)
                if fs.exists(f"{live}/{name}"):
                    fs.mv(f"{live}/{name}", f"{trash}/{name}", recursive=True)
                if fs.exists(f"{staged}/{name}"):
                    fs.mv(f"{staged}/{name}", f"{live}/{name}", recursive=True)
        finally:
            self._discard(trash)

    def _discard(self, path: str) -> None:
        try:
            if self.store.fs.exists(path):
                self.store.fs.rm(path, recursive=True)
        except OSError:
            pass

    # -- gold --------------------------------------------------------------------------
    def build(self, model: str) -> int:
        self._writable()
        m = load_model(model)
        with self._lock:
            tx_id = uuid.uuid4().hex
            staged = self.store.path("_staging", tx_id, "out", m.name)
            try:
                self._views(named_tables(m.sql))
                df = self.spark.sql(transpile(m.sql, "spark"))
                schema = df.limit(0).toArrow().schema
                df.write.mode("overwrite").parquet(self.store.url("_staging", tx_id, "out", m.name))
                self.store.write_meta(TableMeta(m.name, schema, (), None))
                self._specs.pop(m.name, None)
                self._swap(m.name, staged, None, None)
            except WarehouseError:
                raise
            except Exception as exc:
                raise WarehouseError(f"building {m.name} failed: {_short(exc)}") from exc
            finally:
                self._discard(self.store.path("_staging", tx_id))
            return int(self.frame(m.name).count())

    # -- distributed parsing -----------------------------------------------------------
    def parse_many(self, parser_for: Any, lake: Any, artifacts: list[Any]) -> dict[Any, Any]:
        """Parse ``artifacts`` on the executors; see :mod:`wattlake.engines.spark_parse`."""
        from wattlake.engines.spark_parse import parse_many

        return parse_many(self, parser_for, lake, artifacts)

    def close(self) -> None:
        self.control.close()


def _commit_order(data: dict[str, list[Op]]) -> list[str]:
    """The tables in an order where each comes after the tables its INSERTs read (those the
    transaction changes); a cycle is refused."""
    deps = {
        t: {r for op in ops if op.kind == "ins" for r in op.reads if r in data}
        for t, ops in data.items()
    }
    order: list[str] = []
    state: dict[str, int] = {}  # 1: visiting, 2: done

    def visit(t: str, path: list[str]) -> None:
        if state.get(t) == 2:
            return
        if state.get(t) == 1:
            cycle = " -> ".join([*path[path.index(t) :], t])
            raise WarehouseError(
                f"INSERT … SELECT statements in one transaction read each other's tables "
                f"(a cycle: {cycle})",
                hint="run them in separate transactions",
            )
        state[t] = 1
        for d in sorted(deps[t]):
            visit(d, [*path, t])
        state[t] = 2
        order.append(t)

    for t in data:
        visit(t, [])
    return order


def _short(exc: BaseException) -> str:
    """The first line of a (JVM) error: Spark's messages carry a stack trace."""
    text = str(exc).strip().splitlines()
    return text[0][:500] if text else type(exc).__name__
