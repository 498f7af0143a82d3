"""The Spark engine against DuckDB: the same pipelines on the same inputs give the same silver
and gold rows (row for row, floats to 1e-9); partition rewrites are idempotent and a failed
task leaves no half-written partition.

One Spark session (``local[2]``) for the whole module. Marked ``spark``: a quick local loop
runs ``pytest -m "not spark"``; without pyspark or Java these tests skip locally and FAIL in CI.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests._support import IN_CI, SAMPLES
from wattlake.config import Settings
from wattlake.engines import connect
from wattlake.engines.duckdb import DuckDBEngine
from wattlake.errors import WarehouseError
from wattlake.lake import Lake
from wattlake.pipeline import PipelineSpec, Runner
from wattlake.registry import PIPELINES, get_pipeline
from wattlake.tables import Column, TableSpec

pytestmark = pytest.mark.spark


def _spark_missing() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (the `spark` extra)"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime (java on PATH or JAVA_HOME)"
    return None


@pytest.fixture(scope="module")
def master() -> Iterator[str]:
    reason = _spark_missing()
    if reason:
        if IN_CI:
            pytest.fail(f"CI requires Spark: {reason}")
        pytest.skip(reason)
    from wattlake.engines.spark import spark_session

    spark_session("local[2]")  # started once for the module; engines reuse it
    yield "spark+local[2]"


class Pair:
    """A DuckDB runner and a Spark runner, each on its own lake and home."""

    def __init__(self, master: str, root: Path) -> None:
        from wattlake.engines.spark import SparkEngine

        self.runners: dict[str, Runner] = {}
        for kind in ("duckdb", "spark"):
            home = root / kind
            settings = Settings(home=home)
            lake = str(home / "lake")
            engine: Any
            if kind == "duckdb":
                engine = connect("duckdb:///:memory:")
            else:
                engine = SparkEngine(master, lake_url=lake, control_url="duckdb:///:memory:")
            self.runners[kind] = Runner(engine, Lake(lake), settings)

    def both(self, fn: Callable[[Runner], Any]) -> None:
        for runner in self.runners.values():
            fn(runner)

    def assert_same(self, spec: PipelineSpec) -> dict[str, int]:
        counts = {}
        for name in [t.name for t in spec.tables] + list(spec.models):
            duck = rows(self.runners["duckdb"], name)
            spark = rows(self.runners["spark"], name)
            assert len(duck) == len(spark), name
            for a, b in zip(duck, spark, strict=True):
                assert_row_equal(a, b, name)
            counts[name] = len(duck)
        return counts

    def close(self) -> None:
        for r in self.runners.values():
            r.close()


def rows(runner: Runner, table: str) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = runner.engine.query(f'SELECT * FROM "{table}"').to_pylist()
    return sorted(got, key=sort_key)


def sort_key(row: dict[str, Any]) -> tuple[Any, ...]:
    out: list[Any] = []
    for v in row.values():
        if isinstance(v, float):
            v = round(v, 6)
        out.append((v is None, "" if v is None else str(v)))
    return tuple(out)


def assert_row_equal(a: dict[str, Any], b: dict[str, Any], table: str) -> None:
    assert list(a) == list(b), f"{table}: columns differ"
    for k, x in a.items():
        y = b[k]
        if isinstance(x, float) and isinstance(y, float):
            assert (math.isnan(x) and math.isnan(y)) or abs(x - y) <= 1e-9, (table, k, x, y)
        else:
            assert x == y, (table, k, x, y, a)


@pytest.fixture
def pair(master: str, tmp_path: Path) -> Iterator[Pair]:
    p = Pair(master, tmp_path)
    yield p
    p.close()


# -- every pipeline: Spark == DuckDB ------------------------------------------------------


# Pipelines the Spark engine cannot run yet, with the reason (kept visible on purpose).
NOT_YET: dict[str, str] = {}


def count_parses(engine: Any) -> list[int]:
    """Record how many artifacts each call of the engine's distributed parse got."""
    parsed: list[int] = []
    parse_many = engine.parse_many

    def counting(parser_for: Any, lake: Any, artifacts: list[Any]) -> Any:
        parsed.append(len(artifacts))
        return parse_many(parser_for, lake, artifacts)

    engine.parse_many = counting
    return parsed


def count_commits(engine: Any) -> list[int]:
    """Record, for each Spark transaction that changes data, how many tables it rewrites."""
    commits: list[int] = []
    stage_all = engine._stage_all

    def counting(tx: Any) -> Any:
        if tx.data:
            commits.append(len(tx.data))
        return stage_all(tx)

    engine._stage_all = counting
    return commits


def test_every_registered_pipeline_is_covered() -> None:
    missing = set(PIPELINES) - set(COVERED) - set(NOT_YET)
    assert not missing, f"add a Spark equality test for {missing}"


def test_meter_files_same_rows(pair: Pair, tmp_path: Path) -> None:
    from wattlake.sources.meter_files.generate import generate

    spec = get_pipeline("meter-files")
    inputs = [generate(tmp_path / "gen", meters=2, days=3)[0].parent]
    if (SAMPLES / "meter_files").is_dir():
        inputs.append(SAMPLES / "meter_files")
    parsed = count_parses(pair.runners["spark"].engine)
    commits = count_commits(pair.runners["spark"].engine)
    pair.both(lambda r: r.ingest_files(spec, inputs))
    counts = pair.assert_same(spec)
    assert counts["meter_reads"] > 1000 and counts["meter_daily"] > 0
    assert parsed and parsed[0] >= 4  # the files were parsed on the executors, all at once
    assert len(commits) < parsed[0]  # and loaded several per transaction (group commit)


def test_hosting_capacity_same_rows_through_changes(pair: Pair, tmp_path: Path) -> None:
    from wattlake.sources.hosting_capacity import generate
    from wattlake.sources.hosting_capacity.pipeline import landing_folder, refresh

    spec = get_pipeline("hosting-capacity")
    real = SAMPLES / "hosting_capacity" / "esource_case_study"
    utilities = ["coned", "cenhud", "oru"] if real.is_dir() else ["utility1", "utility2", "coned"]
    gen = tmp_path / "gen"
    generate(gen, utilities, scale=0.05, seed=3)

    def fill(r: Runner) -> None:
        land = landing_folder(r)
        shutil.copytree(gen, land, dirs_exist_ok=True)
        for path in sorted(real.glob("*.csv")) if real.is_dir() else []:
            (land / path.name.split("_")[0]).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, land / path.name.split("_")[0] / path.name)
        assert refresh(r).status == "ok"

    parsed = count_parses(pair.runners["spark"].engine)
    pair.both(fill)
    first = pair.assert_same(spec)
    assert first["ders"] > 0 and first["feeder_summary"] > 0
    assert parsed and parsed[0] >= 3  # sync_folder parsed the new files on the executors

    def change(r: Runner) -> None:  # one file removed, one rewritten with fewer rows
        land = landing_folder(r)
        files = sorted(p for p in land.rglob("*") if p.is_file())
        files[0].unlink()
        lines = files[1].read_text().splitlines(keepends=True)
        files[1].write_text("".join(lines[: max(2, len(lines) // 2)]))
        assert refresh(r).status == "ok"

    pair.both(change)
    assert pair.assert_same(spec) != first
    assert parsed[1:] == []  # one changed file: parsed in place, no distributed job


def test_caiso_same_rows(pair: Pair) -> None:
    from wattlake.sims.oasis import OasisSim
    from wattlake.sources.caiso.pipeline import backfill, ingest

    spec = get_pipeline("caiso-lmp")
    zips = sorted((SAMPLES / "caiso").glob("*.zip")) if (SAMPLES / "caiso").is_dir() else []
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with OasisSim(rate_limit_s=0.02, all_nodes_count=5, now=now) as sim:

        def fill(r: Runner) -> None:
            if zips:
                ingest(r, zips)
            start, end = dt.date(2025, 10, 31), dt.date(2025, 11, 4)  # with the fall-back day
            result = backfill(
                r, start, end, all_nodes=True, base_url=sim.base_url, min_interval_s=0.04
            )
            assert not result.run.failed_steps

        pair.both(fill)
    counts = pair.assert_same(spec)
    assert counts["lmp"] >= 5 * (3 * 24 + 25) and counts["lmp_daily"] >= 5 * 4


def test_green_button_same_rows(pair: Pair, tmp_path: Path) -> None:
    from wattlake.sources.espi.generate import write_feed_file
    from wattlake.sources.espi.pipeline import ingest

    spec = get_pipeline("green-button")
    gen = tmp_path / "gb"
    gen.mkdir()
    # a DST day (2021-03-14 is 23 h in Pacific time), net metering: forward and reverse
    write_feed_file(gen / "nem.xml", 3 * 24 * 2, net_metering=True, interval_s=3600,
                    first_day=dt.date(2021, 3, 13))  # fmt: skip
    write_feed_file(gen / "gas.xml", 20, gas=True, subscription="5002")
    inputs = [gen]
    if (SAMPLES / "espi").is_dir():
        inputs.append(SAMPLES / "espi")
    pair.both(lambda r: ingest(r, inputs))
    counts = pair.assert_same(spec)
    assert counts["interval_reads"] > 100 and counts["usage_daily"] > 0


def scada_rows(start: dt.datetime, days: int, *, corrected: bool = False) -> list[tuple[Any, ...]]:
    """A turbine's minutes for the stand-in: a first bin with one wind sample (null std),
    five missing minutes; ``corrected``: 00:13 power changed and 00:14 gone."""
    out = []
    for i in range(days * 1440):
        if 20 <= i < 25 or (corrected and i == 14):
            continue
        wind = None if i < 10 and i != 3 else 4.0 + (i % 17) * 0.37 + i * 1e-4
        power = 1777.7 if corrected and i == 13 else 900.0 + (i % 29) * 31.3
        out.append((start + dt.timedelta(minutes=i), wind, power, 15.0))
    return out


def test_scada_same_rows_rerun_and_correction(pair: Pair) -> None:
    from wattlake.sims.scada_source import ScadaSourceSim
    from wattlake.sources.scada.pipeline import plan, read_gold, rebuild_window, run_days

    spec = get_pipeline("scada")
    day, start = dt.date(2024, 5, 20), dt.datetime(2024, 5, 20)
    lo, hi = start.replace(tzinfo=dt.UTC), start.replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
    turbines = ["WTG01", "WTG02"]
    spark = pair.runners["spark"]
    with ScadaSourceSim(turbines=2, days=2) as sim:
        sim.load_rows(scada_rows(start, 2), turbine="WTG02")

        def run(days: list[dt.date], names: list[str], loads: int | None = None) -> None:
            for r in pair.runners.values():
                result = run_days(r, plan(days, turbines=names), base_url=sim.base_url,
                                  refresh=True)  # fmt: skip
                assert not result.run.failed_steps
                assert loads is None or sum(not x.skipped for x in result.reports) == loads

        run([day, day + dt.timedelta(days=1)], turbines)
        first = pair.assert_same(spec)
        assert first["scada_samples"] > 4 * 2500 and first["scada_10min"] > 2 * 2 * 2 * 130
        one = spark.engine.query(
            "SELECT count, std FROM scada_10min WHERE turbine = 'WTG02' AND "
            "signal = 'wind_speed' AND bucket_start_utc = $t",
            {"t": lo},
        ).to_pylist()
        assert one == [{"count": 1, "std": None}]  # stddev_samp of one sample is null
        # what the sink pushes
        gold = [read_gold(r.engine, turbines, lo, hi).to_pylist() for r in pair.runners.values()]
        assert len(gold[0]) == len(gold[1]) > 2 * 2 * 130
        for a, b in zip(*gold, strict=True):
            assert_row_equal(a, b, "read_gold")
        # a re-run of the day: fetched again, the same bytes, nothing loaded or changed
        before = rows(spark, "scada_10min")
        run([day], turbines, loads=0)
        # recomputing the day's buckets (DELETE + INSERT … SELECT in one transaction) again
        rebuild_window(spark.engine, "WTG02", lo, hi)
        assert rows(spark, "scada_10min") == before
        # the source corrects the day: it loads again and overwrites
        sim.load_rows(scada_rows(start, 2, corrected=True), turbine="WTG02")
        run([day], ["WTG02"], loads=1)
    after = pair.assert_same(spec)
    assert after["scada_samples"] == first["scada_samples"] - 2  # 00:14 gone, both signals
    changed = {(r["signal"], r["bucket_start_utc"]) for r in rows(spark, "scada_10min")} ^ {
        (r["signal"], r["bucket_start_utc"]) for r in before
    }
    assert not changed  # the same buckets …
    moved = [
        (a["signal"], a["bucket_start_utc"].minute)
        for a, b in zip(before, rows(spark, "scada_10min"), strict=True)
        if a != b
    ]
    assert sorted(moved) == [("power", 10), ("wind_speed", 10)]  # … only 00:10 recomputed


COVERED = {
    "meter-files": test_meter_files_same_rows,
    "hosting-capacity": test_hosting_capacity_same_rows_through_changes,
    "caiso-lmp": test_caiso_same_rows,
    "green-button": test_green_button_same_rows,
    "scada": test_scada_same_rows_rerun_and_correction,
}

# -- partition rewrites -------------------------------------------------------------------

READINGS = TableSpec(
    "wl_test_readings",
    (
        Column("meter", pa.string()),
        Column("at", pa.timestamp("us", tz="UTC")),
        Column("day", pa.date32()),
        Column("value", pa.float64()),
        Column("_source_file", pa.string()),
    ),
    primary_key=("meter", "at"),
    partition_by="day",
)


def readings(days: list[int], value: float, source: str = "f1") -> pa.Table:
    ats = [dt.datetime(2025, 1, d, h) for d in days for h in range(3)]
    return pa.table(
        {
            "meter": ["m1"] * len(ats),
            "at": pa.array(ats, pa.timestamp("us", tz="UTC")),
            "day": [a.date() for a in ats],
            "value": [value + i for i in range(len(ats))],
            "_source_file": [source] * len(ats),
        }
    )


@pytest.fixture
def spark_engine(master: str, tmp_path: Path) -> Iterator[Any]:
    from wattlake.engines.spark import SparkEngine

    engine = SparkEngine(master, lake_url=str(tmp_path / "lake"), control_url="duckdb:///:memory:")
    engine.ensure(READINGS)
    yield engine
    engine.close()


def files_of(engine: Any, table: str) -> dict[str, list[str]]:
    root = Path(engine.store.path(table))
    return {
        d.name: sorted(f.name for f in d.iterdir() if f.suffix == ".parquet")
        for d in sorted(root.iterdir())
        if d.is_dir()
    }


def test_upsert_rewrites_only_touched_partitions_and_is_idempotent(spark_engine: Any) -> None:
    spark_engine.upsert(READINGS, readings([1, 2, 3], 10.0))
    before = files_of(spark_engine, READINGS.name)
    assert sorted(before) == ["day=2025-01-01", "day=2025-01-02", "day=2025-01-03"]
    # re-upsert day 2 with new values, twice: the same rows, days 1 and 3 not rewritten
    for _ in range(2):
        spark_engine.upsert(READINGS, readings([2], 100.0))
        after = files_of(spark_engine, READINGS.name)
        assert after["day=2025-01-01"] == before["day=2025-01-01"]
        assert after["day=2025-01-03"] == before["day=2025-01-03"]
        got = spark_engine.query(
            "SELECT day, count(*) AS n, sum(value) AS s FROM wl_test_readings GROUP BY day ORDER BY day"
        ).to_pylist()
        assert [(r["n"], r["s"]) for r in got] == [(3, 33.0), (3, 303.0), (3, 51.0)]
    # the last row of a key repeated in a batch wins
    batch = pa.concat_tables([readings([3], 1.0), readings([3], 7.0)])
    spark_engine.upsert(READINGS, batch)
    vals = (
        spark_engine.query(
            "SELECT value FROM wl_test_readings WHERE day = $d ORDER BY at",
            {"d": dt.date(2025, 1, 3)},
        )
        .column(0)
        .to_pylist()
    )
    assert vals == [7.0, 8.0, 9.0]
    # DELETE by source file rewrites the partitions holding its rows
    spark_engine.upsert(READINGS, readings([4], 0.0, source="f2"))
    spark_engine.execute("DELETE FROM wl_test_readings WHERE _source_file = $f", {"f": "f2"})
    assert "day=2025-01-04" not in files_of(spark_engine, READINGS.name)
    assert spark_engine.query("SELECT count(*) FROM wl_test_readings").column(0)[0].as_py() == 9


def test_failed_task_leaves_no_half_written_partition(spark_engine: Any) -> None:
    spark_engine.upsert(READINGS, readings([1, 2], 10.0))
    before_rows = spark_engine.query("SELECT * FROM wl_test_readings ORDER BY at").to_pylist()
    before_files = files_of(spark_engine, READINGS.name)
    with pytest.raises(WarehouseError), spark_engine.transaction() as tx:
        tx.upsert(READINGS, readings([1], 50.0))
        tx.upsert(READINGS, readings([2, 3], 60.0))
        # a batch file the Spark job will read is corrupted: that task fails mid-job
        Path(tx.staged_files[-1]).write_bytes(b"PAR1 not parquet at all PAR1")
    assert (
        spark_engine.query("SELECT * FROM wl_test_readings ORDER BY at").to_pylist() == before_rows
    )
    assert files_of(spark_engine, READINGS.name) == before_files
    staging = Path(spark_engine.store.path("_staging"))
    assert not staging.exists() or not any(staging.iterdir())


def test_control_tables_live_in_the_control_database(pair: Pair) -> None:
    spark = pair.runners["spark"]
    run = spark.runs.start("x")
    run.finish()
    control = spark.engine.control  # type: ignore[attr-defined]
    assert isinstance(control, DuckDBEngine)
    assert control.query("SELECT status FROM runs").column(0).to_pylist() == ["ok"]
    assert not Path(spark.engine.store.path("runs")).exists()  # type: ignore[attr-defined]
    # a query joining control and data tables runs on Spark
    spark.engine.ensure(READINGS)
    spark.engine.upsert(READINGS, readings([1], 1.0))
    got = spark.engine.query(
        "SELECT r.status, count(*) AS n FROM runs r, wl_test_readings w GROUP BY r.status"
    ).to_pylist()
    assert got == [{"status": "ok", "n": 3}]
    # every engine works in UTC
    assert spark.engine.query("SELECT current_timezone() AS tz").column(0)[0].as_py() == "UTC"


def test_duckdb_serves_the_parquet_spark_wrote(pair: Pair, tmp_path: Path) -> None:
    from wattlake.sources.meter_files.generate import generate

    spec = get_pipeline("meter-files")
    folder = generate(tmp_path / "gen", meters=1, days=2)[0].parent
    spark = pair.runners["spark"]
    spark.ingest_files(spec, [folder])
    light = connect(f"duckdb:///:memory:?parquet={spark.lake.url}", read_only=True)  # as `sql`
    try:
        for name in ("meter_reads", "meter_daily"):
            want = rows(spark, name)
            got = sorted(light.query(f'SELECT * FROM "{name}"').to_pylist(), key=sort_key)
            assert len(got) == len(want) > 0
            for a, b in zip(want, got, strict=True):
                assert_row_equal(a, b, name)
    finally:
        light.close()


def test_cli_runs_on_spark(master: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from wattlake.cli import app
    from wattlake.config import get_settings
    from wattlake.sources.meter_files.generate import write_lp

    monkeypatch.setenv("WATTLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WATTLAKE_WAREHOUSE", master)
    get_settings.cache_clear()
    try:
        f = tmp_path / "LP_7_x.csv"
        write_lp(f, "7", "P7", dt.date(2025, 3, 1), 1)
        cli = CliRunner()
        r = cli.invoke(app, ["ingest", "meter-files", str(f)])
        assert r.exit_code == 0, r.output
        r = cli.invoke(
            app,
            ["sql", "SELECT count(*) AS n, min(local_date) AS d FROM meter_reads", "-f", "json"],
        )
        assert r.exit_code == 0, r.output
        got = json.loads(r.output)
        assert got[0]["n"] > 0 and got[0]["d"] == "2025-03-01"
        assert (tmp_path / "home" / "lake" / "tables" / "meter_reads").is_dir()
        assert (tmp_path / "home" / "control.duckdb").is_file()
        r = cli.invoke(app, ["runs", "-f", "json"])
        assert r.exit_code == 0 and json.loads(r.output)[0]["status"] == "ok", r.output
    finally:
        get_settings.cache_clear()


# -- INSERT … SELECT in a transaction (the second phase) ------------------------------------

DAILY = TableSpec(
    "wl_test_daily",
    (
        Column("day", pa.date32()),
        Column("n", pa.int64()),
        Column("total", pa.float64()),
        Column("note", pa.string()),
    ),
    primary_key=("day",),
    partition_by="day",
)


def test_insert_select_sees_the_transactions_other_tables(spark_engine: Any) -> None:
    spark_engine.ensure(DAILY)
    spark_engine.upsert(READINGS, readings([1, 2], 10.0))
    summary = (
        "INSERT INTO wl_test_daily (day, n, total) SELECT day, count(*), sum(value) "
        "FROM wl_test_readings WHERE day >= $d GROUP BY day"
    )
    with spark_engine.transaction() as tx:
        tx.execute(summary, {"d": dt.date(2025, 1, 2)})  # recorded before the readings change
        tx.upsert(READINGS, readings([2, 3], 100.0))
        tx.execute("DELETE FROM wl_test_readings WHERE day = $d", {"d": dt.date(2025, 1, 1)})
    got = spark_engine.query("SELECT * FROM wl_test_daily ORDER BY day").to_pylist()
    # evaluated on the readings as the transaction left them: day 2 and 3 at 100.0 + i
    assert got == [
        {"day": dt.date(2025, 1, 2), "n": 3, "total": 303.0, "note": None},
        {"day": dt.date(2025, 1, 3), "n": 3, "total": 312.0, "note": None},
    ]
    assert sorted(files_of(spark_engine, "wl_test_daily")) == ["day=2025-01-02", "day=2025-01-03"]
    assert spark_engine.query("SELECT count(*) FROM wl_test_readings").column(0)[0].as_py() == 6
    # again, with the old rows deleted first: idempotent
    with spark_engine.transaction() as tx:
        tx.execute("DELETE FROM wl_test_daily WHERE day >= $d", {"d": dt.date(2025, 1, 2)})
        tx.execute(summary, {"d": dt.date(2025, 1, 2)})
    assert spark_engine.query("SELECT * FROM wl_test_daily ORDER BY day").to_pylist() == got
    spark_engine.execute(summary, {"d": dt.date(2030, 1, 1)})  # a SELECT with no rows
    assert spark_engine.query("SELECT * FROM wl_test_daily ORDER BY day").to_pylist() == got


@pytest.mark.parametrize(
    ("statements", "message"),
    [
        (["INSERT INTO wl_test_readings SELECT * FROM wl_test_readings"], "cannot read the table"),
        (["INSERT INTO wl_test_daily (day) SELECT started_at FROM runs"], "control tables"),
        (["INSERT INTO wl_test_daily (day) VALUES ('2025-01-01') ON CONFLICT DO NOTHING"],
         "INSERT INTO <data table>"),
        (["UPDATE wl_test_daily SET n = 1"], "only DELETE"),
        (["INSERT INTO wl_test_daily (day) SELECT day FROM wl_test_readings",
          "INSERT INTO wl_test_readings (day) SELECT day FROM wl_test_daily"], "a cycle"),
    ],
)  # fmt: skip
def test_unsupported_statements_are_refused(
    spark_engine: Any, statements: list[str], message: str
) -> None:
    spark_engine.ensure(DAILY)
    with pytest.raises(WarehouseError, match=message), spark_engine.transaction() as tx:
        for sql in statements:
            tx.execute(sql)
    assert not spark_engine.store.has_data("wl_test_daily")


def test_a_unit_of_a_transaction_is_dropped_alone(spark_engine: Any) -> None:
    with spark_engine.transaction() as tx:
        tx.upsert(READINGS, readings([1], 1.0))
        with pytest.raises(ValueError), tx.unit():
            tx.upsert(READINGS, readings([2], 2.0))
            tx.execute("DELETE FROM wl_test_readings WHERE day = $d", {"d": dt.date(2025, 1, 1)})
            raise ValueError("this file fails")
        tx.upsert(READINGS, readings([3], 3.0))
    got = spark_engine.query("SELECT day, count(*) AS n FROM wl_test_readings GROUP BY day")
    assert sorted(got.to_pylist(), key=lambda r: r["day"]) == [
        {"day": dt.date(2025, 1, 1), "n": 3},
        {"day": dt.date(2025, 1, 3), "n": 3},
    ]


# -- group commit -------------------------------------------------------------------------


def silver_steps(run: Any) -> list[tuple[str, str]]:
    return [(s.target, s.status) for s in run.steps if s.name == "silver"]


def parse_leftovers(engine: Any) -> list[str]:
    """Whatever distributed parsing left under ``_staging`` (``parse-*`` files and folders)."""
    staging = Path(engine.store.path("_staging"))
    return sorted(
        str(p.relative_to(staging))
        for p in staging.rglob("*")
        if p.relative_to(staging).parts[0].startswith("parse-")
    )


def test_group_commit_with_a_file_that_fails_to_parse(pair: Pair, tmp_path: Path) -> None:
    from wattlake.sources.meter_files.generate import generate

    spec = get_pipeline("meter-files")
    folder = generate(tmp_path / "gen", meters=2, days=2)[0].parent
    (folder / "LP_9_bad.csv").write_text("not,a,meter,file\n1,2,3,4\n")
    commits = count_commits(pair.runners["spark"].engine)
    got = {kind: r.ingest_files(spec, [folder]) for kind, r in pair.runners.items()}
    runs = {kind: run for kind, (run, _reports) in got.items()}
    assert silver_steps(runs["spark"]) == silver_steps(runs["duckdb"])
    assert ("LP_9_bad.csv", "failed") in silver_steps(runs["spark"])
    assert sum(st == "ok" for _t, st in silver_steps(runs["spark"])) == 4
    assert len(commits) == 1  # the five files: one transaction
    counts = pair.assert_same(spec)
    assert counts["meter_reads"] > 0
    spark = pair.runners["spark"]
    loaded = spark.engine.query(
        "SELECT key FROM lake_manifest WHERE loaded_at IS NOT NULL ORDER BY key"
    ).column(0)
    assert len(loaded) == 4 and "LP_9_bad.csv" not in loaded.to_pylist()
    (row,) = (
        spark.runs.steps(runs["spark"].run_id)
        .filter(pa.compute.equal(pa.compute.field("target"), "LP_9_bad.csv"))
        .filter(pa.compute.equal(pa.compute.field("step"), "silver"))
        .to_pylist()
    )
    assert "unrecognised meter file header" in row["error"]
    # the step error (and the report's note, what the CLI shows) is that of a serial parse:
    # "InputError: LP_9_bad.csv: unrecognised … — expected …", not "WattlakeError: InputError: …"
    bad = ("silver", "LP_9_bad.csv")
    (want,) = [s.error for s in runs["duckdb"].steps if (s.name, s.target) == bad]
    assert want is not None and want.startswith("InputError: LP_9_bad.csv: unrecognised")
    assert row["error"] == want
    notes = {
        kind: [r.note for r in reports if r.source_file == "LP_9_bad.csv"]
        for kind, (_run, reports) in got.items()
    }
    assert notes["spark"] == notes["duckdb"] == [want]
    # the staged batches are gone, the failed file's and the loaded ones', folders too
    assert parse_leftovers(spark.engine) == []


def test_group_commit_that_fails_leaves_nothing(pair: Pair, tmp_path: Path) -> None:
    from contextlib import contextmanager

    from wattlake.sources.meter_files.generate import generate

    spec = get_pipeline("meter-files")
    folder = generate(tmp_path / "gen", meters=2, days=2)[0].parent
    spark = pair.runners["spark"]
    engine: Any = spark.engine
    real = engine.transaction

    @contextmanager
    def sabotaged() -> Iterator[Any]:
        with real() as tx:
            yield tx
            if tx.staged_files:  # a batch the commit's job reads: one task fails mid-job
                Path(tx.staged_files[-1]).write_bytes(b"PAR1 not parquet at all PAR1")

    engine.transaction = sabotaged
    run, reports = spark.ingest_files(spec, [folder])
    engine.transaction = real
    steps = silver_steps(run)
    assert len(steps) == 4 and {st for _t, st in steps} == {"failed"}
    assert all(r.rows_loaded == 0 and "writing" in (r.note or "") for r in reports)
    assert not engine.store.has_data("meter_reads")
    assert (
        spark.engine.query("SELECT count(*) FROM lake_manifest WHERE loaded_at IS NOT NULL")
        .column(0)[0]
        .as_py()
        == 0
    )
    staging = Path(engine.store.path("_staging"))
    assert not any(p.suffix == ".parquet" for p in staging.rglob("*"))
    assert parse_leftovers(engine) == []
    # the next run loads them all
    pair.both(lambda r: r.ingest_files(spec, [folder]))
    assert pair.assert_same(spec)["meter_reads"] > 0
    assert parse_leftovers(engine) == []


def test_failing_writes_leave_no_staged_parse_and_old_leftovers_are_swept(
    pair: Pair, tmp_path: Path
) -> None:
    from contextlib import contextmanager

    from wattlake.engines.spark import CONTROL_TABLES
    from wattlake.sources.meter_files.generate import generate

    spec = get_pipeline("meter-files")
    folder = generate(tmp_path / "gen", meters=2, days=2)[0].parent
    spark = pair.runners["spark"]
    engine: Any = spark.engine
    # what earlier runs left: one a day and more old (swept), one young (another process's)
    staging = Path(engine.store.path("_staging"))
    for name in ("parse-old", "parse-young"):
        (staging / name / "0" / "meter_reads").mkdir(parents=True)
        (staging / name / "0" / "meter_reads" / "000000.parquet").write_bytes(b"PAR1")
    past = dt.datetime.now().timestamp() - 2 * 86_400
    for p in (staging / "parse-old").rglob("*"):
        os.utime(p, (past, past))
    os.utime(staging / "parse-old", (past, past))
    real = engine.transaction

    @contextmanager
    def failing_writes() -> Iterator[Any]:
        with real() as tx:
            real_upsert = tx.upsert

            def upsert(spec: TableSpec, table: pa.Table) -> int:
                if spec.name in CONTROL_TABLES:  # the run log, rejects, manifest
                    return int(real_upsert(spec, table))
                raise WarehouseError("the warehouse refused the batch")

            tx.upsert = upsert  # every file's rows fail to be written, after its replay began
            yield tx

    engine.transaction = failing_writes
    try:
        parsed = count_parses(engine)
        run, reports = spark.ingest_files(spec, [folder])
    finally:
        engine.transaction = real
    assert parsed == [4]  # parsed on the executors
    steps = silver_steps(run)
    assert len(steps) == 4 and {st for _t, st in steps} == {"failed"}
    assert all("the warehouse refused the batch" in (r.note or "") for r in reports)
    # nothing staged is left but the young folder of "another process"
    assert parse_leftovers(engine) == [
        "parse-young",
        "parse-young/0",
        "parse-young/0/meter_reads",
        "parse-young/0/meter_reads/000000.parquet",
    ]


def test_cli_runs_scada_on_spark(
    master: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from tests.scada.etl_support import pg_database, target_rows
    from wattlake.cli import app
    from wattlake.config import get_settings
    from wattlake.sims.scada_source import ScadaSourceSim

    monkeypatch.setenv("WATTLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WATTLAKE_WAREHOUSE", master)
    get_settings.cache_clear()
    try:
        with ScadaSourceSim(turbines=1, days=1) as sim, pg_database("wl_spark_tgt") as target:
            args = ["run", "scada", "--date", "2024-05-20", "--source-url", sim.base_url]
            r = CliRunner().invoke(app, [*args, "--target", target])
            assert r.exit_code == 0, r.output
            pushed = target_rows(target)
        r = CliRunner().invoke(
            app,
            ["sql", "SELECT count(mean) + count(min) + count(max) + count(std) AS n "
             "FROM scada_10min", "-f", "json"],
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)[0]["n"] == len(pushed) > 4 * 140
    finally:
        get_settings.cache_clear()
