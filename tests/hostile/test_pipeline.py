"""Hostile meter files through the runner, on DuckDB and PostgreSQL: the same rows load, the
same lines are rejected, and every reject is stored (issue 7, items 1, 3, 5, 6)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.hostile.test_parsers import LP_HEADER, lp_file, lp_line
from wattlake.parsing import Reject
from wattlake.pipeline import Runner
from wattlake.registry import get_pipeline

SPEC = get_pipeline("meter-files")


def ingest(runner: Runner, path: Path) -> tuple[int, int, int, str | None]:
    run, [report] = runner.ingest_files(SPEC, [path])
    assert not run.failed_steps, run.failed_steps
    return report.rows_read, report.rows_loaded, report.rows_rejected, report.note


def in_silver(runner: Runner, name: str) -> int:
    got = runner.engine.query(
        "SELECT count(*) FROM meter_reads WHERE _source_file = $f", {"f": name}
    )
    return int(got.column(0)[0].as_py())


def stored_rejects(runner: Runner) -> list[tuple[int, str, str]]:
    got = runner.engine.query("SELECT line, rule, raw FROM rejects ORDER BY line")
    return [(r["line"], r["rule"], r["raw"]) for r in got.to_pylist()]


def test_duplicate_keys_rows_loaded_is_what_silver_holds(runner: Runner, tmp_path: Path) -> None:
    path = tmp_path / "LP_dup.csv"
    lines = [LP_HEADER, lp_line(0, "1"), lp_line(0, "2"), lp_line(1, "3"), lp_line(0, "4")]
    path.write_text("\n".join(lines) + "\n")
    read, loaded, rejected, _ = ingest(runner, path)
    assert (read, loaded, rejected) == (4, 2, 2)
    assert in_silver(runner, "LP_dup.csv") == loaded
    assert [r[:2] for r in stored_rejects(runner)] == [(3, "duplicate_key"), (5, "duplicate_key")]


def test_nul_byte_is_one_stored_reject_on_every_engine(runner: Runner, tmp_path: Path) -> None:
    path = tmp_path / "LP_nul.csv"
    data = ("\n".join(lp_file(4)) + "\n").encode().replace(b"ED031000001", b"ED03\x001", 1)
    path.write_bytes(data)
    assert ingest(runner, path)[:3] == (4, 3, 1)
    [(line, rule, raw)] = stored_rejects(runner)
    assert (line, rule) == (2, "control_character")
    assert "ED03\\x001" in raw and "\x00" not in raw


def test_latin1_and_stray_quote_lines_are_stored_rejects(runner: Runner, tmp_path: Path) -> None:
    path = tmp_path / "LP_mixed.csv"
    lines = lp_file(6)
    lines[2] = '"' + lines[2]
    data = ("\n".join(lines) + "\n").encode().replace(b"ED031000001", b"ED03\xe9", 1)
    path.write_bytes(data)
    read, loaded, rejected, _ = ingest(runner, path)
    assert (read, loaded, rejected) == (6, 4, 2)
    got = stored_rejects(runner)
    assert [g[:2] for g in got] == [(2, "bad_encoding"), (3, "bad_quote")]
    assert "ED03\\xe9" in got[0][2]


def test_write_rejects_stores_nul_and_undecodable_text(runner: Runner) -> None:
    runner.setup(SPEC)
    bad = "a\x00b " + b"\xff".decode("utf-8", "surrogateescape") + " \ud800"
    with runner.engine.transaction() as tx:
        runner.runs.write_rejects(tx, "r1", [Reject("f\x00.csv", 1, "f\x00", "rule", bad)])
    row = runner.engine.query("SELECT source_file, field, raw FROM rejects").to_pylist()[0]
    assert row == {"source_file": "f\\x00.csv", "field": "f\\x00", "raw": "a\\x00b \\xff \\ud800"}


@pytest.mark.parametrize("engine", ["duckdb"], indirect=True)
def test_encoding_option_per_source(
    runner: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wattlake.config import get_settings

    monkeypatch.setenv("WATTLAKE_METER_ENCODING", "cp1252")
    get_settings.cache_clear()
    try:
        path = tmp_path / "LP_cp1252.csv"
        path.write_bytes(("\n".join(lp_file(3)) + "\n").encode().replace(b"ED031000001", b"ED\x80"))
        assert ingest(runner, path)[:3] == (3, 3, 0)
        got = runner.engine.query("SELECT DISTINCT plant_code FROM meter_reads").to_pylist()
        assert got == [{"plant_code": "ED€"}]
    finally:
        get_settings.cache_clear()


def test_unknown_meter_encoding_fails_when_settings_load() -> None:
    from pydantic import ValidationError

    from wattlake.config import Settings

    with pytest.raises(ValidationError, match="unknown encoding 'klingon'"):
        Settings(meter_encoding="klingon")


def test_a_file_name_that_is_not_utf8_loads_under_an_escaped_key(
    runner: Runner, tmp_path: Path
) -> None:
    """``LP_café.csv`` named in latin-1 (byte E9): its key keeps the byte as ``\\xe9`` on every
    engine (manifest, silver, run steps, bronze file name), a second ingest finds it loaded,
    and a folder sync gives it the same key."""
    folder = tmp_path / "in"
    folder.mkdir()
    raw_name = os.fsdecode(b"LP_caf\xe9.csv")
    (folder / raw_name).write_text("\n".join(lp_file(3)) + "\n")
    key = "LP_caf\\xe9.csv"
    assert ingest(runner, folder / raw_name)[:3] == (3, 3, 0)
    assert in_silver(runner, key) == 3
    [artifact] = runner.engine.query("SELECT key, path FROM lake_manifest").to_pylist()
    assert artifact["key"] == key and artifact["path"].endswith("/" + key)
    steps = runner.engine.query("SELECT DISTINCT target FROM run_steps WHERE step = 'bronze'")
    assert steps.column(0).to_pylist() == [key]
    assert (
        ingest(runner, folder / raw_name)[3]
        == "already loaded (same sha256); use --force to reload"
    )
    synced = runner.sync_folder(SPEC, folder)
    assert [(r.source_file, r.skipped) for r in synced.reports] == [(key, True)]
