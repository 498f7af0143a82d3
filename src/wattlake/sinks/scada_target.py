"""The SCADA target database (the original's "Alvo"): 10-minute statistics as signals.

Schema, created if missing, exactly the original's (SQLAlchemy models of the seed)::

    signal(id SERIAL PRIMARY KEY, name VARCHAR UNIQUE)            -- ix_signal_id, ix_signal_name
    data(timestamp TIMESTAMP, signal_id INTEGER REFERENCES signal(id), value FLOAT NOT NULL,
         PRIMARY KEY (timestamp, signal_id))                      -- ix_data_timestamp

Signal names are ``<column>_<agg>`` (``wind_speed_mean``, ``wind_speed_min``, ``…_max``,
``…_std``); missing signals are inserted in column order, then mean, min, max, std, so an empty
target gets the original's ids (wind_speed_mean = 1 … power_std = 8 with the defaults).

Several turbines: data fetched without a turbine (the source's default one) uses the plain
names above, so the target is exactly the original's and its readers work unchanged. A named
turbine's signals are prefixed with its id and a slash: ``WTG07/wind_speed_mean``. The schema
does not change; a reader of the original sees the default turbine, and a turbine's series is
one signal lookup away. ``data.timestamp`` is the bucket start in UTC without a zone (equal to
the source's clock when the source zone is UTC, the default). A statistic that is null (the
std of a bucket with fewer than two samples) is not written (``value`` is NOT NULL).

Loading (:meth:`ScadaTarget.push`): one transaction per day — missing signals, a binary COPY of
the day's rows into a temporary staging table, ``INSERT … ON CONFLICT (timestamp, signal_id)
DO UPDATE`` (rows whose value is unchanged are not rewritten), and the deletion of that day's
rows of those signals that the warehouse no longer has. Re-pushing a day changes nothing; a
corrected day overwrites; a failure rolls everything back. A ``duckdb:///file`` target (used
by the demo when no PostgreSQL is reachable) gets the same tables and the same upsert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from wattlake.errors import ConfigError, WarehouseError
from wattlake.redact import redact_url
from wattlake.sources.scada.schema import AGGREGATES, DEFAULT_TURBINE, signal_name

PG_DDL = (
    "CREATE TABLE IF NOT EXISTS signal (id SERIAL NOT NULL, name VARCHAR, PRIMARY KEY (id))",
    "CREATE INDEX IF NOT EXISTS ix_signal_id ON signal (id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ix_signal_name ON signal (name)",
    "CREATE TABLE IF NOT EXISTS data (timestamp TIMESTAMP WITHOUT TIME ZONE NOT NULL, "
    "signal_id INTEGER NOT NULL, value FLOAT NOT NULL, PRIMARY KEY (timestamp, signal_id), "
    "FOREIGN KEY (signal_id) REFERENCES signal (id))",
    "CREATE INDEX IF NOT EXISTS ix_data_timestamp ON data (timestamp)",
)
DUCKDB_DDL = (
    "CREATE SEQUENCE IF NOT EXISTS signal_id_seq START 1",
    "CREATE TABLE IF NOT EXISTS signal (id INTEGER PRIMARY KEY DEFAULT nextval('signal_id_seq'),"
    " name VARCHAR UNIQUE)",
    "CREATE TABLE IF NOT EXISTS data (timestamp TIMESTAMP NOT NULL, signal_id INTEGER NOT NULL, "
    "value DOUBLE NOT NULL, PRIMARY KEY (timestamp, signal_id))",
)
UPSERT = (
    "INSERT INTO data (timestamp, signal_id, value) SELECT timestamp, signal_id, value FROM {s} "
    "ORDER BY timestamp, signal_id "
    "ON CONFLICT (timestamp, signal_id) DO UPDATE SET value = EXCLUDED.value "
    "WHERE data.value IS DISTINCT FROM EXCLUDED.value"
)
COUNT_SPAN = (
    "SELECT count(*) FROM data WHERE signal_id IN ({ids}) AND timestamp >= {lo} "
    "AND timestamp < {hi}"
)
DELETE_STALE = (
    "DELETE FROM data WHERE signal_id IN ({ids}) AND timestamp >= {lo} AND timestamp < {hi} "
    "AND NOT EXISTS (SELECT 1 FROM {s} s WHERE s.timestamp = data.timestamp "
    "AND s.signal_id = data.signal_id)"
)


def signal_prefix(turbine: str) -> str:
    """``""`` for the source's default turbine (the original naming), else ``"<turbine>/"``."""
    return "" if turbine == DEFAULT_TURBINE else f"{turbine}/"


def target_names(turbine: str, columns: Sequence[str]) -> list[str]:
    """Signal names for ``columns`` in insertion order (column, then mean, min, max, std)."""
    p = signal_prefix(turbine)
    return [p + signal_name(c, a) for c in columns for a in AGGREGATES]


@dataclass
class PushResult:
    rows: int = 0  # rows in the day's batch (non-null statistics)
    changed: int = 0  # inserted or updated
    deleted: int = 0  # rows of the day the warehouse no longer has
    signals_created: int = 0


def long_rows(
    gold: pa.Table, turbine: str, columns: Sequence[str]
) -> tuple[list[str], list[tuple[datetime, str, float]]]:
    """Gold rows of one turbine → (signal names, [(timestamp, name, value)]), nulls dropped."""
    names = target_names(turbine, columns)
    prefix = signal_prefix(turbine)
    ts = pc.cast(gold.column("bucket_start_utc"), pa.timestamp("us")).to_pylist()
    sig = gold.column("signal").to_pylist()
    rows: list[tuple[datetime, str, float]] = []
    wanted = set(columns)
    for agg in AGGREGATES:
        for t, s, v in zip(ts, sig, gold.column(agg).to_pylist(), strict=True):
            if v is not None and s in wanted:
                rows.append((t, f"{prefix}{s}_{agg}", float(v)))
    return names, rows


class ScadaTarget:
    """A connection to the target database at ``url`` (``postgresql://…`` or ``duckdb:///…``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pg: Any = None
        self._duck: Any = None
        if url.startswith(("postgresql://", "postgres://")):
            import psycopg

            try:
                self._pg = psycopg.connect(url, connect_timeout=10)
            except psycopg.Error as exc:
                raise WarehouseError(
                    f"cannot reach the SCADA target {redact_url(url)}: {exc}",
                    hint="check --target / WATTLAKE_SCADA_TARGET and that the database exists",
                ) from exc
        elif url.startswith("duckdb://"):
            import duckdb

            path = url.removeprefix("duckdb://").removeprefix("/") or ":memory:"
            self._duck = duckdb.connect(path)
        else:
            raise ConfigError(
                f"unknown SCADA target URL {redact_url(url)!r}",
                hint="use postgresql://user@host/db (or duckdb:///path.duckdb)",
            )
        self.ensure()

    @property
    def kind(self) -> str:
        return "postgresql" if self._pg is not None else "duckdb"

    def __enter__(self) -> ScadaTarget:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._pg is not None:
            self._pg.close()
        if self._duck is not None:
            self._duck.close()

    def ensure(self) -> None:
        if self._pg is not None:
            with self._pg.transaction():
                for sql in PG_DDL:
                    self._pg.execute(sql)
        else:
            for sql in DUCKDB_DDL:
                self._duck.execute(sql)

    def push(
        self,
        gold: pa.Table,
        turbine: str,
        columns: Sequence[str],
        window_utc: tuple[datetime, datetime],
    ) -> PushResult:
        """Make the target hold exactly ``gold``'s statistics of ``columns`` for ``turbine`` in
        ``window_utc`` (bucket starts), in one transaction."""
        return self.push_day(gold, {turbine: columns}, window_utc)

    def push_day(
        self,
        gold: pa.Table,
        columns: Mapping[str, Sequence[str]],
        window_utc: tuple[datetime, datetime],
    ) -> PushResult:
        """Like :meth:`push` for several turbines (``{turbine: columns}``) in one transaction:
        ``gold`` holds their rows (``scada_10min`` columns)."""
        names: list[str] = []
        rows: list[tuple[datetime, str, float]] = []
        by_turbine = gold.column("turbine")
        for turbine, cols in columns.items():
            part = gold if len(columns) == 1 else gold.filter(pc.equal(by_turbine, turbine))
            n, r = long_rows(part, turbine, cols)
            names += n
            rows += r
        lo, hi = (t.astimezone(UTC).replace(tzinfo=None) for t in window_utc)
        if self._pg is not None:
            return self._push_pg(names, rows, lo, hi)
        return self._push_duckdb(names, rows, lo, hi)

    def _push_pg(
        self, names: list[str], rows: list[tuple[datetime, str, float]], lo: datetime, hi: datetime
    ) -> PushResult:
        result = PushResult(rows=len(rows))
        conn = self._pg
        with conn.transaction(), conn.cursor() as cur:
            ids = self._signal_ids_pg(cur, names, result)
            cur.execute(
                "CREATE TEMP TABLE _wl_scada_stage (timestamp TIMESTAMP, signal_id INTEGER, "
                "value DOUBLE PRECISION) ON COMMIT DROP"
            )
            with cur.copy("COPY _wl_scada_stage (timestamp, signal_id, value) FROM STDIN "
                          "(FORMAT BINARY)") as copy:  # fmt: skip
                copy.set_types(["timestamp", "int4", "float8"])
                for t, name, v in rows:
                    copy.write_row((t, ids[name], v))
            cur.execute(UPSERT.format(s="_wl_scada_stage"))
            result.changed = max(cur.rowcount, 0)
            id_list = ", ".join(str(int(i)) for i in ids.values()) or "NULL"
            span = {"lo": lo, "hi": hi}
            # Every staged row is in ``data`` now: more rows in the span means stale ones.
            cur.execute(COUNT_SPAN.format(ids=id_list, lo="%(lo)s", hi="%(hi)s"), span)
            row = cur.fetchone()
            if row is not None and int(row[0]) > len(rows):
                cur.execute("ANALYZE _wl_scada_stage")  # a hash anti-join, not a nested loop
                stale = DELETE_STALE.format(
                    ids=id_list, lo="%(lo)s", hi="%(hi)s", s="_wl_scada_stage"
                )
                cur.execute(stale, span)
                result.deleted = max(cur.rowcount, 0)
        return result

    @staticmethod
    def _signal_ids_pg(cur: Any, names: list[str], result: PushResult) -> dict[str, int]:
        cur.execute("SELECT name, id FROM signal WHERE name = ANY(%s)", [names])
        ids = {n: int(i) for n, i in cur.fetchall()}
        for name in names:  # one by one, in order: ids follow the original's order
            if name not in ids:
                cur.execute(
                    "INSERT INTO signal (name) VALUES (%s) ON CONFLICT (name) DO NOTHING "
                    "RETURNING id",
                    [name],
                )
                row = cur.fetchone()
                if row is None:  # inserted meanwhile by another loader
                    cur.execute("SELECT id FROM signal WHERE name = %s", [name])
                    row = cur.fetchone()
                else:
                    result.signals_created += 1
                ids[name] = int(row[0])
        return ids

    def _push_duckdb(
        self, names: list[str], rows: list[tuple[datetime, str, float]], lo: datetime, hi: datetime
    ) -> PushResult:
        result = PushResult(rows=len(rows))
        con = self._duck
        con.begin()
        try:
            have = dict(con.execute("SELECT name, id FROM signal").fetchall())
            for name in names:
                if name not in have:
                    (have[name],) = con.execute(
                        "INSERT INTO signal (name) VALUES (?) RETURNING id", [name]
                    ).fetchone()
                    result.signals_created += 1
            ids = {n: int(have[n]) for n in names}
            stage = pa.table(
                {
                    "timestamp": pa.array([r[0] for r in rows], pa.timestamp("us")),
                    "signal_id": pa.array([ids[r[1]] for r in rows], pa.int32()),
                    "value": pa.array([r[2] for r in rows], pa.float64()),
                }
            )
            con.register("_wl_scada_stage", stage)
            try:
                result.changed = int(con.execute(UPSERT.format(s="_wl_scada_stage")).fetchone()[0])
                id_list = ", ".join(str(i) for i in ids.values())
                if id_list:
                    sql = DELETE_STALE.format(ids=id_list, lo="?", hi="?", s="_wl_scada_stage")
                    result.deleted = int(con.execute(sql, [lo, hi]).fetchone()[0])
            finally:
                con.unregister("_wl_scada_stage")
            con.commit()
        except BaseException:
            con.rollback()
            raise
        return result
