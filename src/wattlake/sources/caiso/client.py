"""HTTP client for CAISO OASIS LMPs: chunk planning, process-wide pacing, retries.

Windows. Callers ask for Pacific operating days ``[start, end)`` (``end`` exclusive). Each day
is converted to UTC with America/Los_Angeles rules, so a chunk covers 24 hours normally, 23 on
the spring-forward day and 25 on the fall-back day. OASIS selects intervals whose start lies in
``[startdatetime, enddatetime)``.

Limits (caiso-oasis.md §1.4): all-nodes requests cover one operating day (DAM) or one UTC hour
(RTM, RTPD, HASP); node lists hold at most 10 nodes and span at most 30 days.

Pacing. OASIS allows about one request per 5 s and answers HTTP 429 beyond that. All clients in
a process that talk to the same host share one :class:`~wattlake.http.RateLimiter`, so threads
cannot exceed the pace together. 429, 5xx, timeouts, transport errors, truncated or corrupt
zips and "try later" OASIS codes are retried with exponential backoff. The pacing and retry
mechanism is :mod:`wattlake.http`, shared with the Green Button and datastore clients.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pyarrow as pa

from wattlake.errors import FetchError, InputError
from wattlake.http import Answer, Pacer, RateLimiter, Retry, send, shared_limiter

__all__ = ["OasisClient", "RateLimiter", "plan_chunks", "shared_limiter"]
from wattlake.parsing import FileReport
from wattlake.sources.caiso.parse import parse_oasis_zip
from wattlake.sources.caiso.response import (
    MAX_INPUT_BYTES,
    NO_DATA_CODE,
    OasisTryLaterError,
    error_for,
    verify_zip,
    zip_error,
)
from wattlake.sources.caiso.schema import LMP, TRADING_HUBS, Market, MarketQuery, market_query

log = logging.getLogger(__name__)

DEFAULT_REAL_OASIS_URL = "https://oasis.caiso.com/oasisapi"
PACIFIC = ZoneInfo("America/Los_Angeles")
MAX_NODES_PER_REQUEST = 10
MAX_DAYS_PER_REQUEST = 30


def format_oasis_time(ts: datetime) -> str:
    """``YYYYMMDDTHH:MM-0000`` in UTC, as OASIS expects (``ts`` must be timezone-aware)."""
    if ts.tzinfo is None:
        raise ValueError(f"{ts!r} has no timezone; pass an aware datetime")
    return ts.astimezone(UTC).strftime("%Y%m%dT%H:%M-0000")


def operating_day_utc(day: date) -> tuple[datetime, datetime]:
    """The UTC window ``[start, end)`` of Pacific operating day ``day`` (23, 24 or 25 hours)."""
    start = datetime(day.year, day.month, day.day, tzinfo=PACIFIC)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=PACIFIC)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ChunkRequest:
    """One OASIS SingleZip request.

    ``key`` is stable and path-safe, e.g. ``PRC_LMP/DAM/2020-01-02/ALL``,
    ``PRC_INTVL_LMP/RTM/2025-11-02/ALL-20251102T0900Z`` or
    ``PRC_LMP/DAM/2024-01-01_2024-01-30/nodes-3-1a2b3c4d5e``. ``nodes`` is empty for all
    APNodes. ``first_day``/``last_day`` are the Pacific operating days covered (inclusive).
    """

    key: str
    market: Market
    start_utc: datetime
    end_utc: datetime
    nodes: tuple[str, ...]
    first_day: date
    last_day: date

    @property
    def query(self) -> MarketQuery:
        return market_query(self.market)

    @property
    def all_nodes(self) -> bool:
        return not self.nodes

    @property
    def params(self) -> dict[str, str]:
        """Query parameters in the order public clients send them."""
        q = self.query
        params = {
            "resultformat": "6",
            "queryname": q.queryname,
            "version": str(q.version),
            "market_run_id": self.market.value,
        }
        if self.nodes:
            params["node"] = ",".join(self.nodes)
        else:
            params["grp_type"] = "ALL_APNODES"
        params["startdatetime"] = format_oasis_time(self.start_utc)
        params["enddatetime"] = format_oasis_time(self.end_utc)
        return params


def _days(start: date, end: date) -> list[date]:
    for d in (start, end):
        if isinstance(d, datetime) or not isinstance(d, date):
            raise TypeError(f"pass Pacific operating dates (datetime.date), not {d!r}")
    if end <= start:
        raise ValueError(f"end {end} must be after start {start} (end is exclusive)")
    return [start + timedelta(days=i) for i in range((end - start).days)]


def _check_nodes(nodes: Iterable[str]) -> list[str]:
    out = sorted(set(nodes))
    bad = [n for n in out if not n or any(c in n for c in ",&=?# \t")]
    if bad or not out:
        raise ValueError(f"invalid node names {bad!r}; pass OASIS node ids like TH_NP15_GEN-APND")
    return out


def plan_chunks(
    start: date,
    end: date,
    market: Market | str = Market.DAM,
    nodes: Sequence[str] | None = None,
    *,
    all_nodes: bool = False,
    max_days: int = MAX_DAYS_PER_REQUEST,
) -> list[ChunkRequest]:
    """Split operating days ``[start, end)`` into requests OASIS accepts, in time order.

    ``all_nodes=True`` asks for every APNode (one chunk per operating day for DAM, per UTC hour
    for real-time markets). Otherwise ``nodes`` (default: the three trading hubs) are deduped,
    sorted and asked for in groups of at most 10, over spans of at most ``max_days`` days.
    """
    q = market_query(market)
    days = _days(start, end)
    if all_nodes and nodes:
        raise ValueError("pass either nodes or all_nodes=True, not both")
    if not 1 <= max_days <= MAX_DAYS_PER_REQUEST:
        raise ValueError(f"max_days must be 1..{MAX_DAYS_PER_REQUEST}, got {max_days}")
    base = f"{q.queryname}/{q.market.value}"
    chunks: list[ChunkRequest] = []
    if all_nodes:
        for day in days:
            lo, hi = operating_day_utc(day)
            if q.all_nodes_span >= timedelta(days=1):
                chunks.append(ChunkRequest(f"{base}/{day}/ALL", q.market, lo, hi, (), day, day))
                continue
            t = lo
            while t < hi:
                key = f"{base}/{day}/ALL-{t:%Y%m%dT%H%M}Z"
                nxt = min(t + q.all_nodes_span, hi)
                chunks.append(ChunkRequest(key, q.market, t, nxt, (), day, day))
                t = nxt
        return chunks
    names = _check_nodes(TRADING_HUBS if nodes is None else nodes)
    groups = [
        tuple(names[i : i + MAX_NODES_PER_REQUEST])
        for i in range(0, len(names), MAX_NODES_PER_REQUEST)
    ]
    for i in range(0, len(days), max_days):
        span = days[i : i + max_days]
        lo, hi = operating_day_utc(span[0])[0], operating_day_utc(span[-1])[1]
        label = f"{span[0]}" if len(span) == 1 else f"{span[0]}_{span[-1]}"
        for group in groups:
            digest = hashlib.sha256(",".join(group).encode()).hexdigest()[:10]
            key = f"{base}/{label}/nodes-{len(group)}-{digest}"
            chunks.append(ChunkRequest(key, q.market, lo, hi, group, span[0], span[-1]))
    return chunks


class OasisClient:
    """Fetches OASIS SingleZip answers.

    ``min_interval_s`` is the least time between request starts to the host (shared by every
    client in the process); ``timeout`` the read timeout in seconds; ``max_retries`` how many
    times a failed request is retried, waiting ``backoff_s * 2**attempt`` seconds (default
    ``backoff_s`` = ``min_interval_s``, capped at MAX_BACKOFF_S). ``transport`` is an optional
    httpx transport (tests).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_REAL_OASIS_URL,
        min_interval_s: float = 5.0,
        timeout: float = 120.0,
        max_retries: int = 4,
        transport: httpx.BaseTransport | None = None,
        backoff_s: float | None = None,
    ) -> None:
        if min_interval_s < 0 or max_retries < 0 or timeout <= 0:
            raise ValueError("min_interval_s and max_retries must be >= 0 and timeout > 0")
        self.base_url = base_url.rstrip("/")
        self.min_interval_s = min_interval_s
        self.max_retries = max_retries
        self.backoff_s = max(min_interval_s if backoff_s is None else backoff_s, 0.01)
        self.pacer = Pacer(
            self.base_url, name="OASIS", min_interval_s=min_interval_s,
            max_retries=max_retries, backoff_s=self.backoff_s,
        )  # fmt: skip
        self.limiter = self.pacer.limiter
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 20.0)),
            transport=transport,
            headers={"User-Agent": "wattlake-oasis-client"},
            follow_redirects=True,
        )

    def __enter__(self) -> OasisClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def url(self, req: ChunkRequest) -> str:
        """The request URL; values are sent unencoded, as public OASIS clients do."""
        query = "&".join(f"{k}={v}" for k, v in req.params.items())
        return f"{self.base_url}/SingleZip?{query}"

    def get_chunk(self, req: ChunkRequest) -> bytes:
        """The answer body for ``req``, exactly as received (a zip).

        A "no data" answer (code 1000) is returned as is; the parser records it. Raises
        :class:`OasisTryLaterError` if OASIS still says "try later" after all retries,
        :class:`OasisResponseError` for other error codes (not retried) and
        :class:`~wattlake.errors.FetchError` when HTTP keeps failing.
        """
        url = self.url(req)
        return self.pacer.call(
            req.key,
            lambda: self._attempt(url, req),
            hint="OASIS may be down or throttling; wait a few minutes and run again",
        )

    def _attempt(self, url: str, req: ChunkRequest) -> bytes | Retry:
        """One try: the body, or why to retry. Raises errors that retrying cannot fix."""
        answer: Answer | Retry = send(self._http, "GET", url, max_bytes=MAX_INPUT_BYTES)
        if isinstance(answer, Retry):
            return answer
        if answer.status != 200:
            raise FetchError(
                f"OASIS answered HTTP {answer.status} for {req.key} ({url})",
                hint="check the base URL; OASIS answers 200 even for bad parameters",
            )
        body = answer.body
        try:
            verify_zip(body)
            err = zip_error(body)
        except InputError as exc:
            return Retry(f"bad answer: {exc.message}")
        if err is None or err[0] == NO_DATA_CODE:
            return body
        error = error_for(*err)
        if isinstance(error, OasisTryLaterError):
            return Retry(str(error), error)
        raise error

    def get_lmp(
        self,
        start: date,
        end: date,
        market: Market | str = Market.DAM,
        nodes: Sequence[str] | None = None,
        all_nodes: bool = False,
    ) -> pa.Table:
        """LMPs for Pacific operating days ``[start, end)`` as one table (schema LMP).

        Sorted by market, node, interval start. Rejected rows are logged and dropped; use
        :func:`plan_chunks`, :meth:`get_chunk` and ``parse_oasis_zip`` to keep the reports.
        """
        tables: list[pa.Table] = []
        for req in plan_chunks(start, end, market, nodes, all_nodes=all_nodes):
            report = FileReport(source_file=req.key)
            tables += [t for _name, t in parse_oasis_zip(io.BytesIO(self.get_chunk(req)), report)]
            if report.rejects:
                log.warning("%s: %d rows rejected", req.key, report.rows_rejected)
        if not tables:
            return LMP.arrow_schema.empty_table()
        order = [(k, "ascending") for k in ("market", "node", "interval_start_utc")]
        return pa.concat_tables(tables).sort_by(order)
