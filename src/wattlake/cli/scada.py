"""`wattlake run scada`, `wattlake push scada-target`, `wattlake sim scada-source`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from wattlake.cli.common import (
    console,
    get_settings,
    progress_bar,
    push_app,
    report_failures,
    run_app,
    sim_app,
)
from wattlake.redact import redact_url
from wattlake.term import esc


def _scada_days(date_: str | None, start: str | None, end: str | None, zone: str) -> list[Any]:
    from wattlake.sources.scada.pipeline import days_between
    from wattlake.timeutil import parse_day

    if date_ is not None and (start or end):
        raise typer.BadParameter("use --date, or --start/--end, not both")
    first = date_ or start
    if first is None:
        raise typer.BadParameter("name a day: --date YYYY-MM-DD (or --start/--end)")
    return days_between(parse_day(first, zone), parse_day(end or first, zone))


def _scada_target(target: str | None) -> Any:
    from wattlake.sinks.scada_target import ScadaTarget

    url = target or get_settings().scada_target
    return ScadaTarget(url) if url else None


DayOpt = Annotated[
    str | None, typer.Option("--date", help="One day in the source's zone (YYYY-MM-DD, yesterday)")
]
StartOpt = Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD, -7d …)")]
EndOpt = Annotated[str | None, typer.Option(help="Last day, inclusive [default: START]")]
TargetOpt = Annotated[
    str | None,
    typer.Option(
        help="Target database postgresql://… [env WATTLAKE_SCADA_TARGET; none: no push]",
        show_default=False,
    ),
]


@run_app.command("scada", context_settings={"allow_extra_args": True})
def run_scada(
    ctx: typer.Context,
    date_: DayOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    columns: Annotated[
        list[str] | None,
        typer.Option(help="Source columns, repeat or space-separate [default: wind_speed power]"),
    ] = None,
    turbine: Annotated[
        list[str] | None,
        typer.Option(help="Turbine id; repeat for several [default: the source's default]"),
    ] = None,
    source_url: Annotated[
        str | None, typer.Option(help="SCADA source API root [env WATTLAKE_SCADA_SOURCE_URL]")
    ] = None,
    target: TargetOpt = None,
    timezone: Annotated[
        str | None, typer.Option(help="Zone of the source's clock [env WATTLAKE_SCADA_TIMEZONE]")
    ] = None,
    refresh: Annotated[bool, typer.Option(help="Fetch days already in bronze again")] = False,
) -> None:
    """Fetch wind SCADA days from the source API, compute 10-minute mean/min/max/std and push
    them to the target database (signal/data tables, names `<column>_<agg>`).

    Days fetched after they ended are not fetched again; re-running a day changes nothing.
    Exits 1 if a day failed (run again to retry it).

    Example: wattlake run scada --date 2024-05-20 --columns wind_speed power
    --target postgresql://postgres@localhost:5433/Alvo
    """

    from wattlake.pipeline import Runner
    from wattlake.sources.scada.pipeline import plan, run_days

    s = get_settings()
    days = _scada_days(date_, start, end, timezone or s.scada_timezone)
    if ctx.args and not columns:
        raise typer.BadParameter(f"unexpected arguments {ctx.args}; did you mean --columns?")
    # `--columns wind_speed power` as the original's ETL took them: the words after it.
    words = [*(columns or []), *ctx.args]
    cols = [c for item in words for c in item.replace(",", " ").split()] or None
    requests = plan(days, cols, turbine, timezone or s.scada_timezone)
    sink = _scada_target(target)
    runner = Runner.open()
    try:
        with progress_bar("scada") as tick:
            result = run_days(
                runner, requests, base_url=source_url or s.scada_source_url,
                push=sink.push_day if sink else None, target=redact_url(sink.url) if sink else None,
                refresh=refresh, progress=tick,
            )  # fmt: skip
    finally:
        runner.close()
        if sink:
            sink.close()
    run = result.run
    console.print(
        f"run {run.run_id}: {len(requests)} turbine-days: {result.fetched} fetched, "
        f"{result.from_bronze} loaded from bronze, {result.skipped} already loaded, "
        f"{result.failed} failed; {result.rows_loaded:,} samples loaded, "
        f"{result.rows_rejected} rejected; {result.gold_rows:,} 10-minute buckets"
    )
    if sink:
        console.print(
            f"target {escape(redact_url(sink.url))}: {result.pushed_rows:,} rows pushed, "
            f"{result.target_changed:,} inserted or changed"
        )
    else:
        console.print("no target (--target or WATTLAKE_SCADA_TARGET): nothing pushed")
    report_failures(run, rejected=bool(result.rows_rejected))


@push_app.command("scada-target")
def push_scada_target(
    date_: DayOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    turbine: Annotated[
        list[str] | None, typer.Option(help="Turbine id; repeat [default: all with data]")
    ] = None,
    target: TargetOpt = None,
    timezone: Annotated[
        str | None, typer.Option(help="Zone of the days [env WATTLAKE_SCADA_TIMEZONE]")
    ] = None,
) -> None:
    """Push SCADA 10-minute statistics already in the warehouse to the target, without fetching.

    Example: wattlake push scada-target --date 2024-05-20 --target postgresql://…/Alvo
    """

    from wattlake.pipeline import Runner
    from wattlake.sources.scada.pipeline import push_days

    days = _scada_days(date_, start, end, timezone or get_settings().scada_timezone)
    sink = _scada_target(target)
    if sink is None:
        raise typer.BadParameter(
            "name the target: --target postgresql://… or WATTLAKE_SCADA_TARGET"
        )
    runner = Runner.open()
    try:
        with progress_bar("push scada-target") as tick:
            run, pushed = push_days(
                runner, days, sink.push_day, turbines=turbine,
                zone=timezone or get_settings().scada_timezone, target=redact_url(sink.url),
                progress=tick,
            )  # fmt: skip
    finally:
        runner.close()
        sink.close()
    for p in pushed:
        console.print(
            f"{p.day} {escape(', '.join(p.turbines))}: {p.rows:,} rows, {p.changed:,} inserted or changed, "
            f"{p.deleted:,} deleted"
        )
    if not pushed:
        console.print("nothing in the warehouse for those days (run `wattlake run scada` first)")
    report_failures(run)


@sim_app.command("scada-source")
def sim_scada_source(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port)")] = 8000,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="postgresql://… or duckdb:///file (default: WATTLAKE_HOME/scada_source.duckdb)"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Synthetic data seed")] = 0,
    turbines: Annotated[int, typer.Option(help="Turbines generated (WTG01 is the default)")] = 3,
    start: Annotated[str, typer.Option(help="First day generated (YYYY-MM-DD)")] = "2024-05-20",
    days: Annotated[int, typer.Option(help="Days generated")] = 10,
    timezone: Annotated[
        str | None, typer.Option(help="Log in this IANA zone's wall time (DST gaps/repeats)")
    ] = None,
    csv: Annotated[
        Path | None,
        typer.Option(
            help="Serve this CSV (timestamp,wind_speed,power,ambient_temperature) instead"
        ),
    ] = None,
) -> None:
    """Serve the wind SCADA source stand-in (GET /data, /data/{id}, docs at /docs) until Ctrl-C.

    The database is filled on first start only (when its data table is empty); --csv replaces
    the default turbine's rows with the file's."""

    from wattlake.sims.scada_source import ScadaSourceSim

    if database_url is None:
        home = get_settings().home
        home.mkdir(parents=True, exist_ok=True)
        database_url = f"duckdb:///{(home / 'scada_source.duckdb').resolve()}"
    sim = ScadaSourceSim(
        database_url, seed=seed, turbines=turbines, start=start, days=days, host=host, port=port,
        generate=csv is None, timezone=timezone,
    )  # fmt: skip
    if csv is not None:
        console.print(f"loaded {sim.load_csv(csv):,} rows from {esc(csv)}")
    url = sim.start()
    console.print(f"SCADA source stand-in at {esc(url)}/data, docs at {esc(url)}/docs")
    console.print(
        f"turbines {esc(', '.join(sim.turbines))}; database {esc(redact_url(database_url))}. Try:"
    )
    console.print(
        f"  curl '{esc(url)}/data?start_timestamp=2024-05-20T00:00:00"
        "&end_timestamp=2024-05-20T00:10:00&columns=wind_speed&columns=power'"
    )
    sim.serve_until_interrupted()
