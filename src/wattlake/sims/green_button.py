"""Local stand-ins for Green Button Connect My Data and OEE's authorization service
(green-button-espi.md §3, §4.1). Written from the formats doc; never imports wattlake.sources.

:class:`GreenButtonSim` serves, under ``{root}/DataCustodian``:

* ``POST /oauth/token`` — ``grant_type=refresh_token`` with client credentials (HTTP Basic or
  form fields); answers ``access_token``, ``expires_in``, ``refresh_token``, ``resourceURI``,
  ``authorizationURI``. A revoked authorization answers 400 ``invalid_grant``; wrong client
  credentials 401 ``invalid_client``.
* ``GET /espi/1_1/resource/Subscription/{sid}/UsagePoint`` — the usage point list.
* ``GET /espi/1_1/resource/Batch/Subscription/{sid}/UsagePoint/{upid}`` with optional
  ``published-min`` / ``published-max`` (``YYYY-MM-DDTHH:MM:SSZ``, else 400): IntervalBlocks
  (one per local day) kept when ``start >= published-min`` and ``start + duration <=
  published-max`` — the reference implementation's filter on the data interval (§3.3).

Access tokens expire ``token_ttl`` after issue on the sim's clock (401 ``invalid_token`` after
that, also for revoked authorizations); a token of another subscription gets 403. A client
calling again within ``rate_limit_s`` of its previous request gets 429. A local day's data is
published ``publication_lag`` after the day ends (clock ``now``, moved by tests with
``advance``), estimated at first and revised ``revised_after`` later.

:class:`AuthServiceSim` is the authorization service oeem-etl called (§4.1) on the same
server under ``{root}/authsvc``: ``GET /api/v1/pgecustomers/?oeeclient=…&
has_active_refresh_token=True&id_only=True`` → ``[{"id": …}]`` and ``GET
/api/v1/pgecustomers/{id}`` → ``{"id", "project_id", "resource_uri", "active_access_token",
"refresh_token"}`` (``refresh_token`` is our extension; the access token may have expired).
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import secrets
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs

from wattlake.sims._server import Faults, Reply, Request, SimServer
from wattlake.sims.green_button_data import (
    Block,
    UsagePointSpec,
    batch_feed,
    day_block,
    usage_point_list,
)

__all__ = ["AuthServiceSim", "Customer", "GreenButtonSim", "UsagePointSpec", "main"]

PREFIX = "/DataCustodian"
RESOURCE = f"{PREFIX}/espi/1_1/resource"
AUTH_PREFIX = "/authsvc/api/v1/pgecustomers"
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
FAULTS = ("429", "500", "html")
ATOM_TYPE = {"Content-Type": "application/atom+xml"}


@dataclass
class Customer:
    """One authorization: a project's subscription with its usage points and tokens."""

    project_id: str
    subscription_id: str
    usage_points: list[UsagePointSpec]
    auth_id: int = 0
    refresh_token: str = field(default_factory=lambda: "rt-" + secrets.token_hex(8))
    access_token: str = ""
    expires_at: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    revoked: bool = False


@dataclass(frozen=True)
class SimRequest:
    method: str
    path: str
    params: dict[str, str]
    status: int


class GreenButtonSim(SimServer):
    def __init__(
        self,
        customers: Sequence[Customer],
        *,
        now: datetime,
        seed: int = 0,
        publication_lag: timedelta = timedelta(days=1),
        revised_after: timedelta = timedelta(days=2),
        token_ttl: timedelta = timedelta(hours=1),
        rate_limit_s: float = 0.0,
        client_id: str = "wattlake",
        client_secret: str = "secret",
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(host, port, tls)
        self.customers = list(customers)
        for i, c in enumerate(self.customers, start=1):
            c.auth_id = c.auth_id or i
        self.now = now
        self.seed, self.publication_lag, self.revised_after = seed, publication_lag, revised_after
        self.token_ttl, self.rate_limit_s = token_ttl, rate_limit_s
        self.client_id, self.client_secret = client_id, client_secret
        self.requests: list[SimRequest] = []
        self.faults = Faults(FAULTS)
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        for c in self.customers:
            self._issue(c)
        self.auth_service = AuthServiceSim(self)

    # -- control -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"{self.root_url}{PREFIX}"

    @property
    def resource_url(self) -> str:
        return f"{self.root_url}{RESOURCE}"

    @property
    def token_url(self) -> str:
        return f"{self.root_url}{PREFIX}/oauth/token"

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self.now += delta

    def revoke(self, project_id: str) -> None:
        with self._lock:
            for c in self.customers:
                if c.project_id == project_id:
                    c.revoked = True

    def fail_next(self, *kinds: str) -> None:
        self.faults.add(*kinds)

    def customer(self, project_id: str) -> Customer:
        return next(c for c in self.customers if c.project_id == project_id)

    def _issue(self, c: Customer) -> None:
        c.access_token = "at-" + secrets.token_hex(12)
        c.expires_at = self.now + self.token_ttl

    # -- data ----------------------------------------------------------------------------
    def published_blocks(
        self, spec: UsagePointSpec, lo: datetime | None, hi: datetime | None
    ) -> list[Block]:
        """The day blocks published by ``now`` inside [lo, hi] (data interval, inclusive)."""
        first = spec.service_start
        if lo is not None:
            first = max(first, lo.astimezone(spec.tz).date() - timedelta(days=1))
        last_t = self.now if hi is None else min(self.now, hi)
        last = last_t.astimezone(spec.tz).date() + timedelta(days=1)
        blocks = []
        day = first
        while day <= last:
            start, end = day_block(spec, day)
            published = end + self.publication_lag
            inside = (lo is None or start >= lo) and (hi is None or end <= hi)
            if inside and published <= self.now:
                blocks.append(Block(day, start, end, self.now < published + self.revised_after))
            day += timedelta(days=1)
        return blocks

    # -- HTTP ----------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        if request.path.startswith(AUTH_PREFIX):
            reply = self.auth_service.handle(request)
        else:
            reply = self._handle(request)
        self.requests.append(SimRequest(request.method, request.path, request.params, reply.status))
        return reply

    def _handle(self, r: Request) -> Reply:
        with self._lock:
            last = self._last.get(r.client)
            limited = last is not None and time.monotonic() - last < self.rate_limit_s
            if not limited:
                self._last[r.client] = time.monotonic()
        fault = None if limited else self.faults.take()
        if limited or fault == "429":
            return Reply(429, b"Too Many Requests")
        if fault == "500":
            return Reply(500, b"Internal Server Error")
        if fault == "html":
            return Reply(
                200, b"<html><body>Service unavailable</body></html>", {"Content-Type": "text/html"}
            )
        if r.method == "POST" and r.path == f"{PREFIX}/oauth/token":
            return self._token(r)
        if r.method != "GET" or not r.path.startswith(RESOURCE + "/"):
            return Reply(404, b"Not Found")
        parts = r.path[len(RESOURCE) + 1 :].split("/")
        customer, denied = self._authorize(r, parts)
        if denied is not None:
            return denied
        assert customer is not None
        if len(parts) == 3 and parts[0] == "Subscription" and parts[2] == "UsagePoint":
            body = usage_point_list(self.resource_url, customer.subscription_id,
                                    customer.usage_points, self.now)  # fmt: skip
            return Reply(200, body, ATOM_TYPE)
        if len(parts) == 5 and parts[:1] == ["Batch"] and parts[3] == "UsagePoint":
            spec = next((u for u in customer.usage_points if u.usage_point_id == parts[4]), None)
            if spec is None:
                return Reply(404, b"No such UsagePoint")
            bounds = []
            for name in ("published-min", "published-max"):
                value = r.params.get(name)
                if value is not None and not TIME_RE.match(value):
                    return Reply(400, f"{name} must be YYYY-MM-DDTHH:MM:SSZ".encode())
                bounds.append(
                    None if value is None
                    else datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                )  # fmt: skip
            blocks = self.published_blocks(spec, bounds[0], bounds[1])
            body = batch_feed(self.resource_url, customer.subscription_id, spec, self.seed,
                              blocks, self.now)  # fmt: skip
            return Reply(200, body, ATOM_TYPE)
        return Reply(404, b"Not Found")

    def _authorize(self, r: Request, parts: list[str]) -> tuple[Customer | None, Reply | None]:
        auth = r.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        invalid = Reply(401, b'{"error":"invalid_token"}',
                        {"WWW-Authenticate": 'Bearer error="invalid_token"',
                         "Content-Type": "application/json"})  # fmt: skip
        with self._lock:
            owner = next((c for c in self.customers if token and c.access_token == token), None)
            if owner is None or owner.revoked or owner.expires_at <= self.now:
                return None, invalid
        sid = (
            parts[2]
            if parts[:1] == ["Batch"] and len(parts) > 2
            else parts[1]
            if len(parts) > 1
            else ""
        )
        if sid != owner.subscription_id:
            return None, Reply(403, b"token not valid for this subscription")
        return owner, None

    def _token(self, r: Request) -> Reply:
        form = {k: v[0] for k, v in parse_qs(r.body.decode("utf-8", "replace")).items()}
        cid, secret = form.get("client_id"), form.get("client_secret")
        auth = r.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                cid = None
        if (cid, secret) != (self.client_id, self.client_secret):
            return _json(401, {"error": "invalid_client"})
        if form.get("grant_type") != "refresh_token":
            return _json(400, {"error": "unsupported_grant_type"})
        with self._lock:
            c = next(
                (x for x in self.customers if x.refresh_token == form.get("refresh_token")), None
            )
            if c is None or c.revoked:
                return _json(400, {"error": "invalid_grant",
                                   "error_description": "authorization revoked or unknown"})  # fmt: skip
            self._issue(c)
            sub = f"{self.resource_url}/Batch/Subscription/{c.subscription_id}"
            return _json(200, {
                "access_token": c.access_token, "token_type": "Bearer",
                "expires_in": int(self.token_ttl.total_seconds()),
                "refresh_token": c.refresh_token, "scope": "FB=4_5_15;IntervalDuration=900_3600",
                "resourceURI": sub,
                "authorizationURI": f"{self.resource_url}/Authorization/{c.auth_id}",
            })  # fmt: skip


class AuthServiceSim:
    """OEE's Green Button authorization service (the customer list), served by the sim."""

    def __init__(
        self, sim: GreenButtonSim, token: str = "authsvc-token", client: str = "1"
    ) -> None:
        self.sim, self.token, self.client = sim, token, client

    @property
    def url(self) -> str:
        return f"{self.sim.root_url}/authsvc"

    def handle(self, r: Request) -> Reply:
        if r.headers.get("authorization", "") != f"Bearer {self.token}":
            return _json(401, {"detail": "Authentication credentials were not provided."})
        rest = r.path[len(AUTH_PREFIX) :].strip("/")
        with self.sim._lock:
            customers = list(self.sim.customers)
        if not rest:
            if r.params.get("oeeclient") != self.client:
                return _json(200, [])
            return _json(200, [{"id": c.auth_id} for c in customers])
        c = next((x for x in customers if str(x.auth_id) == rest), None)
        if c is None:
            return _json(404, {"detail": "Not found."})
        return _json(200, {
            "id": c.auth_id, "project_id": c.project_id,
            "resource_uri": f"{self.sim.resource_url}/Batch/Subscription/{c.subscription_id}",
            "active_access_token": c.access_token, "refresh_token": c.refresh_token,
        })  # fmt: skip


def _json(status: int, payload: object) -> Reply:
    return Reply(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})


def demo_customers(today: date, days: int = 60) -> list[Customer]:
    """Three households: hourly electricity; 15-minute electricity with rooftop solar (net
    metering) plus daily gas; hourly electricity plus gas. Data starts ``days`` before today."""
    start = today - timedelta(days=days)
    return [
        Customer("P-1001", "5001", [UsagePointSpec("7001", "electric", 3600, service_start=start)]),
        Customer("P-1002", "5002", [
            UsagePointSpec("7002", "electric", 900, net_metering=True, service_start=start),
            UsagePointSpec("7003", "gas", service_start=start),
        ]),
        Customer("P-1003", "5003", [
            UsagePointSpec("7004", "electric", 3600, service_start=start),
            UsagePointSpec("7005", "gas", service_start=start + timedelta(days=10)),
        ]),
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m wattlake.sims.green_button --port 8002``: serve until Ctrl-C."""
    ap = argparse.ArgumentParser(prog="python -m wattlake.sims.green_button")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8002)
    ap.add_argument("--rate-limit", type=float, default=0.05)
    a = ap.parse_args(argv)
    now = datetime.now(UTC)
    sim = GreenButtonSim(demo_customers(now.date()), now=now, rate_limit_s=a.rate_limit,
                         host=a.host, port=a.port)  # fmt: skip
    print(f"Green Button Connect stand-in at {sim.start()}{PREFIX}", flush=True)
    sim.serve_until_interrupted()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
