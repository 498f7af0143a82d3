"""The wind SCADA part of `wattlake demo`: the source API stand-in serves the original's ten days
(2024-05-20 .. 29) for three turbines; the ETL fetches them over HTTP, computes 10-minute
statistics and pushes them to a target database — the local PostgreSQL when it is reachable
(database ``wattlake_scada_demo``, created if missing), otherwise a second DuckDB file next to
the warehouse. ``WATTLAKE_SCADA_TARGET`` overrides the choice. Run again, nothing is fetched."""

from __future__ import annotations

from datetime import date, timedelta

from rich.console import Console
from rich.markup import escape

from wattlake.pipeline import Runner
from wattlake.redact import redact_url
from wattlake.sims.scada_source import ScadaSourceSim
from wattlake.sinks.scada_target import ScadaTarget
from wattlake.sources.scada.pipeline import plan, run_days

START, DAYS = date(2024, 5, 20), 10
DEMO_DB = "wattlake_scada_demo"
LOCAL_PG = "postgresql://postgres@127.0.0.1:5432"


def pick_target(runner: Runner) -> tuple[str, str]:
    """(target URL, why): the configured target, the local PostgreSQL, or a DuckDB file."""
    configured = runner.settings.scada_target
    if configured:
        return configured, "WATTLAKE_SCADA_TARGET"
    try:
        import psycopg

        with psycopg.connect(f"{LOCAL_PG}/postgres", connect_timeout=2, autocommit=True) as c:
            exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DEMO_DB]).fetchone()
            if not exists:
                c.execute(f'CREATE DATABASE "{DEMO_DB}"')
        return f"{LOCAL_PG}/{DEMO_DB}", "the local PostgreSQL is reachable"
    except Exception as exc:  # no driver, no server, no rights: fall back to a file
        path = (runner.settings.home / "scada_target.duckdb").resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        reason = f"no local PostgreSQL ({type(exc).__name__}); a DuckDB file instead"
        return f"duckdb:///{path}", reason


def run(runner: Runner, console: Console) -> list[str]:
    """Returns example API paths for the loaded statistics."""
    url, why = pick_target(runner)
    days = [START + timedelta(days=i) for i in range(DAYS)]
    with ScadaSourceSim(turbines=3, start=START, days=DAYS) as sim, ScadaTarget(url) as target:
        requests = plan(days) + plan(days, turbines=["WTG02", "WTG03"])
        result = run_days(
            runner, requests, base_url=sim.base_url, push=target.push_day, target=redact_url(url)
        )
        kind = target.kind
    console.print(
        f"[bold]Wind SCADA[/] (source stand-in at {escape(sim.base_url)}): {START}..{days[-1]}, "
        f"default turbine + WTG02, WTG03: {result.fetched} turbine-days fetched, "
        f"{result.skipped} already loaded, {result.rows_loaded:,} samples, "
        f"{result.gold_rows:,} 10-minute buckets (run {result.run.run_id})"
    )
    console.print(
        f"  target: {kind} {escape(redact_url(url))} ({escape(why)}): "
        f"{result.pushed_rows:,} rows pushed, {result.target_changed:,} inserted or changed; "
        "signals wind_speed_mean … power_std, WTG02/wind_speed_mean …"
    )
    rows = runner.engine.query(
        "SELECT signal, bucket_start_utc, round(mean, 2) AS mean, round(min, 2) AS min, "
        "round(max, 2) AS max, round(std, 3) AS std, count FROM scada_10min "
        "WHERE turbine = 'default' AND bucket_start_utc >= $lo ORDER BY signal DESC, "
        "bucket_start_utc LIMIT 3",
        {"lo": START},
    )
    for r in rows.to_pylist():
        console.print(
            f"  {escape(str(r['signal']))} {r['bucket_start_utc']:%Y-%m-%d %H:%M}Z: mean "
            f"{r['mean']} min {r['min']} max {r['max']} std {r['std']} (n={r['count']})"
        )
    return [
        "/v1/scada/turbines",
        f"/v1/scada/default/10min?start={START}T00:00:00&end={START}T06:00:00&signals=wind_speed",
        f"/v1/scada/WTG02/10min?start={START}&end={days[1]}&format=csv",
    ]
