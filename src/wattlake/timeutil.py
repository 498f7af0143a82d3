"""Time helpers shared by the CLI, the run API and the orchestrator.

``parse_day`` reads the day words a crontab line needs — ``today``, ``yesterday``,
``tomorrow``, relative days (``-7d``, ``+1d``) or an ISO date — in a source's own time zone, so
``wattlake run caiso-lmp --start yesterday`` means yesterday in Pacific time wherever it runs.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from wattlake.errors import InputError

_RELATIVE = re.compile(r"^([+-])(\d{1,5})d$")
_WORDS = {"today": 0, "yesterday": -1, "tomorrow": 1}
DAY_HELP = "YYYY-MM-DD, today, yesterday, tomorrow or relative days like -7d"


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or an :class:`InputError` that says how to fix it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"unknown time zone {name!r}", hint="use an IANA name such as America/Los_Angeles"
        ) from None


def local_today(tz: str, now: datetime | None = None) -> date:
    """The calendar day it is in ``tz`` at ``now`` (default: the current instant)."""
    instant = now or datetime.now(UTC)
    return instant.astimezone(zone(tz)).date()


def parse_day(text: str, tz: str = "UTC", now: datetime | None = None) -> date:
    """A day from ``text``: an ISO date, or a word/offset counted from today in ``tz``."""
    value = text.strip().lower()
    if value in _WORDS:
        return local_today(tz, now) + timedelta(days=_WORDS[value])
    match = _RELATIVE.match(value)
    if match:
        days = int(match.group(2)) * (-1 if match.group(1) == "-" else 1)
        return local_today(tz, now) + timedelta(days=days)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"not a day: {text!r}", hint=f"write {DAY_HELP}") from None
