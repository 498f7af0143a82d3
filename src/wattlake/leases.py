"""Who is doing a piece of work, and whether they still are: a lease held by a process.

A run records its :class:`Holder` (host, process id, the process's start time, and a lease
that a heartbeat thread extends every ``LEASE_SECONDS / 3``). Anyone can then tell a run that
is still going from one whose process died without finishing (SIGKILL, power loss, OOM kill):

* same host: the process id is alive and is the same process (its start time matches, so a
  reused pid does not count) — the lease is not needed, so a run stuck in a long DuckDB
  transaction, whose heartbeat waits for the write lock, is never declared dead;
* another host (PostgreSQL shared by several machines): its lease has not expired.

This is also the building block for "two runs of the same pipeline and partition never
overlap": a lease keyed on (pipeline, partition) is free when no holder of it is alive
(see docs/architecture.md, "Leases").
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from wattlake.tables import utcnow

LEASE_SECONDS = 60.0  # a lease not renewed for this long is expired (cross-host check only)


def process_start(pid: int) -> int | None:
    """Start time of process ``pid`` in clock ticks since boot (Linux), else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces and parentheses, so split after it.
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    pid_start: int | None
    lease_until: datetime

    @classmethod
    def me(cls, seconds: float = LEASE_SECONDS) -> Holder:
        pid = os.getpid()
        return cls(socket.gethostname(), pid, process_start(pid), lease_expiry(seconds))

    def alive(self, now: datetime | None = None) -> bool:
        """Is the holder still at work? (see the module docstring)"""
        if self.host == socket.gethostname():
            if not pid_alive(self.pid):
                return False
            start = process_start(self.pid)
            return self.pid_start is None or start is None or start == self.pid_start
        return self.lease_until > (now or utcnow())


def lease_expiry(seconds: float = LEASE_SECONDS) -> datetime:
    return utcnow() + timedelta(seconds=seconds)


class Heartbeat:
    """Calls ``renew()`` every ``interval`` seconds in a daemon thread until ``stop()``.

    A failing renewal is ignored (the next one may succeed; a lease that lapses only matters
    to another host, and the run's own end writes its final status anyway)."""

    def __init__(self, renew: Callable[[], None], interval: float = LEASE_SECONDS / 3) -> None:
        self._renew = renew
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="wattlake-heartbeat", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            with contextlib.suppress(Exception):
                self._renew()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
