"""Atom links → comparable resource keys, and an index that resolves them in any order.

Hrefs are resolved against ``xml:base`` (feed, then entry), then reduced to a canonical path:
the part after ``/resource/`` when present (hosts and API prefixes differ between a feed's own
links), else the path without its leading ``/``. Lookups try the canonical path, then the typed
tail (``UsagePoint/<id>/MeterReading/<id>``, ``MeterReading/<id>``) when that is unique: real
files mix ``/v1/User/…`` with ``/v1/BillingAccount/…`` or ``User/1111111`` with ``User/11111111``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Generic, TypeVar
from urllib.parse import urljoin, urlsplit

T = TypeVar("T")

ATOM = "http://www.w3.org/2005/Atom"
A = "{" + ATOM + "}"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"


def resolve(base: str, href: str) -> str:
    href = href.strip()
    if not base:
        return href
    try:
        return urljoin(base, href)
    except ValueError:
        return href


def canonical(href: str) -> str:
    """The comparable path of ``href`` (already resolved against xml:base)."""
    try:
        path = urlsplit(href).path
    except ValueError:
        path = href
    i = path.find("/resource/")
    if i >= 0:
        path = path[i + len("/resource/") :]
    return path.strip("/")


def host(href: str) -> str | None:
    try:
        return urlsplit(href).hostname
    except ValueError:
        return None


def last_segment(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def typed_tails(path: str, kinds: tuple[str, ...]) -> list[str]:
    """Tails of ``path`` starting at each of ``kinds`` (longest first), e.g. for
    ``User/1/UsagePoint/2/MeterReading/3``: ``UsagePoint/2/MeterReading/3``, ``MeterReading/3``."""
    segs = path.split("/")
    out = []
    for i, s in enumerate(segs):
        if s in kinds and i + 1 < len(segs):
            out.append("/".join(segs[i:]))
    return out


def parent_of(path: str, kind: str) -> str | None:
    """``path`` cut before its last ``/<kind>`` segment: the owner of a collection member
    (``…/UsagePoint/2/MeterReading/3`` → ``…/UsagePoint/2`` for ``MeterReading``)."""
    segs = path.split("/")
    for i in range(len(segs) - 1, -1, -1):
        if segs[i] == kind:
            return "/".join(segs[:i])
    return None


class Index(Generic[T]):
    """Resources by canonical path, with typed-tail lookups."""

    def __init__(self, kinds: tuple[str, ...]) -> None:
        self.kinds = kinds
        self.by_path: dict[str, T] = {}
        self.by_tail: dict[str, set[str]] = defaultdict(set)

    def __contains__(self, path: str) -> bool:
        return path in self.by_path

    def __len__(self) -> int:
        return len(self.by_path)

    def add(self, path: str, item: T) -> None:
        self.by_path[path] = item
        for t in typed_tails(path, self.kinds):
            self.by_tail[t].add(path)

    def find(self, path: str | None) -> T | None:
        if not path:
            return None
        got = self.by_path.get(path)
        if got is not None:
            return got
        for t in typed_tails(path, self.kinds):
            paths = self.by_tail.get(t)
            if paths and len(paths) == 1:
                return self.by_path[next(iter(paths))]
        return None

    def only(self) -> T | None:
        """The single resource, when there is exactly one."""
        if len(self.by_path) == 1:
            return next(iter(self.by_path.values()))
        return None

    def values(self) -> list[T]:
        return list(self.by_path.values())
