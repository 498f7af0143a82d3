"""The Green Button Connect client against the stand-in over real HTTP: listing, batch windows,
token refresh, revocation, 429 pacing, error pages; the authorization service."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from tests._support import samples
from wattlake.errors import InputError
from wattlake.sims.green_button import Customer, GreenButtonSim, UsagePointSpec
from wattlake.sources.espi.client import (
    Authorization,
    AuthServiceClient,
    GreenButtonClient,
    RevokedError,
    data_span,
    parse_usage_points,
)

NOW = datetime(2026, 3, 20, 19, tzinfo=UTC)


@pytest.fixture
def sim() -> Iterator[GreenButtonSim]:
    customers = [
        Customer("P-1", "501", [UsagePointSpec("71", "electric", 900, net_metering=True,
                                               service_start=date(2026, 3, 1)),
                                UsagePointSpec("72", "gas", service_start=date(2026, 3, 1))]),
        Customer("P-2", "502", [UsagePointSpec("73", service_start=date(2026, 3, 1))]),
    ]  # fmt: skip
    with GreenButtonSim(customers, now=NOW, rate_limit_s=0.05) as s:
        yield s


def _client(sim: GreenButtonSim, **kw: object) -> GreenButtonClient:
    return GreenButtonClient(sim.resource_url, token_url=sim.token_url, client_id="wattlake",
                             client_secret="secret", min_interval_s=0.06, backoff_s=0.05, **kw)  # type: ignore[arg-type]  # fmt: skip


def _auth(sim: GreenButtonSim, project: str) -> Authorization:
    c = sim.customer(project)
    return Authorization(project, c.subscription_id, c.access_token, c.refresh_token)


def test_usage_points_and_a_batch_window(sim: GreenButtonSim) -> None:
    with _client(sim) as client:
        auth = _auth(sim, "P-1")
        refs = client.usage_points(auth)
        assert [(r.usage_point_id, r.service_kind) for r in refs] == [("71", 0), ("72", 1)]
        lo, hi = datetime(2026, 3, 7, 8, tzinfo=UTC), datetime(2026, 3, 10, 7, tzinfo=UTC)
        span = data_span(client.batch(auth, "71", lo, hi))
    # Mar 7 (24 h), Mar 8 (23 h: DST starts), Mar 9 (24 h); two channels (net metering)
    assert span.blocks == 6 and len(span.channels) == 2
    assert all(v == (lo, hi) for v in span.channels.values())


def test_the_pge_usage_point_list_sample() -> None:
    body = samples("espi", "pge_cmd_subscription_usagepoint_list.xml").read_bytes()
    refs = parse_usage_points(body)
    assert [(r.usage_point_id, r.service_kind) for r in refs] == [("9026920544", 1)]  # by rel=self


def test_an_expired_token_is_refreshed_once(sim: GreenButtonSim) -> None:
    auth = _auth(sim, "P-2")
    old = auth.access_token
    sim.advance(timedelta(hours=2))  # past the token's lifetime on the sim clock
    with _client(sim) as client:
        assert [r.usage_point_id for r in client.usage_points(auth)] == ["73"]
    assert auth.access_token != old and auth.access_token == sim.customer("P-2").access_token
    statuses = [r.status for r in sim.requests if "oauth" not in r.path and r.status != 429]
    assert statuses == [401, 200]
    assert sum(1 for r in sim.requests if r.path.endswith("/oauth/token") and r.status == 200) == 1


def test_a_revoked_authorization_raises_revoked(sim: GreenButtonSim) -> None:
    sim.revoke("P-2")
    with _client(sim) as client, pytest.raises(RevokedError, match="invalid_grant"):
        client.usage_points(_auth(sim, "P-2"))


def test_429_and_500_are_retried_and_error_pages_refused(sim: GreenButtonSim) -> None:
    sim.rate_limit_s = 0.3
    auth = _auth(sim, "P-2")
    with _client(sim) as client:
        client.usage_points(auth)
        client.usage_points(auth)  # faster than the sim allows: 429, then paced retry
        sim.fail_next("500")
        client.usage_points(auth)
        sim.fail_next("html")
        with pytest.raises(InputError, match="expected an Atom <feed>"):
            data_span(client.batch(auth, "73", NOW - timedelta(days=5), NOW))
    statuses = [r.status for r in sim.requests]
    assert 429 in statuses and 500 in statuses


def test_the_authorization_service_lists_customers(sim: GreenButtonSim) -> None:
    svc = AuthServiceClient(sim.auth_service.url, "authsvc-token", "1")
    customers = svc.customers()
    svc.close()
    assert [(c.project_id, c.subscription_id, c.origin) for c in customers] == [
        ("P-1", "501", "auth_service"), ("P-2", "502", "auth_service")]  # fmt: skip
    assert customers[0].access_token == sim.customer("P-1").access_token


def test_a_feed_with_a_doctype_is_refused() -> None:
    evil = b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY x SYSTEM "file:///etc/passwd">]><feed xmlns="http://www.w3.org/2005/Atom">&x;</feed>'
    with pytest.raises(InputError, match="DOCTYPE"):
        data_span(evil)
