"""The meter-files pipeline end to end on each engine: bronze, silver, gold, runs, rejects."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pytest
from tests._support import samples

from wattlake.parsing import FileReport
from wattlake.pipeline import Runner
from wattlake.registry import get_pipeline
from wattlake.sources.meter_files.generate import write_lp
from wattlake.sources.meter_files.parse import parse_meter_file
from wattlake.sources.meter_files.schema import LP

SPEC = get_pipeline("meter-files")


def count(runner: Runner, table: str) -> int:
    return int(runner.engine.query(f"SELECT count(*) FROM {table}").column(0)[0].as_py())


def snapshot(runner: Runner) -> list[dict[str, object]]:
    return runner.engine.query(
        "SELECT meter_code, data_type, reading_local, value FROM meter_reads "
        "ORDER BY meter_code, data_type, reading_local"
    ).to_pylist()


def test_real_samples_load_with_no_rejects_and_seed_figures(runner: Runner) -> None:
    run, reports = runner.ingest_files(SPEC, [samples("meter_files")])
    assert len(reports) == 12 and not run.failed_steps
    assert all(r.rows_rejected == 0 and r.balanced for r in reports)
    assert run.rows_read == sum(r.rows_read for r in reports) == 6904
    row = runner.engine.query(
        "SELECT plant_code, avg_energy, max_energy, min_energy, n_values FROM meter_daily_mixed "
        "WHERE meter_code = '210095893' AND serial_code = '210095893' "
        "AND local_date = DATE '2015-09-01'"
    ).to_pylist()[0]
    assert row["plant_code"] == "ED031000001"
    assert row["avg_energy"] == pytest.approx(1.7166666666666668, abs=1e-12)
    assert (row["max_energy"], row["min_energy"], row["n_values"]) == (4.2, 0.0, 12)
    # A TOU layout-A meter-day: 8 register rows, max 0.15, min 0.004, avg 0.1115 (seed §B.4).
    tou = runner.engine.query(
        "SELECT avg_energy, max_energy, min_energy, n_values FROM meter_daily_mixed "
        "WHERE meter_code = '214667141' AND local_date = DATE '2015-09-01'"
    ).to_pylist()[0]
    assert tou["n_values"] == 8 and tou["max_energy"] == 0.15 and tou["min_energy"] == 0.004
    assert tou["avg_energy"] == pytest.approx(0.1115)


def test_second_load_is_skipped_and_force_changes_nothing(runner: Runner, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write_lp(folder / "LP_1_x.csv", "1", "P1", __import__("datetime").date(2025, 1, 1), 2)
    runner.ingest_files(SPEC, [folder])
    before = snapshot(runner)
    _, again = runner.ingest_files(SPEC, [folder])
    assert [r.skipped for r in again] == [True]
    _, forced = runner.ingest_files(SPEC, [folder], force=True)
    assert forced[0].rows_loaded == len(before) and snapshot(runner) == before
    assert count(runner, "lake_manifest") == 1


def test_corrected_file_replaces_the_values_it_covers(runner: Runner, tmp_path: Path) -> None:
    head = ",".join(LP.header)
    f = tmp_path / "LP_7_a.csv"
    f.write_text(f"{head}\n7,7,P,01/01/2025 00:15:00,Import Wh Total,1.0,kwh,\n")
    runner.ingest_files(SPEC, [f])
    f.write_text(f"{head}\n7,7,P,01/01/2025 00:15:00,Import Wh Total,2.5,kwh,\n")
    runner.ingest_files(SPEC, [f])
    assert [r["value"] for r in snapshot(runner)] == [2.5]
    assert count(runner, "lake_manifest") == 2  # both versions kept in bronze


def test_broken_rows_go_to_rejects_and_counts_balance(runner: Runner, tmp_path: Path) -> None:
    head = ",".join(LP.header)
    f = tmp_path / "LP_9_b.csv"
    f.write_text(
        f"{head}\n9,9,P,01/01/2025 00:15:00,Import Wh Total,1.0,kwh,\n"
        "9,9,P,01/01/2025 00:30:00,Import Wh Total,one,kwh,\n"
        "9,9,P,32/01/2025 00:45:00,Import Wh Total,1.0,kwh,\n"
    )
    run, (report,) = runner.ingest_files(SPEC, [f])
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (3, 1, 2)
    rejects = runner.engine.query(
        "SELECT line, field, rule FROM rejects WHERE run_id = $r ORDER BY line", {"r": run.run_id}
    ).to_pylist()
    assert rejects == [
        {"line": 3, "field": "value", "rule": "bad_number"},
        {"line": 4, "field": "reading_local", "rule": "bad_date"},
    ]
    stored = runner.engine.query("SELECT * FROM runs WHERE run_id = $r", {"r": run.run_id})
    assert stored.to_pylist()[0]["rows_rejected"] == 2


def test_failure_mid_load_leaves_the_warehouse_as_before(
    runner: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import date

    good = tmp_path / "LP_1_good.csv"
    write_lp(good, "1", "P1", date(2025, 1, 1), 1)
    runner.ingest_files(SPEC, [good])
    before = snapshot(runner)
    big = tmp_path / "LP_2_big.csv"
    write_lp(big, "2", "P2", date(2025, 1, 1), 30)

    def exploding(stream: BinaryIO, report: FileReport) -> Iterator[tuple[str, pa.Table]]:
        for i, item in enumerate(parse_meter_file(stream, report)):
            yield item
            if i == 0:
                raise OSError("connection lost mid-file")

    # Tiny blocks and upserts so the file arrives in several batches and one is upserted
    # inside the transaction before the error.
    import wattlake.sources.meter_files.parse as parse_mod

    monkeypatch.setattr("wattlake.pipeline.UPSERT_ROWS", 100)
    monkeypatch.setattr(parse_mod, "BLOCK_SIZE", 16 * 1024)
    broken = dataclasses.replace(SPEC, parser_for=lambda name: exploding)
    run, _ = runner.ingest_files(broken, [big])
    assert run.failed_steps and "connection lost" in (run.failed_steps[0].error or "")
    assert snapshot(runner) == before
    # Not marked loaded: the next run loads it.
    _, (retry,) = runner.ingest_files(SPEC, [big])
    assert not retry.skipped and retry.rows_loaded == 30 * 96 * 4


def test_unknown_file_fails_its_step_and_others_still_load(runner: Runner, tmp_path: Path) -> None:
    (tmp_path / "notes.csv").write_text("hello,world\n1,2\n")
    head = ",".join(LP.header)
    (tmp_path / "LP_5.csv").write_text(
        f"{head}\n5,5,P,01/01/2025 00:15:00,Import Wh Total,1,kwh,\n"
    )
    run, _ = runner.ingest_files(SPEC, [tmp_path])
    assert [s.target for s in run.failed_steps] == ["notes.csv"]
    assert "unrecognised meter file header" in (run.failed_steps[0].error or "")
    assert count(runner, "meter_reads") == 1
    status = runner.engine.query("SELECT status FROM runs WHERE run_id = $r", {"r": run.run_id})
    assert status.column(0)[0].as_py() == "partial"
