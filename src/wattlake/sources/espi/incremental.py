"""The incremental rules of Green Button fetches (oeem-etl's contract, §4.2, without its bugs,
§4.10) and the raw-file store in the old layout.

Windows. A custodian publishes whole *local* days. The end of what can be asked for is "now minus
the availability lag, at the utility's local midnight", computed with the IANA zone, so it is
08:00 UTC in a Pacific winter and 07:00 UTC in summer (oeem-etl hard-coded 07:00 and asserted
it, which broke every winter). Gas days start one second after midnight (PG&E), so gas bounds
are one second later. The first run reaches ``history_years`` back; a later run starts
``overlap_days`` local days before the end of the data already loaded (revised estimates are
picked up; the overlap is de-duplicated on load by the silver key). When the end is not after
what is loaded there is nothing to ask for.

Raw files. ``<storage>/consumption/raw/<project_id>_<usage_point_id>_<run>.xml`` with run 0, 1,
2 … per (project, usage point): the run number only advances when a file is written, and a
file is only written when it holds newer data. Names split from the right, so project ids may
contain ``_``; usage point ids are sanitised to ``[A-Za-z0-9.=-]``. Writes are atomic: one PUT
on object stores, a temporary name then a rename on local disks; an existing run is never
overwritten.
"""

from __future__ import annotations

import posixpath
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import fsspec
from fsspec.implementations.local import LocalFileSystem

from wattlake.errors import LakeError

GAS_OFFSET = timedelta(seconds=1)
_UNSAFE = re.compile(r"[^A-Za-z0-9.=-]")
_NAME = re.compile(r"^(?P<project>.+)_(?P<up>[^_]+)_(?P<run>\d+)\.xml$")


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def window_end(now: datetime, zone: ZoneInfo, lag_days: int, *, gas: bool = False) -> datetime:
    """Local midnight ``lag_days`` before today (in ``zone``), as UTC (+1 s for gas)."""
    today = now.astimezone(zone).date()
    end = local_midnight(today - timedelta(days=lag_days), zone)
    return end + GAS_OFFSET if gas else end


def window_start(
    watermark: datetime | None,
    end: datetime,
    zone: ZoneInfo,
    *,
    overlap_days: int,
    history_years: int,
    gas: bool = False,
) -> datetime:
    """Where a fetch starts: ``history_years`` before ``end`` on the first run, else local
    midnight ``overlap_days`` before the local day the loaded data ends on."""
    if watermark is None:
        day = end.astimezone(zone).date()
        try:
            first = day.replace(year=day.year - history_years)
        except ValueError:  # 29 February
            first = day.replace(year=day.year - history_years, day=28)
    else:
        first = (watermark - (GAS_OFFSET if gas else timedelta(0))).astimezone(zone).date()
        first -= timedelta(days=overlap_days)
    start = local_midnight(first, zone)
    return start + GAS_OFFSET if gas else start


def safe_id(value: str) -> str:
    return _UNSAFE.sub("-", value) or "-"


def raw_name(project_id: str, usage_point_id: str, run: int) -> str:
    if "/" in project_id or not project_id.strip():
        raise ValueError(f"project id {project_id!r} cannot be used in a file name")
    return f"{project_id}_{safe_id(usage_point_id)}_{run}.xml"


@dataclass(frozen=True, order=True)
class RawFile:
    project_id: str
    usage_point_id: str
    run: int
    name: str


def parse_raw_name(name: str) -> RawFile | None:
    m = _NAME.match(posixpath.basename(name))
    if m is None:
        return None
    return RawFile(m["project"], m["up"], int(m["run"]), posixpath.basename(name))


class RawStore:
    """``<url>/<prefix>/`` on any fsspec URL (local folder, ``s3://bucket``, …)."""

    def __init__(self, url: str, prefix: str = "consumption/raw", **storage_options: Any) -> None:
        self.url = url.rstrip("/")
        try:
            self.fs, root = fsspec.core.url_to_fs(self.url, **storage_options)
        except (ImportError, ValueError) as exc:
            raise LakeError(f"cannot open storage {url}: {exc}",
                            hint="check storage.url (s3:// needs the s3 extra)") from exc  # fmt: skip
        self.prefix = prefix.strip("/")
        self.root = f"{root.rstrip('/')}/{self.prefix}"

    def key(self, name: str) -> str:
        """The manifest key of a raw file (the old layout's path inside the bucket)."""
        return f"{self.prefix}/{name}"

    def list(self) -> list[RawFile]:
        """Every well-named raw file, sorted by (project, usage point, run)."""
        try:
            self.fs.invalidate_cache(self.root)
            names = self.fs.ls(self.root, detail=False)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise LakeError(f"cannot list {self.url}/{self.prefix}: {exc}") from exc
        return sorted(f for f in (parse_raw_name(str(n)) for n in names) if f is not None)

    def runs(self) -> dict[tuple[str, str], int]:
        """The highest run number of each (project, usage point)."""
        out: dict[tuple[str, str], int] = {}
        for f in self.list():
            k = (f.project_id, f.usage_point_id)
            out[k] = max(out.get(k, -1), f.run)
        return out

    def read(self, name: str) -> bytes:
        data: bytes = self.fs.cat_file(f"{self.root}/{name}")
        return data

    def write(self, name: str, data: bytes) -> None:
        """Write ``name`` atomically; refuse to overwrite an existing run."""
        path = f"{self.root}/{name}"
        try:
            if self.fs.exists(path):
                raise LakeError(f"{self.url}/{self.prefix}/{name} already exists",
                                hint="run numbers never repeat; check who else writes here")  # fmt: skip
            if isinstance(self.fs, LocalFileSystem):
                self.fs.makedirs(self.root, exist_ok=True)
                tmp = f"{self.root}/.{name}.{uuid.uuid4().hex}.tmp"
                try:
                    self.fs.pipe_file(tmp, data)
                    self.fs.mv(tmp, path)
                finally:
                    if self.fs.exists(tmp):
                        self.fs.rm(tmp)
            else:
                self.fs.pipe_file(path, data)  # one PUT: the object appears whole or not at all
        except LakeError:
            raise
        except OSError as exc:
            raise LakeError(f"could not write {name} to {self.url}: {exc}") from exc
