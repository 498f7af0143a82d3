"""Chunk planning: Pacific operating days to UTC windows within OASIS's limits."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from wattlake.sources.caiso.client import (
    ChunkRequest,
    format_oasis_time,
    operating_day_utc,
    plan_chunks,
)
from wattlake.sources.caiso.schema import Market


def z(s: str) -> datetime:
    return datetime.strptime(s, "%Y%m%dT%H:%M").replace(tzinfo=UTC)


# (operating day, expected startdatetime, expected enddatetime, hours) — facts §1.3
DAYS = [
    ("winter", date(2020, 1, 2), "20200102T08:00-0000", "20200103T08:00-0000", 24),
    ("summer", date(2025, 9, 1), "20250901T07:00-0000", "20250902T07:00-0000", 24),
    ("spring forward", date(2026, 3, 8), "20260308T08:00-0000", "20260309T07:00-0000", 23),
    ("fall back", date(2025, 11, 2), "20251102T07:00-0000", "20251103T08:00-0000", 25),
]


@pytest.mark.parametrize(("case", "day", "start", "end", "hours"), DAYS, ids=[d[0] for d in DAYS])
def test_dam_all_nodes_day_is_one_pacific_day(
    case: str, day: date, start: str, end: str, hours: int
) -> None:
    (chunk,) = plan_chunks(day, day + timedelta(days=1), "DAM", all_nodes=True)
    assert chunk.key == f"PRC_LMP/DAM/{day}/ALL"
    assert chunk.params == {
        "resultformat": "6",
        "queryname": "PRC_LMP",
        "version": "12",
        "market_run_id": "DAM",
        "grp_type": "ALL_APNODES",
        "startdatetime": start,
        "enddatetime": end,
    }
    assert chunk.end_utc - chunk.start_utc == timedelta(hours=hours)
    assert (chunk.first_day, chunk.last_day) == (day, day)


@pytest.mark.parametrize(("case", "day", "start", "end", "hours"), DAYS, ids=[d[0] for d in DAYS])
@pytest.mark.parametrize("market", ["RTM", "RTPD", "HASP"])
def test_real_time_all_nodes_day_is_one_request_per_hour(
    market: str, case: str, day: date, start: str, end: str, hours: int
) -> None:
    chunks = plan_chunks(day, day + timedelta(days=1), market, all_nodes=True)
    assert len(chunks) == hours
    assert format_oasis_time(chunks[0].start_utc) == start
    assert format_oasis_time(chunks[-1].end_utc) == end
    for a, b in itertools.pairwise(chunks):
        assert a.end_utc == b.start_utc  # contiguous, no gap or overlap
    assert all(c.end_utc - c.start_utc == timedelta(hours=1) for c in chunks)
    assert len({c.key for c in chunks}) == hours  # the repeated 07Z hour still gets its own key
    assert all(c.all_nodes and c.params["grp_type"] == "ALL_APNODES" for c in chunks)


def test_node_lists_are_split_by_ten_nodes_and_thirty_days() -> None:
    nodes = [f"N{i:02d}-APND" for i in range(25)]
    start, end = date(2025, 1, 1), date(2025, 3, 7)  # 65 days across the March DST change
    chunks = plan_chunks(start, end, Market.RTM, nodes)
    assert len(chunks) == 3 * 3  # (30 + 30 + 5 days) x (10 + 10 + 5 nodes)
    assert all(len(c.nodes) <= 10 for c in chunks)
    assert all((c.last_day - c.first_day).days < 30 for c in chunks)
    assert all(c.end_utc - c.start_utc <= timedelta(days=30) for c in chunks)
    assert sorted({n for c in chunks for n in c.nodes}) == nodes
    windows = sorted({(c.start_utc, c.end_utc) for c in chunks})
    assert windows[0][0] == z("20250101T08:00") and windows[-1][1] == z("20250307T08:00")
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))
    assert chunks[0].params["node"] == ",".join(nodes[:10])
    assert "grp_type" not in chunks[0].params
    assert chunks[0].params["queryname"] == "PRC_INTVL_LMP" and chunks[0].params["version"] == "3"


def test_keys_are_stable_and_unique() -> None:
    nodes = ["TH_SP15_GEN-APND", "TH_NP15_GEN-APND", "TH_ZP26_GEN-APND"]
    a = plan_chunks(date(2024, 1, 1), date(2024, 2, 15), "DAM", nodes)
    b = plan_chunks(date(2024, 1, 1), date(2024, 2, 15), "DAM", list(reversed(nodes)) + nodes)
    assert [c.key for c in a] == [c.key for c in b]
    assert len({c.key for c in a}) == len(a) == 2
    assert a[0].key.startswith("PRC_LMP/DAM/2024-01-01_2024-01-30/nodes-3-")
    assert a[1].key.startswith("PRC_LMP/DAM/2024-01-31_2024-02-14/nodes-3-")
    other = plan_chunks(date(2024, 1, 1), date(2024, 2, 15), "DAM", nodes[:2])
    assert {c.key for c in other}.isdisjoint(c.key for c in a)


def test_default_nodes_are_the_trading_hubs() -> None:
    (chunk,) = plan_chunks(date(2024, 6, 1), date(2024, 6, 2))
    assert chunk.params["node"] == "TH_NP15_GEN-APND,TH_SP15_GEN-APND,TH_ZP26_GEN-APND"
    assert chunk.params["startdatetime"] == "20240601T07:00-0000"


def test_a_year_has_one_23_hour_and_one_25_hour_day() -> None:
    lengths = []
    for i in range(365):
        lo, hi = operating_day_utc(date(2025, 1, 1) + timedelta(days=i))
        lengths.append((hi - lo) / timedelta(hours=1))
    assert sorted(set(lengths)) == [23, 24, 25]
    assert lengths.count(23) == 1 and lengths.count(25) == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"start": date(2024, 1, 2), "end": date(2024, 1, 2)}, ValueError, "after start"),
        ({"nodes": ["A"], "all_nodes": True}, ValueError, "not both"),
        ({"nodes": ["A,B"]}, ValueError, "invalid node names"),
        ({"nodes": []}, ValueError, "invalid node names"),
        ({"max_days": 31}, ValueError, "max_days"),
        ({"market": "XYZ"}, ValueError, "unknown CAISO market"),
        ({"start": datetime(2024, 1, 1, tzinfo=UTC)}, TypeError, "operating dates"),
    ],
)
def test_bad_plans_are_refused(kwargs: dict[str, object], error: type, message: str) -> None:
    args: dict[str, object] = {"start": date(2024, 1, 1), "end": date(2024, 1, 3)} | kwargs
    with pytest.raises(error, match=message):
        plan_chunks(**args)  # type: ignore[arg-type]


def test_oasis_time_needs_a_timezone() -> None:
    with pytest.raises(ValueError, match="no timezone"):
        format_oasis_time(datetime(2024, 1, 1))
    assert format_oasis_time(datetime(2024, 7, 1, tzinfo=UTC)) == "20240701T00:00-0000"


def test_chunk_request_is_hashable_and_comparable() -> None:
    a = plan_chunks(date(2024, 1, 1), date(2024, 1, 2), "DAM", all_nodes=True)[0]
    b = plan_chunks(date(2024, 1, 1), date(2024, 1, 2), "DAM", all_nodes=True)[0]
    assert a == b and hash(a) == hash(b) and isinstance(a, ChunkRequest)
