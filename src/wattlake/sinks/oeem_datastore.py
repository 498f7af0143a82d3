"""Upload projects and Green Button consumption to an OEEM energy datastore (§4.6, §5).

Order, as the datastore needs it: attribute keys, projects, attributes (from a project CSV:
``project_id, zipcode, baseline_period_end, reporting_period_start`` + extra columns as
attributes), then per raw file its consumption metadata (label
``<project>:<usage point>:<flow>``, unique per project, usage point and flow direction) and its
records through the upserting ``consumption_records/sync2/`` route, in batches. Never
``bulk_insert/``: it duplicates.

What goes up is what the warehouse holds: the ``interval_reads`` rows whose ``_source_file`` is
a loaded raw file (``consumption/raw/<project>_<usage point>_<run>.xml``). Overlapping fetches
make a later file the owner of the re-read intervals, so every interval goes up with its latest
value. A file is uploaded once (state ``oeem:uploaded:<key>`` holds its sha256); ``force``
uploads every file again, which sync2's upsert on (start, metadata) makes harmless.

Every batch is paced and retried (429/5xx/timeouts) by :mod:`wattlake.http`, and every item's
``status`` is checked: an ``error - …`` item fails that file (reported, not marked uploaded).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa

from wattlake.errors import FetchError, InputError, SourceResponseError
from wattlake.http import Pacer
from wattlake.pipeline import Runner
from wattlake.sources.espi.config import ClientConfig, DatastoreSection
from wattlake.sources.espi.incremental import parse_raw_name
from wattlake.sources.espi.pipeline import PIPELINE

RAW_PREFIX = "consumption/raw/"
FLOW_NAMES = {1: "forward", 19: "reverse", 4: "net"}
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S+0000"
PROJECT_FIELDS = ("project_id", "zipcode", "baseline_period_start", "baseline_period_end",
                  "reporting_period_start", "reporting_period_end")  # fmt: skip


def interpretation(service_kind: int | None, commodity: int | None, flow: int | None) -> str | None:
    """The datastore's interpretation code for a channel (None: not one it stores)."""
    gas = service_kind == 1 or commodity == 7
    if gas:
        return "NG_C_S" if flow in (1, None) else None
    return {1: "E_C_S", 19: "E_OSG_U", 4: "E_C_N"}.get(flow or 1)


def to_datastore_unit(unit: str | None) -> tuple[str, float] | None:
    """(datastore unit, factor) for a silver unit."""
    return {"Wh": ("KWH", 0.001), "kWh": ("KWH", 1.0), "therm": ("THM", 1.0)}.get(unit or "")


class DatastoreClient:
    def __init__(
        self, ds: DatastoreSection, token: str, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.url = ds.url.rstrip("/")
        self.batch_size = ds.batch_size
        self.pacer = Pacer(self.url, name="datastore", min_interval_s=ds.min_interval_s,
                           max_retries=ds.max_retries, backoff_s=ds.backoff_s)  # fmt: skip
        self._http = httpx.Client(timeout=120.0, transport=transport,
                                  headers={"Authorization": f"Bearer {token}"})  # fmt: skip

    def close(self) -> None:
        self._http.close()

    def post(self, resource: str, items: Sequence[dict[str, Any]]) -> Any:
        answer = self.pacer.request(
            self._http, "POST", f"{self.url}/api/v1/{resource}", what=resource,
            max_bytes=256 * 1024 * 1024, content=json.dumps(list(items)).encode(),
            headers={"Content-Type": "application/json"},
            hint="check datastore.url; the datastore may be down",
        )  # fmt: skip
        try:
            payload = answer.json()
        except ValueError:
            payload = None
        if answer.status == 401:
            raise FetchError(f"datastore refused the token for {resource}",
                             hint="check datastore.token_env (a read/write token)")  # fmt: skip
        if answer.status not in (200, 201, 400) or payload is None:
            raise FetchError(f"datastore answered HTTP {answer.status} for {resource}",
                             hint="check datastore.url")  # fmt: skip
        return payload

    def sync(self, resource: str, items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST ``items`` in batches to a ``…/sync/`` route; every item's status is checked."""
        out: list[dict[str, Any]] = []
        for i in range(0, len(items), self.batch_size):
            answer = self.post(resource, items[i : i + self.batch_size])
            if not isinstance(answer, list):
                raise SourceResponseError(
                    f"{resource}: expected a list of items, got {answer!r:.200}"
                )
            errors = [a for a in answer if str(a.get("status", "")).startswith("error")]
            if errors:
                raise SourceResponseError(
                    f"{resource}: {len(errors)} item(s) failed, first: {errors[0].get('status')} "
                    f"({json.dumps(errors[0], default=str)[:200]})",
                    hint="fix the project data and push again",
                )
            out += answer
        return out

    def records(self, records: Sequence[dict[str, Any]]) -> int:
        """Upsert records through ``consumption_records/sync2/`` in batches."""
        for i in range(0, len(records), self.batch_size):
            answer = self.post("consumption_records/sync2/", records[i : i + self.batch_size])
            if not isinstance(answer, dict) or answer.get("status") != "success":
                raise SourceResponseError(f"consumption_records/sync2/: {answer!r:.300}")
        return len(records)


# -- projects ----------------------------------------------------------------------------
_INT = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _infer(values: Iterable[str]) -> str:
    vals = [v for v in values if v != ""]
    tests = (("INTEGER", _INT.match), ("FLOAT", _FLOAT.match), ("DATE", _DATE.match),
             ("BOOLEAN", lambda v: v.lower() in ("true", "false")),
             ("DATETIME", _is_datetime))  # fmt: skip
    for name, ok in tests:
        if vals and all(ok(v) for v in vals):
            return name
    return "CHAR"


def _is_datetime(v: str) -> bool:
    try:
        datetime.fromisoformat(v)
    except ValueError:
        return False
    return True


def _convert(value: str, data_type: str) -> Any:
    if value == "":
        return None
    if data_type == "INTEGER":
        return int(value)
    if data_type == "FLOAT":
        return float(value)
    if data_type == "BOOLEAN":
        return value.lower() == "true"
    return value


def _utc_text(value: str | None) -> str | None:
    if not value:
        return None
    t = datetime.fromisoformat(value)
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC).strftime(TIME_FORMAT)


@dataclass
class Projects:
    projects: list[dict[str, Any]]
    keys: list[dict[str, Any]]
    attributes: list[dict[str, Any]]


def read_projects(path: Path, owner: int) -> Projects:
    """The project CSV: one row per project; columns beyond the standard ones are attributes."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}", hint="pass --projects FILE.csv") from exc
    if not rows or "project_id" not in rows[0]:
        raise InputError(
            f"{path}: no project_id column", hint="the first line must be a header with project_id"
        )
    extras = [c for c in rows[0] if c not in PROJECT_FIELDS]
    types = {c: _infer(r.get(c) or "" for r in rows) for c in extras}
    projects = []
    for n, r in enumerate(rows, start=2):
        if not (r.get("project_id") or "").strip():
            raise InputError(
                f"{path}: line {n} has no project_id", hint="fill it in or delete the line"
            )
        try:
            projects.append({
                "project_id": r["project_id"].strip(), "project_owner_id": owner,
                "zipcode": r.get("zipcode") or None,
                **{f: _utc_text(r.get(f)) for f in PROJECT_FIELDS[2:]},
            })  # fmt: skip
        except ValueError as exc:
            raise InputError(
                f"{path}: line {n}: {exc}", hint="dates as YYYY-MM-DD[THH:MM:SS]"
            ) from None
    keys = [{"name": c, "display_name": c.replace("_", " ").capitalize(), "data_type": t}
            for c, t in types.items()]  # fmt: skip
    attrs = [
        {"project_project_id": r["project_id"].strip(), "project_attribute_key_name": c,
         "value": _convert(r.get(c) or "", types[c])}
        for r in rows for c in extras if (r.get(c) or "") != ""
    ]  # fmt: skip
    return Projects(projects, keys, attrs)


# -- consumption -------------------------------------------------------------------------
@dataclass
class PushReport:
    run_id: str
    projects: int = 0
    files_uploaded: list[str] = field(default_factory=list)
    files_skipped: int = 0
    files_failed: dict[str, str] = field(default_factory=dict)
    records: int = 0


def _uploaded_key(key: str) -> str:
    return f"oeem:uploaded:{key}"


def loaded_raw_files(runner: Runner) -> dict[str, str]:
    """key -> sha256 of the loaded raw files (the version in silver)."""
    rows = runner.engine.query(
        "SELECT key, sha256 FROM lake_manifest WHERE source = $s AND loaded_at IS NOT NULL "
        "ORDER BY key, loaded_at",
        {"s": PIPELINE.source},
    ).to_pylist()
    return {r["key"]: r["sha256"] for r in rows if str(r["key"]).startswith(RAW_PREFIX)}


def file_records(runner: Runner, key: str) -> pa.Table:
    return runner.engine.query(
        "SELECT usage_point_id, flow_direction, service_kind, commodity, unit, "
        "interval_start_utc, value, estimated FROM interval_reads WHERE _source_file = $f "
        "ORDER BY usage_point_id, flow_direction, interval_start_utc",
        {"f": key},
    )


def label(project_id: str, usage_point_id: str, flow: int | None) -> str:
    return f"{project_id}:{usage_point_id}:{FLOW_NAMES.get(flow or 1, str(flow))}"


def upload_file(client: DatastoreClient, project_id: str, table: pa.Table) -> int:
    """Metadata for each channel of the file, then its records; returns records sent."""
    groups: dict[tuple[str, int | None], list[dict[str, Any]]] = {}
    metas: dict[tuple[str, int | None], dict[str, Any]] = {}
    for row in table.to_pylist():
        code = interpretation(row["service_kind"], row["commodity"], row["flow_direction"])
        unit = to_datastore_unit(row["unit"])
        if code is None or unit is None:
            continue  # channels the datastore has no interpretation/unit for stay home
        k = (row["usage_point_id"], row["flow_direction"])
        metas.setdefault(k, {"project_project_id": project_id, "interpretation": code,
                             "unit": unit[0], "label": label(project_id, k[0], k[1])})  # fmt: skip
        start: datetime = row["interval_start_utc"]
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
        value = None if row["value"] is None else row["value"] * unit[1]
        groups.setdefault(k, []).append(
            {
                "start": start.astimezone(UTC).strftime(TIME_FORMAT),
                "value": value,
                "estimated": bool(row["estimated"]),
            }
        )
    if not metas:
        return 0
    answers = client.sync("consumption_metadatas/sync/", list(metas.values()))
    ids = {a["label"]: a["id"] for a in answers}
    records = [
        {**rec, "metadata_id": ids[metas[k]["label"]]} for k, recs in groups.items() for rec in recs
    ]
    return client.records(records)


def push(
    runner: Runner,
    cfg: ClientConfig,
    *,
    projects_csv: Path | None = None,
    projects: set[str] | None = None,
    force: bool = False,
    client: DatastoreClient | None = None,
) -> PushReport:
    """Upload project data (if a CSV is given) and every loaded raw file not uploaded yet."""
    ds = cfg.datastore
    if ds is None:
        raise InputError(f"{cfg.path}: no [datastore] section",
                         hint="add [datastore] with url, token_env and project_owner")  # fmt: skip
    own = client is None
    client = client or DatastoreClient(ds, cfg.env("datastore.token_env", ds.token_env) or "")
    runner.setup(PIPELINE)
    run = runner.runs.start("oeem-datastore", {"client": cfg.client.name, "force": force,
                                               "projects": sorted(projects or [])})  # fmt: skip
    report = PushReport(run.run_id)
    try:
        if projects_csv is not None:
            with run.step("sink", f"projects {projects_csv.name}") as step:
                data = read_projects(projects_csv, ds.project_owner)
                client.sync("project_attribute_keys/sync/", data.keys)
                client.sync("projects/sync/", data.projects)
                client.sync("project_attributes/sync/", data.attributes)
                report.projects = step.rows_loaded = len(data.projects)
        for key, sha in loaded_raw_files(runner).items():
            raw = parse_raw_name(key)
            if raw is None or (projects and raw.project_id not in projects):
                continue
            if not force and runner.runs.get_state(_uploaded_key(key)) == sha:
                report.files_skipped += 1
                continue
            with run.step("sink", key, reraise=False) as step:
                if not projects_csv:  # the datastore needs the project to exist
                    client.sync("projects/sync/", [{"project_id": raw.project_id,
                                                    "project_owner_id": ds.project_owner}])  # fmt: skip
                table = file_records(runner, key)
                step.rows_read = table.num_rows
                step.rows_loaded = upload_file(client, raw.project_id, table)
                runner.runs.set_state(_uploaded_key(key), sha)
            if run.steps[-1].status == "ok":
                report.files_uploaded.append(key)
                report.records += step.rows_loaded
            else:
                report.files_failed[key] = run.steps[-1].error or "failed"
    except BaseException as exc:
        run.finish(exc)
        raise
    finally:
        if own:
            client.close()
    run.finish()
    return report
