"""Pacing and retries for every HTTP client in wattlake (CAISO OASIS, Green Button Connect, the
OEEM datastore): one mechanism, used by all.

* :class:`RateLimiter` spaces request starts to one host at least ``min_interval_s`` apart,
  across threads and across every client in the process (:func:`shared_limiter`).
* :func:`send` makes one request and classifies the outcome: an :class:`Answer` (any status a
  caller must judge itself, e.g. 200, 401, 404) or a :class:`Retry` (HTTP 429, 5xx, timeouts,
  transport errors, an answer larger than allowed).
* :class:`Pacer` runs an attempt function until it returns something else than a ``Retry``,
  waiting ``backoff_s * 2**attempt`` (at least the server's ``Retry-After``, at most
  MAX_BACKOFF_S) between tries; the wait is pushed onto the host's limiter so concurrent callers
  back off too. When the retries run out it raises the ``Retry``'s own error, or
  :class:`~wattlake.errors.FetchError` naming the last problem.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from wattlake.errors import FetchError

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_BACKOFF_S = 120.0


class RateLimiter:
    """Spaces request starts at least ``min_interval_s`` apart across threads.

    ``wait`` reserves the next free slot under a lock, then sleeps outside it, so concurrent
    callers queue up in order. ``defer`` pushes the next slot later for everyone (backoff).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free_at = 0.0  # time.monotonic() at which the next request may start

    def wait(self, min_interval_s: float) -> None:
        with self._lock:
            now = time.monotonic()
            at = max(now, self._free_at)
            self._free_at = at + min_interval_s
        if at > now:
            time.sleep(at - now)

    def defer(self, seconds: float) -> None:
        with self._lock:
            self._free_at = max(self._free_at, time.monotonic() + seconds)


_LIMITERS: dict[str, RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(base_url: str) -> RateLimiter:
    """The process-wide limiter for the host of ``base_url`` (one per scheme://host:port)."""
    parts = urlsplit(base_url)
    key = f"{parts.scheme}://{parts.netloc}".lower()
    with _LIMITERS_LOCK:
        return _LIMITERS.setdefault(key, RateLimiter())


@dataclass(frozen=True, slots=True)
class Retry:
    """Why an attempt should be tried again. ``error`` is raised if it is the last one;
    ``after_s`` is the server's Retry-After, if it gave one."""

    problem: str
    error: Exception | None = None
    after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """A complete HTTP answer whose status the caller judges (not 429, not 5xx)."""

    status: int
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after", "")
    try:
        return min(max(float(value), 0.0), MAX_BACKOFF_S)
    except ValueError:
        return None  # HTTP-date form: fall back to our own backoff


def send(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    max_bytes: int,
    **kwargs: Any,
) -> Answer | Retry:
    """One request, read up to ``max_bytes``: the answer, or why to retry it."""
    try:
        with http.stream(method, url, **kwargs) as resp:
            if resp.status_code == 429:
                return Retry("HTTP 429 (rate limited)", after_s=_retry_after(resp.headers))
            if resp.status_code >= 500:
                return Retry(f"HTTP {resp.status_code}", after_s=_retry_after(resp.headers))
            parts = []
            size = 0
            for part in resp.iter_bytes():
                size += len(part)
                if size > max_bytes:
                    return Retry(f"answer larger than {max_bytes} bytes")
                parts.append(part)
            return Answer(resp.status_code, resp.headers, b"".join(parts))
    except httpx.TimeoutException as exc:
        return Retry(f"timeout ({type(exc).__name__})")
    except httpx.TransportError as exc:
        return Retry(f"transport error ({type(exc).__name__}: {exc})")


class Pacer:
    """Pace and retry the requests of one client to the host of ``base_url``.

    ``min_interval_s`` is the least time between request starts to the host (shared by every
    client in the process); a failed attempt is retried ``max_retries`` times, waiting
    ``backoff_s * 2**attempt`` seconds (capped at MAX_BACKOFF_S).
    """

    def __init__(
        self,
        base_url: str,
        *,
        name: str,
        min_interval_s: float = 0.0,
        max_retries: int = 4,
        backoff_s: float = 1.0,
    ) -> None:
        if min_interval_s < 0 or max_retries < 0:
            raise ValueError("min_interval_s and max_retries must be >= 0")
        self.name = name
        self.min_interval_s = min_interval_s
        self.max_retries = max_retries
        self.backoff_s = max(backoff_s, 0.01)
        self.limiter = shared_limiter(base_url)

    def call(
        self,
        what: str,
        attempt: Callable[[], T | Retry],
        *,
        hint: str,
    ) -> T:
        """``attempt()`` until it returns a non-``Retry`` (raising after the last retry)."""
        retry = Retry("not attempted")
        for n in range(self.max_retries + 1):
            self.limiter.wait(self.min_interval_s)
            outcome = attempt()
            if not isinstance(outcome, Retry):
                return outcome
            retry = outcome
            if n < self.max_retries:
                delay = min(self.backoff_s * 2**n, MAX_BACKOFF_S)
                delay = max(delay, retry.after_s or 0.0)
                log.info("%s %s: %s; retrying in %.2fs", self.name, what, retry.problem, delay)
                self.limiter.defer(delay)
        if retry.error is not None:
            raise retry.error
        raise FetchError(
            f"{self.name} request {what} failed after {self.max_retries + 1} attempts: "
            f"{retry.problem}",
            hint=hint,
        )

    def request(
        self,
        http: httpx.Client,
        method: str,
        url: str,
        *,
        what: str,
        hint: str,
        max_bytes: int,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Answer:
        """``send`` with pacing and retries: the first answer that is not 429/5xx/timeout."""
        return self.call(
            what,
            lambda: send(http, method, url, max_bytes=max_bytes, headers=headers, **kwargs),
            hint=hint,
        )
