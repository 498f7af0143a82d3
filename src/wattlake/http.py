"""Shared HTTP fetching for sources: one pace per host for the whole process, and retries.

The pacing mechanism (:class:`RateLimiter`, :func:`shared_limiter`) is the one the CAISO OASIS
client uses; it lives in ``wattlake.sources.caiso.client`` and is re-exported here so that no
source imports another source (move it here when the CAISO client is next touched).

:func:`get_with_retries` is the retry loop: 429, 5xx, timeouts and transport errors are
retried with exponential backoff (``backoff_s * 2**attempt``, capped at ``MAX_BACKOFF_S``),
each attempt waiting for the host's pace; any other status is returned to the caller, which
decides what it means. The body is read with a size limit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx

from wattlake.errors import FetchError
from wattlake.sources.caiso.client import MAX_BACKOFF_S, RateLimiter, shared_limiter

__all__ = [
    "MAX_BACKOFF_S",
    "Answer",
    "RateLimiter",
    "RetryPolicy",
    "get_with_retries",
    "shared_limiter",
]

log = logging.getLogger(__name__)

QueryParams = Mapping[str, str | Sequence[str]] | Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry: ``max_retries`` more attempts after the first,
    waiting ``backoff_s * 2**attempt`` seconds between them; ``min_interval_s`` between any
    two request starts to the same host (shared by every client in the process)."""

    max_retries: int = 4
    backoff_s: float = 0.5
    min_interval_s: float = 0.0
    max_bytes: int = 256 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.backoff_s < 0 or self.min_interval_s < 0:
            raise ValueError("max_retries, backoff_s and min_interval_s must be >= 0")


@dataclass(frozen=True, slots=True)
class Answer:
    """A final (non-retryable) HTTP answer: status, body and the URL asked."""

    status: int
    body: bytes
    url: str
    attempts: int
    next_url: str | None = None  # the ``Link: <…>; rel="next"`` header, if any


def get_with_retries(
    http: httpx.Client,
    url: str,
    params: QueryParams | None,
    policy: RetryPolicy,
    *,
    what: str,
    limiter: RateLimiter | None = None,
    check: Callable[[bytes], str | None] | None = None,
) -> Answer:
    """GET ``url`` until it answers something other than 429/5xx (or a transport failure).

    Raises :class:`~wattlake.errors.FetchError` naming ``what`` and the last problem when every
    attempt failed. Any other status (200, 400, 404 …) comes back as an :class:`Answer`.
    ``check(body)`` of a 200 answer returns a problem (retried: a cut or garbled answer) or None.
    """
    limiter = limiter or shared_limiter(url)
    problem = "not attempted"
    for attempt in range(policy.max_retries + 1):
        limiter.wait(policy.min_interval_s)
        try:
            with http.stream("GET", url, params=params) as resp:  # type: ignore[arg-type]
                asked = str(resp.request.url)
                if resp.status_code == 429 or resp.status_code >= 500:
                    problem = f"HTTP {resp.status_code} from {asked}"
                else:
                    parts: list[bytes] = []
                    size = 0
                    for part in resp.iter_bytes():
                        size += len(part)
                        if size > policy.max_bytes:
                            raise FetchError(
                                f"{what}: answer larger than {policy.max_bytes} bytes ({asked})",
                                hint="ask for a shorter range",
                            )
                        parts.append(part)
                    nxt = resp.links.get("next", {}).get("url")
                    if nxt is not None:
                        nxt = str(resp.request.url.join(nxt))
                    body = b"".join(parts)
                    bad = check(body) if check and resp.status_code == 200 else None
                    if bad is None:
                        return Answer(resp.status_code, body, asked, attempt + 1, nxt)
                    problem = f"bad answer from {asked}: {bad}"
        except httpx.TimeoutException as exc:
            problem = f"timeout ({type(exc).__name__})"
        except httpx.TransportError as exc:
            problem = f"transport error ({type(exc).__name__}: {exc})"
        if attempt < policy.max_retries:
            delay = min(policy.backoff_s * 2**attempt, MAX_BACKOFF_S)
            log.info("%s: %s; retrying in %.2fs", what, problem, delay)
            limiter.defer(delay)
    raise FetchError(
        f"{what} failed after {policy.max_retries + 1} attempts: {problem}",
        hint="check that the source answers (URL, network) and run again; days already "
        "fetched are not fetched again",
    )
