"""Green Button Connect My Data client (green-button-espi.md §3) and the authorization-service
client oeem-etl used for its customer list (§4.1).

* Bearer tokens with refresh: a 401 refreshes the token once (``grant_type=refresh_token`` at
  the token endpoint with the client credentials, or, for customers from the authorization
  service without a refresh token, a fresh read of their record) and the request is repeated; an
  ``invalid_grant`` answer raises :class:`RevokedError` for that authorization only.
* Optional client certificate (mutual TLS, required by PG&E).
* Pacing and retries on 429/5xx/timeouts through :mod:`wattlake.http`, the mechanism the CAISO
  client uses.
* Answers are checked before anyone stores them: an Atom feed, no DTD (so no entity tricks),
  size-limited. :func:`data_span` says which data intervals a batch answer holds, per
  MeterReading, streaming (entry by entry) without parsing it into rows.
"""

from __future__ import annotations

import io
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from lxml import etree

from wattlake.errors import FetchError, InputError, SourceError
from wattlake.http import Answer, Pacer

ATOM = "{http://www.w3.org/2005/Atom}"
ESPI = "{http://naesb.org/espi}"
MAX_ANSWER_BYTES = 512 * 1024 * 1024
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_PROLOG = re.compile(rb"\s*(<\?.*?\?>|<!--.*?-->)", re.S)


class RevokedError(SourceError):
    """The customer's authorization is revoked (``invalid_grant``)."""


@dataclass
class Authorization:
    """One customer's authorization: the project it belongs to, its subscription and tokens.
    ``reload`` (customers from the authorization service) re-reads the record for a new
    access token when there is no refresh token."""

    project_id: str
    subscription_id: str
    access_token: str | None
    refresh_token: str | None = None
    origin: str = "config"
    reload: Callable[[], Authorization | None] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class UsagePointRef:
    usage_point_id: str
    service_kind: int | None  # 0 electricity, 1 gas, … (ServiceCategory/kind)

    @property
    def is_gas(self) -> bool:
        return self.service_kind == 1


def format_time(ts: datetime) -> str:
    if ts.tzinfo is None:
        raise ValueError(f"{ts!r} has no timezone; pass an aware datetime")
    return ts.astimezone(UTC).strftime(TIME_FORMAT)


def _refuse_doctype(body: bytes, what: str) -> None:
    head = body.lstrip(b"\xef\xbb\xbf")
    pos = 0
    while m := _PROLOG.match(head, pos):
        pos = m.end()
    if head[pos:].lstrip().startswith(b"<!DOCTYPE"):
        raise InputError(f"{what}: has a DOCTYPE; refused (no DTDs or entities are accepted)")


_SAFE = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False,
         "remove_comments": True}  # fmt: skip


def _safe_root(body: bytes, what: str) -> etree._Element:
    """Parse a small answer (usage point list) with no DTD, no entities, no network; it must be
    an Atom feed."""
    _refuse_doctype(body, what)
    try:
        root = etree.parse(io.BytesIO(body), etree.XMLParser(**_SAFE)).getroot()  # type: ignore[arg-type]
    except etree.XMLSyntaxError as exc:
        raise InputError(f"{what}: not well-formed XML ({exc})") from None
    if root.tag != f"{ATOM}feed":
        raise InputError(f"{what}: expected an Atom <feed>, got <{root.tag}>")
    return root


def _links(entry: etree._Element) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for link in entry.iter(f"{ATOM}link"):
        out.setdefault(link.get("rel", ""), []).append(link.get("href", ""))
    return out


def parse_usage_points(body: bytes) -> list[UsagePointRef]:
    """Usage points of a ``Subscription/{sid}/UsagePoint`` answer (by the ``self`` link)."""
    root = _safe_root(body, "usage point list")
    found: dict[str, UsagePointRef] = {}
    for entry in root.iter(f"{ATOM}entry"):
        up = next(entry.iter(f"{ESPI}UsagePoint"), None)
        selfs = _links(entry).get("self", [])
        if up is None or not selfs or "/UsagePoint/" not in selfs[0]:
            continue
        upid = selfs[0].rstrip("/").rsplit("/UsagePoint/", 1)[1].split("/")[0]
        kind_el = next(up.iter(f"{ESPI}kind"), None)
        text = (kind_el.text or "").strip() if kind_el is not None else ""
        found.setdefault(upid, UsagePointRef(upid, int(text) if text.isdigit() else None))
    return list(found.values())


@dataclass(frozen=True)
class DataSpan:
    """What a batch answer holds: IntervalBlocks and, per MeterReading (``up`` link of the
    blocks), the earliest start and latest end of their data intervals."""

    blocks: int
    channels: dict[str, tuple[datetime, datetime]]

    @property
    def end(self) -> datetime | None:
        return max((hi for _lo, hi in self.channels.values()), default=None)

    @property
    def start(self) -> datetime | None:
        return min((lo for lo, _hi in self.channels.values()), default=None)


def data_span(body: bytes, what: str = "batch answer") -> DataSpan:
    """The data intervals in a batch answer, read entry by entry (memory does not grow with
    the answer). Raises InputError if it is not an Atom feed or not well-formed."""
    _refuse_doctype(body, what)
    spans: dict[str, tuple[datetime, datetime]] = {}
    blocks = 0
    try:
        for _event, el in etree.iterparse(io.BytesIO(body), events=("start",), **_SAFE):
            if el.tag != f"{ATOM}feed":
                raise InputError(f"{what}: expected an Atom <feed>, got <{el.tag}>")
            break  # only the root element is read here
        entries = etree.iterparse(io.BytesIO(body), events=("end",), tag=f"{ATOM}entry", **_SAFE)
        for _event, entry in entries:  # lxml filters the tags: Python sees entries only
            for block in entry.iter(f"{ESPI}IntervalBlock"):
                _add_block(spans, entry, block)
                blocks += 1
            entry.clear()
            while entry.getprevious() is not None:
                del entry.getparent()[0]
    except etree.XMLSyntaxError as exc:
        raise InputError(f"{what}: not well-formed XML ({exc})") from None
    return DataSpan(blocks, spans)


def _add_block(
    spans: dict[str, tuple[datetime, datetime]], entry: etree._Element, block: etree._Element
) -> None:
    links = _links(entry)
    up = (links.get("up") or [""])[0] or (links.get("self") or [""])[0].rsplit("/", 1)[0]
    channel = up.removesuffix("/IntervalBlock")
    own = block.find(f"{ESPI}interval")  # the block's own interval; else its readings'
    intervals = [own] if own is not None else block.iter(f"{ESPI}timePeriod")
    for interval in intervals:
        try:
            start = float(interval.findtext(f"{ESPI}start") or "")
            duration = float(interval.findtext(f"{ESPI}duration") or "")
        except ValueError:
            continue
        lo = datetime.fromtimestamp(round(start), UTC)
        hi = datetime.fromtimestamp(round(start + duration), UTC)
        old = spans.get(channel)
        spans[channel] = (min(lo, old[0]), max(hi, old[1])) if old else (lo, hi)


class GreenButtonClient:
    """Talks to one data custodian's Green Button Connect API.

    ``resource_url`` ends in ``/espi/1_1/resource``; ``token_url`` is the OAuth token endpoint;
    ``cert`` a (certificate file, key file) pair for mutual TLS; ``ca_file`` the CA bundle that
    signed the custodian's certificate when it is not a public one.
    """

    def __init__(
        self,
        resource_url: str,
        *,
        token_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        cert: tuple[str, str] | None = None,
        ca_file: str | None = None,
        min_interval_s: float = 0.5,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.resource_url = resource_url.rstrip("/")
        self.token_url, self.client_id, self.client_secret = token_url, client_id, client_secret
        self.pacer = Pacer(
            self.resource_url, name="Green Button", min_interval_s=min_interval_s,
            max_retries=max_retries, backoff_s=backoff_s,
        )  # fmt: skip
        verify: ssl.SSLContext | bool = True
        if cert or ca_file:
            verify = ssl.create_default_context(cafile=ca_file)
            if cert:
                verify.load_cert_chain(cert[0], cert[1])
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 20.0)),
            transport=transport,
            verify=verify,
            headers={"User-Agent": "wattlake-green-button", "Accept": "application/atom+xml"},
        )

    def __enter__(self) -> GreenButtonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- tokens --------------------------------------------------------------------------
    def refresh(self, auth: Authorization) -> None:
        """A new access token for ``auth`` (RevokedError if the grant is gone)."""
        if auth.refresh_token and self.token_url:
            answer = self.pacer.request(
                self._http, "POST", self.token_url, what=f"token refresh ({auth.project_id})",
                hint="check espi.token_url", max_bytes=1024 * 1024,
                data={"grant_type": "refresh_token", "refresh_token": auth.refresh_token},
                auth=(self.client_id or "", self.client_secret or ""),
            )  # fmt: skip
            payload = _json_or_none(answer)
            if answer.status == 200 and payload and payload.get("access_token"):
                auth.access_token = str(payload["access_token"])
                auth.refresh_token = str(payload.get("refresh_token") or auth.refresh_token)
                return
            error = (payload or {}).get("error", f"HTTP {answer.status}")
            if error == "invalid_grant":
                raise RevokedError(f"authorization of {auth.project_id} is revoked (invalid_grant)",
                                   hint="the customer must authorize again")  # fmt: skip
            raise FetchError(
                f"token refresh for {auth.project_id} failed: {error}",
                hint="check espi.client_id_env / client_secret_env and espi.token_url",
            )
        if auth.reload is not None:
            fresh = auth.reload()
            if fresh is None or not fresh.access_token or fresh.access_token == auth.access_token:
                raise RevokedError(
                    f"authorization of {auth.project_id} has no valid token at the "
                    "authorization service", hint="the customer must authorize again",
                )  # fmt: skip
            auth.access_token, auth.refresh_token = fresh.access_token, fresh.refresh_token
            return
        raise RevokedError(f"access token of {auth.project_id} expired and cannot be refreshed",
                           hint="set refresh_token_env for this customer")  # fmt: skip

    def _get(
        self, auth: Authorization, url: str, params: dict[str, str] | None, what: str
    ) -> bytes:
        if not auth.access_token:
            self.refresh(auth)
        for attempt in range(2):
            answer = self.pacer.request(
                self._http, "GET", url, what=what, max_bytes=MAX_ANSWER_BYTES, params=params,
                headers={"Authorization": f"Bearer {auth.access_token}"},
                hint="the custodian may be down or throttling; run again later",
            )  # fmt: skip
            if answer.status == 401 and attempt == 0:
                self.refresh(auth)
                continue
            if answer.status == 200:
                return answer.body
            if answer.status == 401:
                raise RevokedError(f"{what}: token refused even after a refresh",
                                   hint="the customer must authorize again")  # fmt: skip
            raise FetchError(
                f"{what}: HTTP {answer.status}",
                hint="check espi.resource_url and the subscription / usage point ids",
            )
        raise AssertionError("unreachable")

    # -- resources -----------------------------------------------------------------------
    def usage_points(self, auth: Authorization) -> list[UsagePointRef]:
        url = f"{self.resource_url}/Subscription/{auth.subscription_id}/UsagePoint"
        return parse_usage_points(self._get(auth, url, None, f"usage points of {auth.project_id}"))

    def batch_url(self, auth: Authorization, usage_point_id: str) -> str:
        return (
            f"{self.resource_url}/Batch/Subscription/{auth.subscription_id}"
            f"/UsagePoint/{usage_point_id}"
        )

    def batch(
        self,
        auth: Authorization,
        usage_point_id: str,
        published_min: datetime,
        published_max: datetime,
    ) -> bytes:
        """The batch feed of one usage point for data in [published_min, published_max], as
        received; check it with :func:`data_span` before storing it."""
        params = {"published-min": format_time(published_min),
                  "published-max": format_time(published_max)}  # fmt: skip
        what = f"batch {auth.project_id}/{usage_point_id}"
        return self._get(auth, self.batch_url(auth, usage_point_id), params, what)


def _json_or_none(answer: Answer) -> dict[str, Any] | None:
    try:
        value = answer.json()
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class AuthServiceClient:
    """OEE's authorization service: which customers authorized us, with their tokens."""

    def __init__(
        self,
        url: str,
        token: str,
        client_id: str,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.client_id = client_id
        self.pacer = Pacer(self.url, name="authorization service", max_retries=3)
        self._http = httpx.Client(
            timeout=timeout, transport=transport, headers={"Authorization": f"Bearer {token}"}
        )

    def close(self) -> None:
        self._http.close()

    def _json(self, path: str, params: dict[str, str] | None = None) -> Any:
        answer = self.pacer.request(
            self._http, "GET", f"{self.url}/api/v1/pgecustomers/{path}", params=params,
            what=f"pgecustomers/{path}", max_bytes=64 * 1024 * 1024,
            hint="check auth_service.url and that the service answers",
        )  # fmt: skip
        if answer.status != 200:
            raise FetchError(
                f"authorization service answered HTTP {answer.status} for pgecustomers/{path}",
                hint="check auth_service.url, auth_service.token_env and auth_service.client_id",
            )
        return answer.json()

    def customer(self, customer_id: str) -> Authorization | None:
        rec = self._json(f"{customer_id}")
        uri = rec.get("resource_uri")
        if not uri or not rec.get("project_id"):
            return None
        auth = Authorization(
            project_id=str(rec["project_id"]),
            subscription_id=str(uri).rstrip("/").rsplit("/", 1)[-1],
            access_token=rec.get("active_access_token"),
            refresh_token=rec.get("refresh_token"),
            origin="auth_service",
        )
        auth.reload = lambda: self.customer(customer_id)
        return auth

    def customers(self) -> list[Authorization]:
        ids = self._json(
            "", {"oeeclient": self.client_id, "has_active_refresh_token": "True", "id_only": "True"}
        )
        out = []
        for item in ids:
            auth = self.customer(str(item["id"]))
            if auth is not None:
                out.append(auth)
        return out
