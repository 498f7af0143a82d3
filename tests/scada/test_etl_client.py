"""The SCADA source client over httpx.MockTransport (unit seam): request shape, retries on
429/5xx/transport errors with the shared mechanism, final 400/404, Link pagination."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest

from wattlake.errors import FetchError, SourceResponseError
from wattlake.sources.scada.client import (
    DayRequest,
    RetryPolicy,
    ScadaClient,
    day_window,
    merge_pages,
)

FAST = RetryPolicy(max_retries=3, backoff_s=0.001)


def client(handler: object, policy: RetryPolicy = FAST) -> ScadaClient:
    transport = httpx.MockTransport(handler)  # type: ignore[arg-type]
    return ScadaClient(f"http://scada-{id(handler)}.test", policy=policy, transport=transport)


def test_request_is_the_original_contract_plus_turbine() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, content=b"[]")

    with client(handler) as c:
        assert c.get_day(DayRequest(date(2024, 5, 20), "default", ("wind_speed", "power"))) == b"[]"
        c.get_day(DayRequest(date(2024, 5, 20), "WTG02", ("power",), "America/Chicago"))
    first, second = seen
    assert first.path == "/data"
    assert first.params.multi_items() == [
        ("start_timestamp", "2024-05-20T00:00:00"),
        ("end_timestamp", "2024-05-21T00:00:00"),
        ("columns", "wind_speed"),
        ("columns", "power"),
    ]
    assert second.params.get("turbine") == "WTG02"


def test_5xx_429_and_connection_errors_are_retried() -> None:
    answers = iter([503, 429, "boom", 200])
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        a = next(answers)
        if a == "boom":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(int(a), content=b'[{"timestamp":"2024-05-20T00:00:00"}]')

    with client(handler) as c:
        body = c.get_day(DayRequest(date(2024, 5, 20), "default", ("power",)))
    assert calls == 4 and json.loads(body)[0]["timestamp"] == "2024-05-20T00:00:00"


def test_gives_up_after_the_retries_with_a_clear_error() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(502, content=b"bad gateway")

    with (
        client(handler, RetryPolicy(max_retries=2, backoff_s=0.001)) as c,
        pytest.raises(FetchError, match=r"failed after 3 attempts: HTTP 502") as info,
    ):
        c.get_day(DayRequest(date(2024, 5, 20), "default", ("power",)))
    assert calls == 3 and info.value.hint


def test_400_and_404_are_final() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if request.url.params.get("turbine"):
            return httpx.Response(404, json={"detail": "Turbine not found"})
        return httpx.Response(400, json={"detail": "Invalid column names"})

    with client(handler) as c:
        with pytest.raises(SourceResponseError, match="Invalid column names") as info:
            c.get_day(DayRequest(date(2024, 5, 20), "default", ("nope",)))
        assert info.value.code == "400"
        with pytest.raises(SourceResponseError, match="Turbine not found"):
            c.get_day(DayRequest(date(2024, 5, 20), "WTG99", ("power",)))
    assert calls == 2


def test_pages_are_followed_and_joined() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", 0))
        rows = [
            {"timestamp": f"2024-05-20T00:0{offset + i}:00", "power": offset + i} for i in (0, 1)
        ]
        headers = {}
        if offset < 4:
            nxt = request.url.copy_set_param("offset", str(offset + 2))
            headers["Link"] = f'<{nxt}>; rel="next"'
        return httpx.Response(200, content=json.dumps(rows).encode(), headers=headers)

    with client(handler) as c:
        body = c.get_day(DayRequest(date(2024, 5, 20), "default", ("power",)))
    assert [r["power"] for r in json.loads(body)] == [0, 1, 2, 3, 4, 5]
    assert json.loads(merge_pages([b"[]", b" [1] ", b"[]"])) == [1]


def test_day_window_in_a_dst_zone() -> None:
    lo, hi = day_window(date(2024, 11, 3), "America/Chicago")
    assert (hi - lo).total_seconds() == 25 * 3600
    lo, hi = day_window(date(2024, 3, 10), "America/Chicago")
    assert (hi - lo).total_seconds() == 23 * 3600


def test_a_cut_or_garbled_200_is_retried() -> None:
    bodies = iter([b'[{"timestamp": "2024-05-20T00:00:00", "pow', b'{"detail": "x"}', b"[]"])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=next(bodies))

    with client(handler) as c:
        assert c.get_day(DayRequest(date(2024, 5, 20), "default", ("power",))) == b"[]"
