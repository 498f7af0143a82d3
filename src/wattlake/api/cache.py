"""A response cache in front of the API: a GET answered before is replayed without FastAPI.

Only the read routes are cached (:func:`cacheable`: GET routes that read the warehouse
and change nothing; not ``/v1/runs`` on a read-only server), and only their 200 answers up to 1/16 of the budget each. The key is all a
read route's answer depends on: the path, the raw query string (bytes, not parsed: ``a=1&b=2``
and ``a=1%26b=2`` are two keys) and what its ``next`` links are built from (scheme, ``Host``
header, server address, root path). No read route reads any other header; none reads cookies.

An answer is stored with the warehouse's change generation (:class:`~wattlake.engines.base.
Changes`) read BEFORE its query ran, and only if the generation has not moved since; any bump
empties the cache. So a commit racing a request only ever costs a miss, never a stale hit. An
entry also expires after ``max_age_s``: that bounds how long a write wattlake is not told about
(psql by hand on PostgreSQL) can go unseen. While the engine cannot see changes (``live`` is
False: its PostgreSQL listener is lost) nothing is served from the cache nor stored in it.

200 answers of cached routes carry ``X-Cache: hit`` (replayed), ``miss`` (computed) or
``bypass`` (computed while changes cannot be seen); otherwise status, headers and body are the
bytes the route sent (a hit: the bytes of the miss it replays). Other answers are untouched. With ``WATTLAKE_API_CACHE_BYTES=0``, or an engine that cannot tell when data change
(Spark, DuckDB over Parquet files), there is no cache and no header.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from time import monotonic
from typing import Any, TypeVar

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIRouter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wattlake.engines.base import Changes

HEADER = b"x-cache"
#: How the OpenAPI document describes the header (on the 200 answers of cached routes).
HEADER_DOC: dict[str, Any] = {
    "description": "hit: replayed from the response cache; miss: computed (and stored if small "
    "enough); bypass: computed while warehouse changes cannot be seen. Absent when the cache is off "
    "(and on GET /v1/runs of a read-only server, where dead runs are told by the clock).",
    "schema": {"type": "string", "enum": ["hit", "miss", "bypass"]},
}
Key = tuple[Any, ...]
F = TypeVar("F", bound=Callable[..., Any])
_OVERHEAD = 256  # bytes an entry costs beyond its body, headers and key (dicts, tuples)


def uncached_when_read_only(endpoint: F) -> F:
    """Keep a read route out of the cache of a read-only server: there its answer depends on
    more than the warehouse (the clock, other processes)."""
    endpoint.__wattlake_read_only_live__ = True  # type: ignore[attr-defined]
    return endpoint


def _calls(dependant: Dependant) -> Iterator[Any]:
    for d in dependant.dependencies:
        yield d.call
        yield from _calls(d)


def cacheable(routers: Iterable[APIRouter], *, read_only: bool) -> list[APIRoute]:
    """The routes of ``routers`` whose answers may be cached: GET, reading the warehouse (they
    take the runner), not guarded by the API key (those change data) and, on a ``read_only``
    server, not marked :func:`uncached_when_read_only`."""
    from wattlake.api.deps import get_runner, require_api_key

    out = []
    for router in routers:
        for r in router.routes:
            if not isinstance(r, APIRoute) or "GET" not in (r.methods or ()):
                continue
            calls = set(_calls(r.dependant))
            live = read_only and getattr(r.endpoint, "__wattlake_read_only_live__", False)
            if get_runner in calls and require_api_key not in calls and not live:
                out.append(r)
    return out


@dataclass(slots=True)
class Entry:
    start: Message  # http.response.start, with X-Cache: hit
    body: Message  # the whole body in one http.response.body
    born: float  # monotonic seconds
    size: int


class Store:
    """Entries by key, least recently used evicted first past ``max_bytes``; all of them
    dropped when the generation moves. Used from the event loop's thread only."""

    def __init__(self, max_bytes: int, max_age_s: float) -> None:
        self.max_bytes = max_bytes
        self.max_entry = max_bytes // 16
        self.max_age_s = max_age_s
        self.bytes = 0
        self.generation = -1
        self._entries: OrderedDict[Key, Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _sync(self, generation: int) -> None:
        if generation != self.generation:
            self._entries.clear()
            self.bytes = 0
            self.generation = generation

    def get(self, key: Key, generation: int, now: float) -> Entry | None:
        self._sync(generation)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now - entry.born > self.max_age_s:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: Key, entry: Entry, read_at: int, generation: int) -> None:
        """Store ``entry``, computed from what the warehouse held at generation ``read_at``,
        if that is still the current ``generation``."""
        self._sync(generation)
        if read_at != generation or entry.size > self.max_entry:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = entry
        self.bytes += entry.size
        while self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: Key) -> None:
        self.bytes -= self._entries.pop(key).size


class Cache:
    """The cache's state, shared by the middleware and the app's lifespan: off until
    :meth:`start` gives it a change feed, off again after :meth:`stop`."""

    def __init__(self) -> None:
        self.endpoints: frozenset[Callable[..., Any]] = frozenset()
        self.changes: Changes | None = None
        self.store = Store(0, 0.0)

    def start(
        self,
        routes: Iterable[APIRoute],
        changes: Changes | None,
        max_bytes: int,
        max_age_s: float,
    ) -> None:
        """Cache the answers of ``routes`` (known by their endpoint functions) in ``max_bytes``
        (0: not at all), following ``changes`` (None: not at all)."""
        self.endpoints = frozenset(r.endpoint for r in routes)
        self.store = Store(max_bytes, max_age_s)
        self.changes = changes if max_bytes > 0 else None

    def stop(self) -> None:
        self.changes = None
        self.store = Store(0, 0.0)


def _key(scope: Scope) -> Key:
    server = scope.get("server")
    host = None
    for name, value in scope["headers"]:
        if name == b"host":
            host = value
            break
    return (
        scope["path"],
        scope["query_string"],
        host,
        scope.get("scheme"),
        tuple(server) if server else None,  # a list from some servers: not hashable
        scope.get("root_path", ""),
    )


class CacheMiddleware:
    """Pure ASGI middleware serving ``cache``; everything but GET goes straight through."""

    def __init__(self, app: ASGIApp, cache: Cache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cache = self.cache
        changes = cache.changes
        if changes is None or scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        key = _key(scope)
        read_at = changes.generation  # before the query runs
        live = changes.live
        store = cache.store
        if live:
            entry = store.get(key, read_at, monotonic())
            if entry is not None:
                await send(entry.start)
                await send(entry.body)
                return
        label = b"miss" if live else b"bypass"
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        done = False

        async def capture(message: Message) -> None:
            nonlocal start, size, done
            kind = message["type"]
            if kind == "http.response.start":
                # "endpoint": set in the scope by the route that answered
                if message["status"] == 200 and scope.get("endpoint") in cache.endpoints:
                    start = message
                    message = {**message, "headers": [*message["headers"], (HEADER, label)]}
            elif kind == "http.response.body" and start is not None and size <= store.max_entry:
                body = message.get("body", b"")
                chunks.append(body)
                size += len(body)
                done = not message.get("more_body", False)
            await send(message)

        await self.app(scope, receive, capture)
        if start is None or not done or not (live and changes.live):
            return
        headers = [*start["headers"], (HEADER, b"hit")]
        body = b"".join(chunks)
        cost = len(body) + sum(len(k) + len(v) for k, v in headers) + len(key[0]) + len(key[1])
        entry = Entry(
            {**start, "headers": headers},
            {"type": "http.response.body", "body": body, "more_body": False},
            monotonic(),
            cost + _OVERHEAD,
        )
        store.put(key, entry, read_at, changes.generation)
