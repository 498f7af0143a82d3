"""HTTP client for the wind SCADA source API (the original's "Fonte" API).

One request per turbine and day: ``GET {base}/data?start_timestamp=…&end_timestamp=…&columns=c1
&columns=c2[&turbine=T]``, the half-open window ``[start, end)`` written as the source's wall
clock (no zone: the source stores ``timestamp without time zone``) for the calendar day in
``zone``. Without a turbine the source serves its default turbine (the original contract).

Retries and pacing are the shared mechanism (:mod:`wattlake.http`, ``Pacer``): 429, 5xx,
timeouts, connection failures and a 200 that is not a whole JSON array (a cut answer) are
retried with exponential backoff; a 400 (``Invalid column names``) or 404 is the source's final
answer and raises :class:`~wattlake.errors.SourceResponseError`. Pages (``Link: <…>;
rel="next"``) are followed and joined into one array.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import httpx

from wattlake.errors import FetchError, SourceResponseError
from wattlake.http import Answer, Pacer, Retry, send
from wattlake.sources.scada.schema import DEFAULT_TURBINE

DEFAULT_SOURCE_URL = "http://localhost:8000"  # where the original's source API listened
MAX_PAGES = 1000
_NEXT = re.compile(r'<([^>]*)>\s*;[^,]*rel="?next"?', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_retries`` more attempts after the first, ``backoff_s * 2**attempt`` apart;
    ``min_interval_s`` between request starts to the host (shared in the process)."""

    max_retries: int = 4
    backoff_s: float = 0.5
    min_interval_s: float = 0.0
    max_bytes: int = 256 * 1024 * 1024


def day_window(day: date, zone: str = "UTC") -> tuple[datetime, datetime]:
    """The UTC instants ``[start, end)`` of calendar day ``day`` in ``zone`` (23-25 hours)."""
    tz = ZoneInfo(zone)
    nxt = day + timedelta(days=1)
    lo = datetime(day.year, day.month, day.day, tzinfo=tz)
    hi = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    return lo.astimezone(UTC), hi.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class DayRequest:
    """One turbine-day: what to ask for and under which bronze key it is kept."""

    day: date
    turbine: str  # DEFAULT_TURBINE: no ``turbine`` parameter is sent
    columns: tuple[str, ...]
    zone: str = "UTC"

    @property
    def window_utc(self) -> tuple[datetime, datetime]:
        return day_window(self.day, self.zone)

    @property
    def key(self) -> str:
        """Stable bronze key, e.g. ``default/UTC/2024-05-20/wind_speed,power.json``."""
        return f"{self.turbine}/{self.zone}/{self.day}/{','.join(self.columns)}.json"

    @property
    def params(self) -> list[tuple[str, str]]:
        nxt = self.day + timedelta(days=1)
        out = [
            ("start_timestamp", f"{self.day.isoformat()}T00:00:00"),
            ("end_timestamp", f"{nxt.isoformat()}T00:00:00"),
        ]
        out += [("columns", c) for c in self.columns]
        if self.turbine != DEFAULT_TURBINE:
            out.append(("turbine", self.turbine))
        return out


class ScadaClient:
    """Fetches days from the SCADA source API; ``transport`` is an httpx seam for tests."""

    def __init__(
        self,
        base_url: str = DEFAULT_SOURCE_URL,
        *,
        policy: RetryPolicy | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        self.base_url = base_url.rstrip("/")
        self.policy = policy or RetryPolicy()
        self.pacer = Pacer(
            self.base_url, name="SCADA source", min_interval_s=self.policy.min_interval_s,
            max_retries=self.policy.max_retries, backoff_s=self.policy.backoff_s,
        )  # fmt: skip
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            headers={"User-Agent": "wattlake-scada-client", "Accept": "application/json"},
            follow_redirects=True,
        )

    def __enter__(self) -> ScadaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def url(self, req: DayRequest) -> str:
        return str(httpx.URL(f"{self.base_url}/data", params=req.params))

    def get_day(self, req: DayRequest) -> bytes:
        """The answer body for ``req``, exactly as received (a JSON array)."""
        url: str | None = f"{self.base_url}/data"
        params: list[tuple[str, str]] | None = req.params
        pages: list[bytes] = []
        while url is not None:
            if len(pages) >= MAX_PAGES:
                raise FetchError(f"SCADA source {req.key}: more than {MAX_PAGES} pages",
                                 hint="ask for fewer days or columns")  # fmt: skip
            here, query = url, params
            answer: Answer = self.pacer.call(
                req.key, partial(self._attempt, here, query),
                hint="check that the source answers (--source-url, network) and run again; "
                "days already fetched are not fetched again",
            )  # fmt: skip
            if answer.status != 200:
                raise _refused(f"SCADA source {req.key}", answer.status, answer.body, here)
            pages.append(answer.body)
            nxt = _NEXT.search(answer.headers.get("link", ""))
            url, params = (str(httpx.URL(here).join(nxt.group(1))), None) if nxt else (None, None)
        return pages[0] if len(pages) == 1 else merge_pages(pages)

    def _attempt(self, url: str, params: list[tuple[str, str]] | None) -> Answer | Retry:
        got = send(self._http, "GET", url, max_bytes=self.policy.max_bytes, params=params)
        if isinstance(got, Answer) and got.status == 200:
            problem = json_array_problem(got.body)
            if problem is not None:
                return Retry(f"bad answer: {problem}")
        return got


def json_array_problem(body: bytes) -> str | None:
    """Why ``body`` is not a whole JSON array (a cut answer is retried), or None."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"not JSON ({exc})"
    return None if isinstance(doc, list) else f"not a JSON array ({type(doc).__name__})"


def merge_pages(pages: list[bytes]) -> bytes:
    """Pages of one answer (JSON arrays, ``Link: rel="next"``) as one JSON array."""
    inner = [p.strip()[1:-1].strip() for p in pages]
    return b"[" + b",".join(i for i in inner if i) + b"]"


def _refused(what: str, status: int, body: bytes, url: str) -> Exception:
    detail = _detail(body)
    if status in (400, 404, 422):
        return SourceResponseError(
            f"{what}: the source refused the request (HTTP {status}): {detail}",
            code=str(status),
            hint="check --columns (the source's column names) and --turbine",
        )
    return FetchError(
        f"{what}: HTTP {status} from {url}: {detail}",
        hint="check --source-url (the source API root, without /data)",
    )


def _detail(body: bytes) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace")
    if isinstance(doc, dict) and "detail" in doc:
        return str(doc["detail"])[:500]
    return body[:200].decode("utf-8", "replace")
