"""Adopting an old deployment's bucket (moto's S3 server) and uploading to the datastore
stand-in: after runs, re-runs and a forced re-upload it holds exactly the warehouse's records."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import S3StandIn
from tests.espi_connect.helpers import duck_runner, write_config
from wattlake.pipeline import Runner
from wattlake.sims.datastore import DatastoreSim
from wattlake.sims.green_button import Customer, GreenButtonSim, UsagePointSpec
from wattlake.sinks.oeem_datastore import push
from wattlake.sources.espi.fetch import run_green_button
from wattlake.sources.espi.incremental import RawStore

NOW = datetime(2026, 5, 20, 19, tzinfo=UTC)


def _customers() -> list[Customer]:
    first = date(2026, 4, 1)
    return [
        Customer("P-1", "501", [UsagePointSpec("71", "electric", 3600, service_start=first)]),
        Customer("P-2", "502", [
            UsagePointSpec("72", "electric", 900, net_metering=True, service_start=first),
            UsagePointSpec("73", "gas", service_start=first),
        ]),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def s3(moto_s3: S3StandIn) -> str:
    moto_s3.bucket("old-etl")
    return moto_s3.endpoint


def _s3_extra(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("T_S3_KEY", "testing")
    monkeypatch.setenv("T_S3_SECRET", "testing")
    return (f'endpoint_url = "{endpoint}"\nregion = "us-east-1"\n'
            'access_key_env = "T_S3_KEY"\nsecret_key_env = "T_S3_SECRET"\n')  # fmt: skip


@pytest.mark.s3
def test_adopting_an_old_bucket(s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with GreenButtonSim(_customers(), now=NOW) as sim:
        # what the old library left: run 0 (Apr 1..May 10) and run 1 (..May 14) for P-1/71
        c = sim.customer("P-1")
        auth = {"Authorization": f"Bearer {c.access_token}"}
        url = f"{sim.resource_url}/Batch/Subscription/501/UsagePoint/71"
        old = [("2026-04-01T07:00:00Z", "2026-05-11T07:00:00Z"),
               ("2026-05-11T07:00:00Z", "2026-05-15T07:00:00Z")]  # fmt: skip
        cfg = write_config(tmp_path, sim, monkeypatch, storage="s3://old-etl",
                           extra=_s3_extra(s3, monkeypatch))  # fmt: skip
        store = RawStore("s3://old-etl", **cfg.storage_options())
        for run, (lo, hi) in enumerate(old):
            body = httpx.get(
                url, headers=auth, params={"published-min": lo, "published-max": hi}
            ).content
            store.write(f"P-1_71_{run}.xml", body)
        sim.requests.clear()
        runner = duck_runner(tmp_path)
        report = run_green_button(runner, cfg, now=sim.now)
        assert len(report.adopted) == 2 and all(r.rows_loaded for r in report.adopted)
        status = {u.label: (u.status, u.run, u.window) for u in report.usage_points}
        # continues the numbering and asks only from the overlap before what was loaded
        assert status["P-1/71"][:2] == ("fetched", 2)
        window = status["P-1/71"][2]
        assert window is not None and window[0] == datetime(2026, 5, 12, 7, tzinfo=UTC)
        assert status["P-2/72"][:2] == ("fetched", 0) and status["P-2/73"][:2] == ("fetched", 0)
        batch_calls = [r for r in sim.requests if "/Batch/" in r.path and r.status == 200]
        assert len(batch_calls) == 3
        again = run_green_button(runner, cfg, now=sim.now)  # nothing to adopt, nothing new
        assert again.adopted == [] and {u.status for u in again.usage_points} == {"unchanged"}
    assert sorted(f.name for f in store.list()) == [
        "P-1_71_0.xml", "P-1_71_1.xml", "P-1_71_2.xml", "P-2_72_0.xml", "P-2_73_0.xml"]  # fmt: skip
    n = runner.engine.query("SELECT count(*) AS n, count(DISTINCT interval_start_utc) AS d "
                            "FROM interval_reads WHERE usage_point_id = '71'").to_pylist()[0]  # fmt: skip
    assert (
        n["n"]
        == n["d"]
        == (datetime(2026, 5, 18, 7, tzinfo=UTC) - datetime(2026, 4, 1, 7, tzinfo=UTC)).days * 24
    )


def _warehouse(runner: Runner) -> set[tuple[str, str, float, bool]]:
    rows = runner.engine.query(
        "SELECT usage_point_id, flow_direction, unit, interval_start_utc, value, estimated "
        "FROM interval_reads").to_pylist()  # fmt: skip
    names = {1: "forward", 19: "reverse"}
    out = set()
    for r in rows:
        project = "P-1" if r["usage_point_id"] == "71" else "P-2"
        factor = 0.001 if r["unit"] == "Wh" else 1.0
        start = r["interval_start_utc"].replace(tzinfo=UTC).isoformat()
        out.add((f"{project}:{r['usage_point_id']}:{names[r['flow_direction']]}", start,
                 round(r["value"] * factor, 9), bool(r["estimated"])))  # fmt: skip
    return out


def _datastore(ds: DatastoreSim) -> list[tuple[str, str, float, bool]]:
    rows = ds.query("SELECT m.label, r.start, r.value, r.estimated FROM consumption_record r "
                    "JOIN consumption_metadata m ON m.id = r.metadata_id")  # fmt: skip
    return [(a, b, round(c, 9), bool(d)) for a, b, c, d in rows]


def test_upload_after_runs_reruns_and_a_forced_reupload(
    runner: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On DuckDB and on PostgreSQL (the ``runner`` fixture's engines)."""
    projects = tmp_path / "projects.csv"
    projects.write_text("project_id,zipcode,baseline_period_end,reporting_period_start,project_cost,heat_pump\n"
                        "P-1,94110,2026-01-01,2026-02-01,12000.5,true\nP-2,94704,2026-01-15,2026-03-01,8000,false\n")  # fmt: skip
    with GreenButtonSim(_customers(), now=NOW) as sim, DatastoreSim(tmp_path / "ds.sqlite") as ds:
        cfg = write_config(tmp_path, sim, monkeypatch, datastore=ds.url)
        run_green_button(runner, cfg, now=sim.now)
        first = push(runner, cfg, projects_csv=projects)
        assert first.projects == 2 and len(first.files_uploaded) == 3 and not first.files_failed
        ds_rows = _datastore(ds)
        assert len(ds_rows) == len(set(ds_rows)) and set(ds_rows) == _warehouse(runner)
        for _ in range(3):  # three more days: overlapping fetches revise the last days
            sim.advance(timedelta(days=1))
            run_green_button(runner, cfg, now=sim.now)
            again = push(runner, cfg)
            assert len(again.files_uploaded) == 3 and again.files_skipped >= 3
        nothing = push(runner, cfg)
        assert nothing.files_uploaded == [] and nothing.records == 0
        forced = push(runner, cfg, projects_csv=projects, force=True)
        assert len(forced.files_uploaded) == 12
        ds_rows = _datastore(ds)
        assert len(ds_rows) == len(set(ds_rows))  # no duplicates after the forced re-upload
        assert set(ds_rows) == _warehouse(runner)  # exactly the warehouse's records
        labels = ds.query(
            "SELECT label, interpretation, unit FROM consumption_metadata ORDER BY label"
        )
        assert labels == [("P-1:71:forward", "E_C_S", "KWH"), ("P-2:72:forward", "E_C_S", "KWH"),
                          ("P-2:72:reverse", "E_OSG_U", "KWH"), ("P-2:73:forward", "NG_C_S", "THM")]  # fmt: skip
        attrs = ds.query("SELECT k.name, k.data_type, a.float_value, a.boolean_value FROM project_attribute a "
                         "JOIN project_attribute_key k ON k.id = a.key_id ORDER BY a.project_id, k.name")  # fmt: skip
        assert attrs[0] == ("heat_pump", "BOOLEAN", None, 1) and attrs[1] == (
            "project_cost",
            "FLOAT",
            12000.5,
            None,
        )
        assert ds.query("SELECT zipcode FROM project ORDER BY project_id") == [
            ("94110",),
            ("94704",),
        ]
        assert ds.calls["POST consumption_records/bulk_insert"] == 0
        assert ds.calls["POST consumption_records/sync2"] > 12  # batches of 700


def test_the_sink_retries_and_checks_item_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = duck_runner(tmp_path)
    with (
        GreenButtonSim(_customers(), now=NOW) as sim,
        DatastoreSim(tmp_path / "ds.sqlite", owners=(5,)) as ds,
    ):
        cfg = write_config(tmp_path, sim, monkeypatch, datastore=ds.url)
        run_green_button(runner, cfg, now=sim.now)
        report = push(runner, cfg)  # owner 1 does not exist there: every project sync errors
        assert len(report.files_failed) == 3 and report.files_uploaded == []
        assert "bad field value" in next(iter(report.files_failed.values()))
        ds.db.execute("INSERT INTO project_owner (id) VALUES (1)")
        ds.db.commit()
        ds.fail_next("500", "429")
        retried = push(runner, cfg)  # the failed files were not marked uploaded
        assert len(retried.files_uploaded) == 3 and set(_datastore(ds)) == _warehouse(runner)
