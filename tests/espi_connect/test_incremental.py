"""Fetch windows (IANA zone, DST, gas +1 s, overlap) and the raw-file store (local and S3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import S3StandIn
from wattlake.errors import LakeError
from wattlake.sources.espi.incremental import (
    RawStore,
    parse_raw_name,
    raw_name,
    window_end,
    window_start,
)

LA = ZoneInfo("America/Los_Angeles")


def test_the_end_is_local_midnight_in_winter_and_summer() -> None:
    # oeem-etl asserted 07:00 UTC; under PST the day ends at 08:00 UTC.
    winter = window_end(datetime(2026, 1, 15, 3, tzinfo=UTC), LA, 2)  # still Jan 14 in LA
    assert winter == datetime(2026, 1, 12, 8, tzinfo=UTC)
    summer = window_end(datetime(2026, 7, 15, 12, tzinfo=UTC), LA, 2)
    assert summer == datetime(2026, 7, 13, 7, tzinfo=UTC)
    gas = window_end(datetime(2026, 7, 15, 12, tzinfo=UTC), LA, 2, gas=True)
    assert gas == datetime(2026, 7, 13, 7, 0, 1, tzinfo=UTC)
    # across the spring change: the lag reaches back over a 23-hour day
    spring = window_end(datetime(2026, 3, 9, 12, tzinfo=UTC), LA, 1)
    assert spring == datetime(2026, 3, 8, 8, tzinfo=UTC)  # Mar 8 00:00 PST (DST starts 02:00)


def test_the_start_is_four_years_back_or_the_overlap_before_the_loaded_end() -> None:
    end = datetime(2026, 1, 12, 8, tzinfo=UTC)
    first = window_start(None, end, LA, overlap_days=3, history_years=4)
    assert first == datetime(2022, 1, 12, 8, tzinfo=UTC)
    later = window_start(
        datetime(2025, 11, 3, 8, tzinfo=UTC), end, LA, overlap_days=3, history_years=4
    )
    assert later == datetime(2025, 10, 31, 7, tzinfo=UTC)  # PDT before the Nov 2 change
    gas = window_start(datetime(2025, 11, 3, 8, 0, 1, tzinfo=UTC), end, LA, overlap_days=0,
                       history_years=4, gas=True)  # fmt: skip
    assert gas == datetime(2025, 11, 3, 8, 0, 1, tzinfo=UTC)


def test_raw_names_split_from_the_right() -> None:
    name = raw_name("CF_0001_B", "7719220489", 12)
    assert name == "CF_0001_B_7719220489_12.xml"
    f = parse_raw_name(f"bucket/consumption/raw/{name}")
    assert f is not None and (f.project_id, f.usage_point_id, f.run) == (
        "CF_0001_B",
        "7719220489",
        12,
    )
    assert raw_name("P", "a/b_c", 0) == "P_a-b-c_0.xml"  # usage point ids are sanitised
    assert parse_raw_name("consumption/raw/notes.txt") is None


def _store_checks(store: RawStore) -> None:
    assert store.list() == []
    store.write(raw_name("P-1", "7001", 0), b"<feed/>")
    store.write(raw_name("P-1", "7001", 1), b"<feed>1</feed>")
    store.write(raw_name("P_2", "7002", 0), b"<feed>2</feed>")
    assert [(f.project_id, f.run) for f in store.list()] == [("P-1", 0), ("P-1", 1), ("P_2", 0)]
    assert store.runs() == {("P-1", "7001"): 1, ("P_2", "7002"): 0}
    assert store.read("P-1_7001_1.xml") == b"<feed>1</feed>"
    with pytest.raises(LakeError, match="already exists"):
        store.write("P-1_7001_1.xml", b"other")
    assert store.read("P-1_7001_1.xml") == b"<feed>1</feed>"  # never overwritten
    assert store.key("P-1_7001_0.xml") == "consumption/raw/P-1_7001_0.xml"


def test_raw_store_on_a_local_folder(tmp_path: Path) -> None:
    store = RawStore(str(tmp_path / "bucket"))
    _store_checks(store)
    names = sorted(p.name for p in (tmp_path / "bucket" / "consumption" / "raw").iterdir())
    assert names == ["P-1_7001_0.xml", "P-1_7001_1.xml", "P_2_7002_0.xml"]  # no temp files left


@pytest.fixture(scope="module")
def s3(moto_s3: S3StandIn) -> dict[str, Any]:
    moto_s3.bucket("raw-test")
    return {"endpoint": moto_s3.endpoint, "client": moto_s3.client, "options": moto_s3.options}


@pytest.mark.s3
def test_raw_store_on_s3(s3: dict[str, object]) -> None:
    opts = s3["options"]
    assert isinstance(opts, dict)
    store = RawStore("s3://raw-test", **opts)
    _store_checks(store)
    client = s3["client"]
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket="raw-test")["Contents"])  # type: ignore[attr-defined]
    assert keys == [
        f"consumption/raw/{n}" for n in ("P-1_7001_0.xml", "P-1_7001_1.xml", "P_2_7002_0.xml")
    ]
    # files the old library wrote are discovered the same way
    client.put_object(Bucket="raw-test", Key="consumption/raw/OLD_9_4.xml", Body=b"<feed/>")  # type: ignore[attr-defined]
    assert RawStore("s3://raw-test", **opts).runs()[("OLD", "9")] == 4


def test_times_are_whole_local_days_across_the_autumn_change() -> None:
    wm = datetime(2025, 11, 3, 8, tzinfo=UTC)  # Nov 3 00:00 PST
    start = window_start(wm, wm + timedelta(days=5), LA, overlap_days=2, history_years=4)
    assert start.astimezone(LA).hour == 0 and start == datetime(2025, 11, 1, 7, tzinfo=UTC)
