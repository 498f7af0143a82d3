"""The shared pacing/retry mechanism (wattlake.http), at the httpx seam (MockTransport)."""

from __future__ import annotations

import time

import httpx
import pytest

from wattlake.errors import FetchError
from wattlake.http import Answer, Pacer, Retry, send


def _client(statuses: list[int | str]) -> tuple[httpx.Client, list[int]]:
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(1)
        status = statuses.pop(0)
        if status == "timeout":
            raise httpx.ReadTimeout("slow", request=request)
        assert isinstance(status, int)
        headers = {"Retry-After": "0.2"} if status == 429 else {}
        return httpx.Response(status, content=b"body", headers=headers)

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def test_send_classifies_outcomes() -> None:
    http, _ = _client([429, 503, "timeout", 404, 200])
    assert isinstance(send(http, "GET", "http://x/a", max_bytes=10), Retry)
    assert isinstance(send(http, "GET", "http://x/a", max_bytes=10), Retry)
    assert "timeout" in send(http, "GET", "http://x/a", max_bytes=10).problem  # type: ignore[union-attr]
    answer = send(http, "GET", "http://x/a", max_bytes=10)
    assert isinstance(answer, Answer) and answer.status == 404  # the caller judges a 404
    assert isinstance(send(http, "GET", "http://x/a", max_bytes=2), Retry)  # too large


def test_pacer_retries_then_succeeds_and_honours_retry_after() -> None:
    http, seen = _client([429, 500, "timeout", 200])
    pacer = Pacer("http://retry-test-1", name="t", max_retries=4, backoff_s=0.01)
    t0 = time.monotonic()
    answer = pacer.request(http, "GET", "http://x/a", what="a", hint="h", max_bytes=100)
    assert answer.status == 200 and answer.body == b"body" and len(seen) == 4
    assert time.monotonic() - t0 >= 0.2  # waited at least the server's Retry-After


def test_pacer_gives_up_with_the_last_problem() -> None:
    http, seen = _client([503, 503, 503])
    pacer = Pacer("http://retry-test-2", name="svc", max_retries=2, backoff_s=0.01)
    with pytest.raises(FetchError, match=r"svc request a failed after 3 attempts: HTTP 503"):
        pacer.request(http, "GET", "http://x/a", what="a", hint="h", max_bytes=100)
    assert len(seen) == 3


def test_oasis_and_green_button_share_the_mechanism() -> None:
    from wattlake.sources.caiso.client import OasisClient
    from wattlake.sources.espi.client import GreenButtonClient

    a = OasisClient("http://same-host:1/oasisapi", min_interval_s=0.0)
    b = GreenButtonClient("http://same-host:1/espi/1_1/resource", min_interval_s=0.0)
    assert isinstance(a.pacer, Pacer) and isinstance(b.pacer, Pacer)
    assert a.pacer.limiter is b.pacer.limiter  # one pace per host, whoever calls
    a.close()
    b.close()
