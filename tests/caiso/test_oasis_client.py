"""The OASIS client over real HTTP against the local stand-in (MockTransport only for seams)."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.caiso.conftest import SIM_RATE_S, parse_bytes
from wattlake.errors import FetchError
from wattlake.sims.oasis import OasisSim
from wattlake.sources.caiso.client import ChunkRequest, OasisClient, plan_chunks
from wattlake.sources.caiso.parse import OasisResponseError, OasisTryLaterError
from wattlake.sources.caiso.schema import LMP, TRADING_HUBS, Market

NODES = ["DLAP_PGAE-APND", *TRADING_HUBS]


def per_node_intervals(table: pa.Table) -> Counter[str]:
    return Counter(table["node"].to_pylist())


def test_a_week_for_a_few_nodes(sim: OasisSim, client: OasisClient) -> None:
    table = client.get_lmp(date(2026, 1, 12), date(2026, 1, 19), "DAM", nodes=NODES)
    assert table.schema == LMP.arrow_schema
    assert per_node_intervals(table) == {n: 7 * 24 for n in NODES}
    assert len(sim.requests) == 1  # 4 nodes x 7 days fit in one request
    np15 = table.filter(pc.equal(table["node"], "TH_NP15_GEN-APND"))
    starts = np15["interval_start_utc"].to_pylist()
    assert starts[0] == datetime(2026, 1, 12, 8, tzinfo=UTC)  # midnight PST
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(starts))
    row = np15.to_pylist()[30]
    expected = sim.model.components(Market.DAM, "TH_NP15_GEN-APND", row["interval_start_utc"])
    assert (row["lmp"], row["energy"], row["congestion"], row["loss"], row["ghg"]) == (
        expected["LMP"],
        expected["MCE"],
        expected["MCC"],
        expected["MCL"],
        expected["MGHG"],
    )
    parts = pc.add(
        pc.add(pc.add(table["energy"], table["congestion"]), table["loss"]), table["ghg"]
    )
    assert pc.max(pc.abs(pc.subtract(table["lmp"], parts))).as_py() <= 1e-5 + 1e-9


def test_a_real_time_week_for_two_nodes(client: OasisClient) -> None:
    table = client.get_lmp(date(2026, 6, 1), date(2026, 6, 8), "RTM", nodes=NODES[:2])
    assert per_node_intervals(table) == {n: 7 * 288 for n in NODES[:2]}
    assert set(table["opr_interval"].to_pylist()) == set(range(1, 13))


def test_a_day_for_all_nodes(sim: OasisSim, client: OasisClient) -> None:
    table = client.get_lmp(date(2026, 2, 10), date(2026, 2, 11), Market.DAM, all_nodes=True)
    assert per_node_intervals(table) == {n: 24 for n in sim.nodes}
    assert "grp_type" in sim.requests[0].params and len(sim.requests) == 1


def test_a_real_time_day_for_all_nodes_is_one_request_per_hour(
    sim: OasisSim, client: OasisClient
) -> None:
    table = client.get_lmp(date(2026, 2, 10), date(2026, 2, 11), Market.RTPD, all_nodes=True)
    assert per_node_intervals(table) == {n: 24 * 4 for n in sim.nodes}
    # one answered request per hour; a 429 (arrival jitter on a loaded machine can bring two
    # requests closer than the sim's limit) is retried, never counted as an hour
    answered = [r.params["startdatetime"] for r in sim.requests if r.status == 200]
    assert len(answered) == 24 and len(set(answered)) == 24
    assert {r.status for r in sim.requests} <= {200, 429}


@pytest.mark.parametrize(
    ("day", "hours", "labels"),
    [
        (date(2025, 11, 2), 25, {*range(1, 26)}),
        (date(2026, 3, 8), 23, {*range(1, 25)} - {3}),
    ],
)
@pytest.mark.parametrize("all_nodes", [False, True])
def test_dst_days_give_25_and_23_hourly_intervals(
    client: OasisClient, day: date, hours: int, labels: set[int], all_nodes: bool
) -> None:
    nodes = None if all_nodes else NODES
    table = client.get_lmp(day, day + timedelta(days=1), "DAM", nodes=nodes, all_nodes=all_nodes)
    for node in TRADING_HUBS:
        rows = table.filter(pc.equal(table["node"], node))
        assert len(set(rows["interval_start_utc"].to_pylist())) == hours
        assert set(rows["opr_hour"].to_pylist()) == labels
        assert set(rows["opr_date"].to_pylist()) == {day}


def test_429_is_waited_out() -> None:
    with OasisSim(rate_limit_s=0.4, all_nodes_count=12) as sim:
        fast = OasisClient(sim.base_url, min_interval_s=0.0, backoff_s=0.1, timeout=10)
        chunks = plan_chunks(date(2026, 1, 5), date(2026, 1, 7), "DAM", all_nodes=True)
        started = time.monotonic()
        bodies = [fast.get_chunk(c) for c in chunks]
        elapsed = time.monotonic() - started
        fast.close()
    statuses = [r.status for r in sim.requests]
    assert statuses.count(200) == 2 and 429 in statuses
    assert elapsed >= 0.4  # the second success came only after the sim's interval
    for body in bodies:
        table, report = parse_bytes(body)
        assert table.num_rows == 12 * 24 and report.balanced


def test_the_limiter_is_shared_by_clients_and_threads() -> None:
    with OasisSim(rate_limit_s=0.08, all_nodes_count=10) as sim:
        clients = [OasisClient(sim.base_url, min_interval_s=0.15, timeout=10) for _ in range(3)]
        chunks = plan_chunks(date(2026, 1, 5), date(2026, 1, 7), "DAM", all_nodes=True)
        threads = [
            threading.Thread(target=lambda c=c: [c.get_chunk(ch) for ch in chunks]) for c in clients
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for c in clients:
            c.close()
    assert [r.status for r in sim.requests] == [200] * 6  # paced together: never a 429


def test_no_data_is_an_empty_successful_chunk(sim: OasisSim, client: OasisClient) -> None:
    (req,) = plan_chunks(date(2030, 1, 1), date(2030, 1, 2), "DAM", all_nodes=True)
    body = client.get_chunk(req)
    table, report = parse_bytes(body, req.key)
    assert table.num_rows == 0 and report.balanced and "1000" in (report.note or "")
    empty = client.get_lmp(date(2030, 1, 1), date(2030, 1, 2), "DAM")
    assert empty.num_rows == 0 and empty.schema == LMP.arrow_schema
    assert [r.outcome for r in sim.requests] == ["1000", "1000"]


def _manual(nodes: tuple[str, ...], days: int) -> ChunkRequest:
    start = datetime(2026, 1, 1, 8, tzinfo=UTC)
    end = start + timedelta(days=days)
    return ChunkRequest("manual", Market.DAM, start, end, nodes, date(2026, 1, 1), date(2026, 1, 1))


@pytest.mark.parametrize(
    ("req", "code", "hint"),
    [
        (_manual(tuple(f"N{i}" for i in range(11)), 1), "1017", "at most 10 nodes"),
        (_manual(TRADING_HUBS, 31), "1004", "30 days"),
    ],
)
def test_a_bad_request_is_a_clear_error_and_not_retried(
    sim: OasisSim, client: OasisClient, req: ChunkRequest, code: str, hint: str
) -> None:
    with pytest.raises(OasisResponseError) as exc:
        client.get_chunk(req)
    assert exc.value.code == code and hint in str(exc.value)
    assert len(sim.requests) == 1


@pytest.mark.parametrize(
    "faults", [("500",), ("truncate",), ("corrupt",), ("1015",), ("429", "500")]
)
def test_transient_failures_are_retried(
    sim: OasisSim, client: OasisClient, faults: tuple[str, ...]
) -> None:
    sim.fail_next(*faults)
    (req,) = plan_chunks(date(2026, 1, 5), date(2026, 1, 6), "DAM", ["TH_SP15_GEN-APND"])
    table, report = parse_bytes(client.get_chunk(req))
    assert table.num_rows == 24 and report.balanced
    assert [r.outcome for r in sim.requests] == [*faults, "csv"]


def test_persistent_try_later_raises_try_later(sim: OasisSim) -> None:
    sim.fail_next("1015", "1015", "1015")
    (req,) = plan_chunks(date(2026, 1, 5), date(2026, 1, 6), "DAM")
    with (
        OasisClient(sim.base_url, min_interval_s=2 * SIM_RATE_S, max_retries=2) as client,
        pytest.raises(OasisTryLaterError, match="1015") as exc,
    ):
        client.get_chunk(req)
    assert "again" in str(exc.value) and len(sim.requests) == 3


def test_persistent_http_failure_raises_fetch_error(sim: OasisSim) -> None:
    sim.fail_next("500", "429")
    (req,) = plan_chunks(date(2026, 1, 5), date(2026, 1, 6), "DAM")
    with (
        OasisClient(sim.base_url, min_interval_s=2 * SIM_RATE_S, max_retries=1) as client,
        pytest.raises(FetchError, match="after 2 attempts: HTTP 429") as exc,
    ):
        client.get_chunk(req)
    assert exc.value.hint


def test_body_is_returned_exactly_as_sent(sim: OasisSim, client: OasisClient) -> None:
    (req,) = plan_chunks(date(2026, 1, 5), date(2026, 1, 6), "HASP", ["TH_ZP26_GEN-APND"])
    body = client.get_chunk(req)
    outcome, _headers, expected = sim.answer(sim.requests[0].params)
    assert outcome == "csv" and body == expected


# --- narrow seams with httpx.MockTransport -------------------------------------------------


def test_timeouts_are_retried_and_other_http_errors_are_not(sim: OasisSim) -> None:
    (req,) = plan_chunks(date(2026, 1, 5), date(2026, 1, 6), "DAM")
    good = sim.answer(req.params)[2]
    calls: list[str] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        if len(calls) == 1:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, content=good)

    client = OasisClient(
        "http://oasis.test/oasisapi", min_interval_s=0, transport=httpx.MockTransport(flaky)
    )
    assert client.get_chunk(req) == good and len(calls) == 2
    assert calls[0].startswith(
        "http://oasis.test/oasisapi/SingleZip?resultformat=6&queryname=PRC_LMP"
    )
    assert "startdatetime=20260105T08:00-0000" in calls[0]  # sent unencoded like other clients

    missing = OasisClient(
        "http://oasis.test/wrong",
        min_interval_s=0,
        transport=httpx.MockTransport(lambda r: httpx.Response(404)),
    )
    with pytest.raises(FetchError, match="HTTP 404"):
        missing.get_chunk(req)


def test_get_lmp_matches_parsing_the_chunks_yourself(sim: OasisSim, client: OasisClient) -> None:
    table = client.get_lmp(date(2026, 1, 5), date(2026, 1, 6), "RTM", nodes=["TH_NP15_GEN-APND"])
    (req,) = plan_chunks(date(2026, 1, 5), date(2026, 1, 6), "RTM", ["TH_NP15_GEN-APND"])
    mine, _ = parse_bytes(client.get_chunk(req), req.key)
    assert table.equals(mine)
