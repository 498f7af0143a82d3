"""Green Button end to end on each engine: ingest (files, folders), silver keys, usage_daily
(a DST day), idempotent reloads."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests._support import samples
from tests.conftest import S3StandIn
from wattlake.pipeline import Runner
from wattlake.registry import get_pipeline
from wattlake.sources.espi.generate import write_feed_file
from wattlake.sources.espi.pipeline import PIPELINE, ingest


def q(runner: Runner, sql: str) -> list[dict[str, object]]:
    return runner.engine.query(sql).to_pylist()


def test_registered() -> None:
    assert get_pipeline("green-button") is PIPELINE


def test_samples_folder_loads_balanced_and_reload_is_skipped(runner: Runner) -> None:
    run, reports = ingest(runner, [samples("espi")])
    assert len(reports) == 10 and not run.failed_steps
    assert all(r.balanced for r in reports)
    n = q(runner, "SELECT count(*) AS n FROM interval_reads")[0]["n"]
    assert n == 1340 + 216 + 384 + 13 + 1 + 35 + 436 + 2 + 552
    pge = q(runner, "SELECT flow_direction, count(*) AS n FROM interval_reads "
                    "WHERE usage_point_id = '6345172663' GROUP BY 1 ORDER BY 1")  # fmt: skip
    assert pge == [{"flow_direction": 1, "n": 313}, {"flow_direction": 19, "n": 123}]
    _, again = ingest(runner, [samples("espi")])
    assert all(r.skipped for r in again)


def test_usage_daily_dst_days_and_net(runner: Runner, tmp_path: Path) -> None:
    # 2021-03-13 .. 03-15 Pacific: the 14th is 23 h long; forward and reverse channels
    f = tmp_path / "nem.xml"
    write_feed_file(f, 3 * 96 * 2, net_metering=True, interval_s=3600, first_day=date(2021, 3, 13))
    _, reports = ingest(runner, [f])
    assert reports[0].rows_rejected == 0
    daily = q(runner, "SELECT usage_point_id, flow_direction, local_date, unit, consumption, "
                      "export, net, interval_count, day_seconds, completeness FROM usage_daily "
                      "ORDER BY flow_direction, local_date")  # fmt: skip
    assert [(d["flow_direction"], str(d["local_date"])) for d in daily][:3] == [
        (1, "2021-03-13"),
        (1, "2021-03-14"),
        (1, "2021-03-15"),
    ]
    spring = [d for d in daily if str(d["local_date"]) == "2021-03-14"]
    assert {d["interval_count"] for d in spring} == {23}
    assert {d["day_seconds"] for d in spring} == {82800}
    assert {float(d["completeness"]) for d in daily} == {1.0}
    # independent figure: sum of the silver rows of that local day, Wh -> kWh
    fwd = q(runner, "SELECT sum(value) AS wh FROM interval_reads WHERE flow_direction = 1 "
                    "AND interval_start_utc >= TIMESTAMPTZ '2021-03-14 08:00:00+00' "
                    "AND interval_start_utc < TIMESTAMPTZ '2021-03-15 07:00:00+00'")[0]["wh"]  # fmt: skip
    day = {d["flow_direction"]: d for d in spring}
    assert day[1]["unit"] == "kWh" and day[1]["consumption"] == pytest.approx(fwd / 1000)
    assert day[19]["export"] > 0 and day[19]["net"] == pytest.approx(-day[19]["export"])
    assert day[1]["export"] is None and day[19]["consumption"] is None


def test_overlapping_downloads_deduplicate_on_the_key(runner: Runner, tmp_path: Path) -> None:
    a, b = tmp_path / "a.xml", tmp_path / "b.xml"
    write_feed_file(a, 96 * 3, first_day=date(2022, 6, 1))
    write_feed_file(b, 96 * 3, first_day=date(2022, 6, 2))  # two days overlap
    ingest(runner, [a, b], custodian="pge")
    n = q(runner, "SELECT count(*) AS n, count(DISTINCT custodian) AS c FROM interval_reads")[0]
    assert n == {"n": 96 * 4, "c": 1}
    assert q(runner, "SELECT count(*) AS n FROM usage_daily")[0]["n"] == 4


def test_hostile_file_fails_its_step_only(runner: Runner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><feed/>')
    good = samples("espi", "pge_cmd_gas_daily.xml")
    run, reports = ingest(runner, [bad, good])
    assert [s.target for s in run.failed_steps] == ["bad.xml"]
    assert "refused" in (reports[0].note or "") and reports[1].rows_loaded == 8


@pytest.fixture(scope="module")
def s3(moto_s3: S3StandIn) -> dict[str, Any]:
    """Storage options of a real S3 endpoint on loopback with a bucket of Green Button files."""
    bucket, client = moto_s3.bucket("greenbutton"), moto_s3.client
    for name in ("pge_cmd_gas_daily.xml", "gba_sdk_gas_monthly.xml"):
        body = samples("espi", name).read_bytes()
        client.put_object(Bucket=bucket, Key=f"consumption/raw/{name}", Body=body)
    client.put_object(Bucket=bucket, Key="consumption/raw/readme.txt", Body=b"not xml")
    return moto_s3.options


@pytest.mark.s3
def test_ingest_from_an_s3_prefix(runner: Runner, s3: dict[str, object]) -> None:
    run, reports = ingest(runner, ["s3://greenbutton/consumption/raw"], storage_options=s3)
    assert sorted(r.source_file for r in reports) == [
        "gba_sdk_gas_monthly.xml", "pge_cmd_gas_daily.xml"
    ]  # fmt: skip
    assert not run.failed_steps and all(r.balanced for r in reports)
    units = q(runner, "SELECT DISTINCT unit FROM usage_daily")
    assert units == [{"unit": "therm"}]
