"""``wattlake run green-button``: the incremental Connect My Data fetch of one client.

1. **Adopt** what the storage already holds: raw files in ``<storage>/consumption/raw/`` (an
   old oeem-etl deployment's, or ours from a run that stopped before loading) whose key is not
   loaded yet go to bronze (``Runner.store``) and load (``Runner.load_artifact``); their run
   numbers count.
2. **Customers** come from the configuration and/or the authorization service.
3. For each customer's usage points: the window ends at "now minus the availability lag, at the
   utility's local midnight" and starts ``overlap_days`` before the loaded data's end (or
   ``history_years`` back on run 0). If the end is not after the loaded data, nothing is asked.
   An answer with no newer data writes no file and the run number stays; otherwise the answer
   is written as ``<project>_<usage point>_<run>.xml`` in the storage, stored in bronze under
   that key and loaded.

Watermarks live in the warehouse ``state`` (key ``espi:up:<project>:<usage point>``): the last
run number and, per MeterReading, the end of the data loaded — so a fresh process never
re-reads old files to find where it stopped. A revoked authorization is reported and the other
customers go on; any other failure of a usage point is recorded (status ``partial``).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from wattlake.errors import WattlakeError
from wattlake.parsing import FileReport
from wattlake.pipeline import PipelineSpec, Runner
from wattlake.runs import Run
from wattlake.sources.espi.client import (
    Authorization,
    AuthServiceClient,
    DataSpan,
    GreenButtonClient,
    RevokedError,
    UsagePointRef,
    data_span,
)
from wattlake.sources.espi.config import ClientConfig
from wattlake.sources.espi.incremental import (
    RawFile,
    RawStore,
    raw_name,
    safe_id,
    window_end,
    window_start,
)
from wattlake.sources.espi.pipeline import PIPELINE, spec_for

# (usage point label, stage, step, steps): one progress bar per usage point
StageProgress = Callable[[str, str, int, int], None]
STAGES = ("window", "fetch", "store", "load")
LIVE_CHANNEL = timedelta(days=31)  # a channel this far behind the newest one no longer counts


@dataclass
class UsagePointResult:
    project_id: str
    usage_point_id: str
    status: str  # fetched | unchanged | revoked | failed
    run: int | None = None
    window: tuple[datetime, datetime] | None = None
    rows_loaded: int = 0
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.project_id}/{self.usage_point_id}"


@dataclass
class FetchReport:
    run: Run
    usage_points: list[UsagePointResult] = field(default_factory=list)
    adopted: list[FileReport] = field(default_factory=list)
    gold_built: bool = False

    def count(self, status: str) -> int:
        return sum(1 for u in self.usage_points if u.status == status)

    @property
    def rows_loaded(self) -> int:
        return sum(u.rows_loaded for u in self.usage_points) + sum(
            r.rows_loaded for r in self.adopted
        )


def state_key(project_id: str, usage_point_id: str) -> str:
    return f"espi:up:{project_id}:{safe_id(usage_point_id)}"


@dataclass
class Watermark:
    """Last run number and, per MeterReading href, the end of the loaded data."""

    run: int = -1
    channels: dict[str, datetime] = field(default_factory=dict)

    @property
    def end(self) -> datetime | None:
        """Where loaded data ends: the earliest end among live channels (a channel that stopped
        a month before the others no longer holds the window back)."""
        if not self.channels:
            return None
        newest = max(self.channels.values())
        return min(t for t in self.channels.values() if t >= newest - LIVE_CHANNEL)

    def merge(self, span: DataSpan) -> None:
        for ch, (_lo, hi) in span.channels.items():
            old = self.channels.get(ch)
            self.channels[ch] = hi if old is None else max(old, hi)

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run, "channels": {k: v.isoformat() for k, v in self.channels.items()}}

    @classmethod
    def from_json(cls, value: Any) -> Watermark:
        if not isinstance(value, dict):
            return cls()
        chans = {k: datetime.fromisoformat(v) for k, v in (value.get("channels") or {}).items()}
        return cls(int(value.get("run", -1)), chans)


def _watermark(runner: Runner, project_id: str, upid: str) -> Watermark:
    return Watermark.from_json(runner.runs.get_state(state_key(project_id, upid)))


def _save(runner: Runner, project_id: str, upid: str, wm: Watermark) -> None:
    runner.runs.set_state(state_key(project_id, upid), wm.to_json())


def customers_of(cfg: ClientConfig, auth_client: AuthServiceClient | None) -> list[Authorization]:
    out = [
        Authorization(
            c.project_id, c.subscription_id,
            cfg.env(f"customers[{i}].access_token_env", c.access_token_env, required=False),
            cfg.env(f"customers[{i}].refresh_token_env", c.refresh_token_env, required=False),
        )
        for i, c in enumerate(cfg.customers)
    ]  # fmt: skip
    if auth_client is not None:
        out += auth_client.customers()
    return out


def make_clients(cfg: ClientConfig) -> tuple[GreenButtonClient, AuthServiceClient | None]:
    e = cfg.espi
    cert = (e.cert_file, e.key_file) if e.cert_file and e.key_file else None
    client = GreenButtonClient(
        e.resource_url, token_url=e.token_url,
        client_id=cfg.env("espi.client_id_env", e.client_id_env, required=False),
        client_secret=cfg.env("espi.client_secret_env", e.client_secret_env, required=False),
        cert=cert, ca_file=e.ca_file, min_interval_s=e.min_interval_s, max_retries=e.max_retries,
        backoff_s=e.backoff_s, timeout=e.timeout_s,
    )  # fmt: skip
    auth = None
    if cfg.auth_service is not None:
        a = cfg.auth_service
        token = cfg.env("auth_service.token_env", a.token_env) or ""
        auth = AuthServiceClient(a.url, token, a.client_id)
    return client, auth


def raw_store(cfg: ClientConfig) -> RawStore:
    return RawStore(cfg.storage.url, cfg.storage.raw_prefix, **cfg.storage_options())


def fetch_spec(cfg: ClientConfig) -> PipelineSpec:
    """The Green Button spec with the client's zone and custodian bound to its parser."""
    return spec_for(zone=cfg.client.timezone, custodian=cfg.client.custodian)


def adopt(
    runner: Runner, run: Run, store: RawStore, spec: PipelineSpec = PIPELINE
) -> list[FileReport]:
    """Load the raw files in the storage that are not loaded yet (in run order)."""
    newest = runner.manifest.newest_by_key(PIPELINE.source)
    reports = []
    files: list[RawFile] = store.list()
    for f in files:
        key = store.key(f.name)
        row = newest.get(key)
        if row is not None and row["loaded_at"] is not None:
            continue
        with run.step("bronze", key, reraise=False):
            body = store.read(f.name)
            artifact = runner.store(spec, run, key, io.BytesIO(body), {"adopted": store.url})
        if run.steps[-1].status != "ok":
            continue
        # force: these bytes may be in silver under another key (``ingest espi`` of the same
        # bucket); loading them under this key makes it the rows' file, so it is marked loaded
        report = runner.load_artifact(spec, run, artifact, force=True)
        reports.append(report)
        wm = _watermark(runner, f.project_id, f.usage_point_id)
        wm.run = max(wm.run, f.run)
        if run.steps[-1].status == "ok" and run.steps[-1].name == "silver":
            with contextlib.suppress(WattlakeError):  # the load recorded what was wrong
                wm.merge(data_span(body))
        _save(runner, f.project_id, f.usage_point_id, wm)
    return reports


def fetch_usage_point(
    runner: Runner,
    run: Run,
    cfg: ClientConfig,
    client: GreenButtonClient,
    store: RawStore,
    auth: Authorization,
    ref: UsagePointRef,
    listed_run: int,
    now: datetime,
    tick: Callable[[str, int], None],
) -> UsagePointResult:
    """One usage point: window, fetch, write the raw file, store in bronze, load."""
    upid = ref.usage_point_id
    res = UsagePointResult(auth.project_id, upid, "unchanged")
    wm = _watermark(runner, auth.project_id, upid)
    last_run = max(wm.run, listed_run)
    e = cfg.espi
    spec = fetch_spec(cfg)
    end = window_end(now, cfg.zone, e.availability_lag_days, gas=ref.is_gas)
    loaded_end = wm.end
    tick("window", 1)
    if loaded_end is not None and end <= loaded_end:
        res.note = f"loaded up to {loaded_end:%Y-%m-%d %H:%M:%S}Z; nothing newer can exist yet"
        return res
    start = window_start(loaded_end, end, cfg.zone, overlap_days=e.overlap_days,
                         history_years=e.history_years, gas=ref.is_gas)  # fmt: skip
    res.window = (start, end)
    revoked: RevokedError | None = None
    with run.step("fetch", res.label) as step:
        try:
            body = client.batch(auth, upid, start, end)
        except RevokedError as exc:  # logged as revoked (not failed), reported by the caller
            step.status, step.error, revoked = "revoked", exc.message, exc
        else:
            span = data_span(body)
            step.rows_read = span.blocks
    if revoked is not None:
        raise revoked
    tick("fetch", 2)
    if span.blocks == 0 or span.end is None or (loaded_end is not None and span.end <= loaded_end):
        res.note = "the custodian has nothing newer (no file written)"
        return res
    res.run = last_run + 1
    name = raw_name(auth.project_id, upid, res.run)
    key = store.key(name)
    params = {
        "project_id": auth.project_id, "usage_point_id": upid, "run": res.run,
        "published-min": start.isoformat(), "published-max": end.isoformat(),
        "url": client.batch_url(auth, upid),
    }  # fmt: skip
    with run.step("bronze", key):
        store.write(name, body)
        wm.run = res.run
        _save(runner, auth.project_id, upid, wm)  # the run number is taken even if loading fails
        artifact = runner.store(spec, run, key, io.BytesIO(body), params)
    tick("store", 3)
    report = runner.load_artifact(spec, run, artifact)
    if run.steps[-1].status != "ok":
        res.status, res.note = "failed", report.note or "load failed"
        return res
    wm.merge(span)
    _save(runner, auth.project_id, upid, wm)
    res.status, res.rows_loaded = "fetched", report.rows_loaded
    res.note = f"{span.start:%Y-%m-%d} .. {span.end:%Y-%m-%d %H:%M}Z" if span.start else ""
    tick("load", 4)
    return res


def run_green_button(
    runner: Runner,
    cfg: ClientConfig,
    *,
    usage_points: set[str] | None = None,
    projects: set[str] | None = None,
    now: datetime | None = None,
    progress: StageProgress | None = None,
    client: GreenButtonClient | None = None,
    auth_client: AuthServiceClient | None = None,
) -> FetchReport:
    """Adopt, then fetch what is new for every (or the named) usage point of one client."""
    now = now or datetime.now(UTC)
    spec = fetch_spec(cfg)
    runner.setup(spec)
    own = client is None
    if client is None:
        client, made_auth = make_clients(cfg)
        auth_client = auth_client or made_auth
    store = raw_store(cfg)
    run = runner.runs.start(spec.name, {
        "client": cfg.client.name, "config": str(cfg.path), "storage": store.url,
        "now": now.isoformat(), "usage_points": sorted(usage_points or []),
    })  # fmt: skip
    report = FetchReport(run)
    try:
        report.adopted = adopt(runner, run, store, spec)
        listed = store.runs()
        with run.step("customers", cfg.client.name, reraise=False):
            auths = customers_of(cfg, auth_client)
        if run.steps[-1].status != "ok":
            auths = customers_of(cfg, None)
        for auth in auths:
            if projects and auth.project_id not in projects:
                continue
            _one_customer(runner, run, cfg, client, store, auth, listed, usage_points, now,
                          report, progress)  # fmt: skip
        if report.rows_loaded:
            for model in PIPELINE.models:
                with run.step("gold", model, reraise=False) as step:
                    step.rows_loaded = runner.engine.build(model)
            report.gold_built = True
    except BaseException as exc:
        run.finish(exc)
        raise
    finally:
        if own:
            client.close()
            if auth_client is not None:
                auth_client.close()
    run.finish()
    return report


def _one_customer(
    runner: Runner,
    run: Run,
    cfg: ClientConfig,
    client: GreenButtonClient,
    store: RawStore,
    auth: Authorization,
    listed: dict[tuple[str, str], int],
    wanted: set[str] | None,
    now: datetime,
    report: FetchReport,
    progress: StageProgress | None,
) -> None:
    try:
        refs = client.usage_points(auth)
    except RevokedError as exc:
        with run.step("fetch", f"{auth.project_id}/usage points") as step:
            step.status, step.error = "revoked", exc.message
        report.usage_points.append(
            UsagePointResult(auth.project_id, "*", "revoked", note=exc.message)
        )
        return
    except Exception as exc:
        with run.step("fetch", f"{auth.project_id}/usage points", reraise=False):
            raise exc
        report.usage_points.append(UsagePointResult(auth.project_id, "*", "failed", note=str(exc)))
        return
    for ref in refs:
        if wanted and ref.usage_point_id not in wanted:
            continue
        label = f"{auth.project_id}/{ref.usage_point_id}"

        def tick(stage: str, n: int, label: str = label) -> None:
            if progress:
                progress(label, stage, n, len(STAGES))

        listed_run = listed.get((auth.project_id, safe_id(ref.usage_point_id)), -1)
        try:
            res = fetch_usage_point(
                runner, run, cfg, client, store, auth, ref, listed_run, now, tick
            )
        except RevokedError as exc:
            res = UsagePointResult(auth.project_id, ref.usage_point_id, "revoked", note=exc.message)
        except Exception as exc:
            res = UsagePointResult(auth.project_id, ref.usage_point_id, "failed",
                                   note=f"{type(exc).__name__}: {exc}")  # fmt: skip
        tick("done", len(STAGES))
        report.usage_points.append(res)
