"""The hosting-capacity pipeline end to end on each engine: the landing-folder refresh (changed
files only, replaced and removed files, rejects, per-layer report) and `ingest`."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pytest

from tests._support import samples
from wattlake.parsing import FileReport
from wattlake.pipeline import Runner
from wattlake.registry import get_pipeline
from wattlake.sources.hosting_capacity import generate
from wattlake.sources.hosting_capacity import parse as hc_parse
from wattlake.sources.hosting_capacity.formats import FileFormat
from wattlake.sources.hosting_capacity.pipeline import landing_folder, refresh

SPEC = get_pipeline("hosting-capacity")
CIRCUITS = (
    "Master_CDF,feeder_voltage,feeder_max_hc,feeder_min_hc,feeder_dg_connected_since_refresh,"
    "hca_refresh_date,color,shape_length\n"
)
INSTALLED = (
    "DER_ID,SERVICE_STREET_ADDRESS,DER_TYPE,DER_NAMEPLATE_RATING,DER_INTERCONNECTION_LOCATION,"
    "INTERCONNECTION_COST\n"
)


def put(runner: Runner, name: str, text: str) -> Path:
    """Write ``text`` (CRLF, like the utilities' files) into the landing folder."""
    path = landing_folder(runner) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", "\r\n").encode())
    return path


def rows(runner: Runner, sql: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = runner.engine.query(sql).to_pylist()
    return out


def feeders(runner: Runner) -> list[tuple[str, float, str]]:
    return [
        (r["feeder_uid"], r["max_hc_mw"], r["_source_file"])
        for r in rows(runner, "SELECT * FROM feeders ORDER BY feeder_uid")
    ]


@pytest.fixture
def parse_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the files the hosting-capacity parser is called on."""
    calls: list[str] = []
    real = hc_parse.parse_hosting_capacity

    def counting(
        stream: BinaryIO, report: FileReport, fmt: FileFormat
    ) -> Iterator[tuple[str, pa.Table]]:
        calls.append(report.source_file)
        return real(stream, report, fmt)

    monkeypatch.setattr(hc_parse, "parse_hosting_capacity", counting)
    return calls


def test_real_samples_refresh_then_nothing_to_do(runner: Runner, parse_calls: list[str]) -> None:
    for path in samples("hosting_capacity", "esource_case_study").glob("*.csv"):
        utility = path.name.split("_")[0]
        (landing_folder(runner) / utility).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, landing_folder(runner) / utility / path.name)
    report = refresh(runner)
    assert report.status == "ok" and not report.errors
    assert [(d.utility, d.dataset, d.silver) for d in report.datasets] == [
        ("utility1", "install_der", "ok"),
        ("utility1", "planned_der", "ok"),
        ("utility2", "circuits", "ok"),
        ("utility2", "install_der", "ok"),
        ("utility2", "planned_der", "ok"),
    ]
    silver = report.layers.silver
    assert (silver.loaded, silver.rows_loaded, silver.rows_rejected) == (5, 74_406, 1)
    assert report.layers.gold.status == "ok" and report.layers.gold.models["feeder_summary"] > 0
    assert len(parse_calls) == 5
    # The one reject (utility1 ProjectID 12979 repeated) names the file, the line and the rule.
    (reject,) = rows(runner, f"SELECT * FROM rejects WHERE run_id = '{report.run_id}'")
    assert (reject["source_file"], reject["line"], reject["rule"]) == (
        "utility1/utility1_install_der.csv",
        1224,
        "duplicate_key",
    )
    assert report.rejects == f"/v1/runs/{report.run_id}/rejects"

    again = refresh(runner)
    assert len(parse_calls) == 5  # nothing parsed the second time
    assert again.status == "ok"
    assert (again.layers.bronze.status, again.layers.bronze.unchanged) == ("unchanged", 5)
    assert (again.layers.silver.status, again.layers.gold.status) == ("unchanged", "unchanged")
    assert {f.silver for d in again.datasets for f in d.files} == {"unchanged"}
    steps = runner.runs.steps(again.run_id)
    assert steps.num_rows == 0  # no bronze copy, no parse, no gold rebuild
    assert rows(runner, "SELECT count(*) AS n FROM ders")[0]["n"] == 74_406 - 1_909


def test_changed_file_replaces_its_rows(runner: Runner, parse_calls: list[str]) -> None:
    put(runner, "utility2/utility2_circuits.csv", CIRCUITS + "F1,13.2,1,0,0,,blue,1\nF2,4.16,2,0,0,,red,1\n")  # fmt: skip
    put(runner, "utility2/utility2_install_der.csv", INSTALLED + "1,null,Solar,5,F1,0\n")
    refresh(runner)
    src = "utility2/utility2_circuits.csv"
    assert feeders(runner) == [("utility2:F1", 1.0, src), ("utility2:F2", 2.0, src)]

    put(runner, "utility2/utility2_circuits.csv", CIRCUITS + "F1,13.2,7.5,0,0,,blue,1\nF3,4.16,3,0,0,,red,1\n")  # fmt: skip
    parse_calls.clear()
    report = refresh(runner)
    assert parse_calls == [src]  # only the changed file is parsed
    assert feeders(runner) == [("utility2:F1", 7.5, src), ("utility2:F3", 3.0, src)]
    (circuits,) = [d for d in report.datasets if d.dataset == "circuits"]
    assert [(f.bronze, f.silver, f.rows_loaded) for f in circuits.files] == [
        ("stored", "loaded", 2)
    ]
    (der,) = [d for d in report.datasets if d.dataset == "install_der"]
    assert (der.bronze, der.silver) == ("unchanged", "unchanged")
    # Gold follows: F2 is gone from feeder_summary, F1 has its new capacity.
    gold = rows(runner, "SELECT feeder_uid, max_hc_mw FROM feeder_summary ORDER BY 1")
    assert gold == [
        {"feeder_uid": "utility2:F1", "max_hc_mw": 7.5},
        {"feeder_uid": "utility2:F3", "max_hc_mw": 3.0},
    ]


def test_file_changed_back_to_earlier_content_loads_again(runner: Runner) -> None:
    v1 = CIRCUITS + "F1,13.2,1,0,0,,blue,1\n"
    put(runner, "utility2/utility2_circuits.csv", v1)
    refresh(runner)
    put(runner, "utility2/utility2_circuits.csv", CIRCUITS + "F9,13.2,9,0,0,,blue,1\n")
    refresh(runner)
    put(runner, "utility2/utility2_circuits.csv", v1)
    report = refresh(runner)
    assert report.layers.silver.loaded == 1
    assert [f[0] for f in feeders(runner)] == ["utility2:F1"]


def test_many_files_per_data_set_and_a_removed_file_loses_its_rows(runner: Runner) -> None:
    put(runner, "utility2/utility2_circuits.csv", CIRCUITS + "F1,13.2,1,0,0,,blue,1\n")
    put(runner, "utility2/utility2_install_der_2023.csv", INSTALLED + "1,null,Solar,5,F1,0\n")
    b = put(
        runner,
        "utility2/archive/utility2_install_der_2024.csv",
        INSTALLED + "2,null,Wind,50,F1,0\n3,null,Solar,7,F1,0\n",
    )
    first = refresh(runner)
    (der,) = [d for d in first.datasets if d.dataset == "install_der"]
    assert len(der.files) == 2
    assert rows(runner, "SELECT count(*) AS n FROM ders")[0]["n"] == 3

    b.unlink()
    report = refresh(runner)
    assert rows(runner, "SELECT native_id FROM ders") == [{"native_id": "1"}]
    (der,) = [d for d in report.datasets if d.dataset == "install_der"]
    gone = [f for f in der.files if f.silver == "removed"]
    assert [(f.file, f.bronze, f.rows_deleted) for f in gone] == [
        ("utility2/archive/utility2_install_der_2024.csv", "gone", 2)
    ]
    assert report.layers.silver.rows_deleted == 2 and report.layers.gold.status == "ok"
    summary = rows(runner, "SELECT sum(installed_count) AS n FROM feeder_summary")
    assert summary == [{"n": 1}]
    assert refresh(runner).layers.silver.removed == 0  # removed once, not again

    # Put back, it loads again (its manifest rows were unmarked, not kept as "loaded").
    put(runner, "utility2/archive/utility2_install_der_2024.csv", INSTALLED + "2,null,Wind,50,F1,0\n3,null,Solar,7,F1,0\n")  # fmt: skip
    assert refresh(runner).layers.silver.loaded == 1
    assert rows(runner, "SELECT count(*) AS n FROM ders")[0]["n"] == 3


def test_failures_are_reported_per_data_set_and_layer(runner: Runner) -> None:
    put(runner, "utility2/utility2_circuits.csv", CIRCUITS + "F1,13.2,1,0,0,,blue,1\n")
    put(runner, "utility2/utility2_install_der.csv", "DER_ID,SOMETHING_ELSE\n1,2\n")
    put(runner, "misc/mystery.csv", "a,b\n1,2\n")
    report = refresh(runner)
    assert report.status == "partial"
    states = {(d.utility, d.dataset): (d.bronze, d.silver) for d in report.datasets}
    assert states == {
        ("utility2", "circuits"): ("ok", "ok"),
        ("utility2", "install_der"): ("ok", "failed"),
        ("unknown", "unknown"): ("ok", "failed"),
    }
    errors = {(e.layer, e.target): e.error for e in report.errors}
    assert set(errors) == {
        ("silver", "utility2/utility2_install_der.csv"),
        ("silver", "misc/mystery.csv"),
    }
    assert "DER_NAMEPLATE_RATING" in errors[("silver", "utility2/utility2_install_der.csv")]
    assert "no hosting-capacity format matches" in errors[("silver", "misc/mystery.csv")]
    assert report.layers.silver.status == "failed" and report.layers.gold.status == "ok"
    assert [f[0] for f in feeders(runner)] == ["utility2:F1"]
    stored = rows(runner, f"SELECT status FROM runs WHERE run_id = '{report.run_id}'")
    assert stored == [{"status": "partial"}]
    # Failed files are tried again on the next refresh (they were not marked loaded).
    again = refresh(runner)
    assert again.layers.silver.failed == 2 and again.layers.silver.loaded == 0


def test_gold_failure_is_reported(runner: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    put(runner, "utility2/utility2_circuits.csv", CIRCUITS + "F1,13.2,1,0,0,,blue,1\n")

    def broken(model: str) -> int:
        raise RuntimeError(f"cannot build {model}")

    monkeypatch.setattr(runner.engine, "build", broken)
    report = refresh(runner)
    assert report.status == "partial"
    assert (report.layers.silver.status, report.layers.gold.status) == ("ok", "failed")
    assert [(e.layer, e.target) for e in report.errors] == [("gold", "feeder_summary")]


def test_bad_rows_go_to_rejects_with_file_line_and_reason(runner: Runner) -> None:
    put(runner, "utility2/utility2_circuits.csv", CIRCUITS + "F1,13.2,1,0,0,,blue,1\nF2,13.2,lots,0,0,,blue,1\n,13.2,1,0,0,,blue,1\n")  # fmt: skip
    report = refresh(runner)
    assert report.status == "ok"  # bad rows are not a failure of the file
    (circuits,) = report.datasets
    assert [(f.rows_read, f.rows_loaded, f.rows_rejected) for f in circuits.files] == [(3, 1, 2)]
    rejects = rows(
        runner,
        f"SELECT source_file, line, field, rule FROM rejects WHERE run_id = '{report.run_id}' "
        "ORDER BY line",
    )
    src = "utility2/utility2_circuits.csv"
    assert rejects == [
        {"source_file": src, "line": 3, "field": "feeder_max_hc", "rule": "bad_number"},
        {"source_file": src, "line": 4, "field": "Master_CDF", "rule": "missing_id"},
    ]


def test_empty_landing_folder_says_where_files_go(runner: Runner) -> None:
    report = refresh(runner)
    assert report.status == "ok" and report.datasets == []
    assert report.note and str(landing_folder(runner)) in report.note


def test_generated_files_of_every_utility_load_without_rejects(runner: Runner) -> None:
    generate(landing_folder(runner), scale=0.02, seed=3)
    report = refresh(runner)
    assert report.status == "ok"
    assert len(report.datasets) == 15
    assert {d.silver for d in report.datasets} == {"ok"}
    assert report.layers.silver.rows_rejected == 0
    per_utility = rows(runner, "SELECT utility, count(*) AS n FROM feeders GROUP BY 1 ORDER BY 1")
    assert [r["utility"] for r in per_utility] == ["cenhud", "coned", "oru", "utility1", "utility2"]


def test_ingest_replaces_a_file_by_name_and_skips_same_content(
    runner: Runner, tmp_path: Path
) -> None:
    f = tmp_path / "utility2_circuits.csv"
    f.write_text(CIRCUITS + "F1,13.2,1,0,0,,blue,1\nF2,13.2,2,0,0,,blue,1\n")
    runner.ingest_files(SPEC, [f])
    f.write_text(CIRCUITS + "F1,13.2,4,0,0,,blue,1\n")
    _, (report,) = runner.ingest_files(SPEC, [f])
    assert report.rows_loaded == 1
    assert feeders(runner) == [("utility2:F1", 4.0, "utility2_circuits.csv")]
    _, (again,) = runner.ingest_files(SPEC, [f])
    assert again.skipped


def test_reload_with_every_row_rejected_empties_silver_and_gold(
    runner: Runner, tmp_path: Path
) -> None:
    f = tmp_path / "utility2_circuits.csv"
    f.write_text(CIRCUITS + "F1,13.2,1,0,0,,blue,1\n")
    runner.ingest_files(SPEC, [f])
    f.write_text(CIRCUITS + "F1,13.2,much,0,0,,blue,1\n")
    _, (report,) = runner.ingest_files(SPEC, [f])
    assert (report.rows_loaded, report.rows_rejected) == (0, 1)
    assert feeders(runner) == []
    assert rows(runner, "SELECT count(*) AS n FROM feeder_summary") == [{"n": 0}]
