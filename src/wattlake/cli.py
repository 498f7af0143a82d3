"""The ``wattlake`` command line.

    wattlake ingest meter-files PATH…     load LP/TOU files or folders
    wattlake ingest hosting-capacity PATH…  load utility hosting-capacity / DER files
    wattlake run hosting-capacity          refresh from the landing folder (changed files only)
    wattlake ingest caiso-lmp FILE.zip…     load OASIS LMP zips already on disk
    wattlake run caiso-lmp --start D …      fetch CAISO LMPs from OASIS (resumes, skips bronze)
    wattlake ingest espi FILE|FOLDER|s3://…  load Green Button (ESPI) XML downloads
    wattlake sim oasis                      serve the OASIS stand-in
    wattlake run green-button --config C    fetch what is new from Green Button Connect
    wattlake push oeem-datastore --config C upload projects and consumption to a datastore
    wattlake sim green-button|datastore     serve the Green Button / datastore stand-ins
    wattlake run scada --date D …           fetch wind SCADA days, 10-min stats, push to target
    wattlake push scada-target --date D     re-push SCADA 10-min stats from the warehouse
    wattlake sim scada-source               serve the wind SCADA source API stand-in (Fonte)
    wattlake runs [RUN_ID]                 recent runs, or one run's steps and rejects
    wattlake sql "SELECT …"                read-only query of the warehouse
    wattlake serve                         the HTTP API (OpenAPI docs at /docs)
    wattlake demo                          generate data, load it, serve it

Settings come from WATTLAKE_* environment variables (see `wattlake config`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from wattlake.cli_support import byte_progress, check_port_free, open_run_log, print_runs
from wattlake.errors import WattlakeError
from wattlake.term import cell, esc

if TYPE_CHECKING:  # heavy imports stay out of `wattlake --help` (tests/test_cli_imports.py)
    import pyarrow as pa

    from wattlake.config import Settings


def get_settings() -> Settings:
    """The process settings; pydantic-settings is imported by the commands that need it."""
    from wattlake.config import get_settings as settings

    return settings()


app = typer.Typer(
    name="wattlake",
    help="""Energy data from where it lives to typed tables and an HTTP API.

Examples:
```
wattlake demo                             load sample data and serve it
wattlake ingest meter-files ./exports/    load LP/TOU files or folders
wattlake run caiso-lmp --start 2025-11-01 fetch a day of CAISO prices
wattlake runs                             what ran, with row counts
wattlake sql "SELECT * FROM meter_daily LIMIT 5" --format csv
wattlake serve --port 8000                the HTTP API, docs at /docs
```

Settings come from WATTLAKE_* variables or wattlake.toml: see `wattlake config`.""",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
ingest_app = typer.Typer(
    help="Load files you already have (they are kept in bronze as-is).", no_args_is_help=True
)
app.add_typer(ingest_app, name="ingest")
run_app = typer.Typer(
    help="Refresh a source from where it lives (its landing folder, or its remote API).",
    no_args_is_help=True,
)
app.add_typer(run_app, name="run")
sim_app = typer.Typer(
    help="Local stand-ins for remote sources (tests, demos).", no_args_is_help=True
)
app.add_typer(sim_app, name="sim")
push_app = typer.Typer(
    help="Deliver warehouse data to downstream systems (no fetching).", no_args_is_help=True
)
app.add_typer(push_app, name="push")
console = Console(soft_wrap=True)  # long URLs and paths stay copyable
err = Console(stderr=True)


class OutFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@contextmanager
def _progress(description: str) -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar on stderr; yields the ``(item, done, total)`` callback runners take."""
    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[item]}", markup=False), TimeElapsedColumn(), console=err,
        transient=True,
    )  # fmt: skip
    with bar:
        task = bar.add_task(description, total=None, item="")

        def tick(item: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, item=item)

        yield tick


def _print_table(t: pa.Table, title: str | None = None, fmt: OutFormat = OutFormat.table) -> None:
    if fmt is OutFormat.json:
        sys.stdout.write(json.dumps(t.to_pylist(), default=str, indent=None) + "\n")
        return
    if fmt is OutFormat.csv:
        import pyarrow.csv as pacsv

        pacsv.write_csv(t, sys.stdout.buffer)
        sys.stdout.flush()
        return
    table = Table(title=None if title is None else cell(title), show_lines=False)
    for name in t.column_names:
        table.add_column(cell(name), overflow="fold")
    for row in t.to_pylist():
        table.add_row(*(cell(v) for v in row.values()))
    console.print(table)


def _ingest(pipeline: str, paths: list[Path], force: bool) -> None:
    from wattlake.errors import InputError
    from wattlake.pipeline import Runner, expand_paths
    from wattlake.registry import get_pipeline

    spec = get_pipeline(pipeline)
    files = list(expand_paths(paths, spec.file_patterns))
    if not files:
        raise InputError(
            f"no {pipeline} files in {', '.join(map(str, paths))} "
            f"(looked for {', '.join(spec.file_patterns)})",
            hint="check the folder, or name the files themselves",
        )
    runner = Runner.open()
    try:
        sizes = [f.stat().st_size for f in files]
        with byte_progress(err, f"ingest {pipeline}", sizes) as (tick, reading):
            runner.on_bytes = reading
            run, reports = runner.ingest_files(spec, files, force=force, progress=tick)
        summary = Table(title=cell(f"run {run.run_id}"))
        for col in ("file", "read", "loaded", "rejected", "note"):
            summary.add_column(
                col, justify="right" if col in ("read", "loaded", "rejected") else "left"
            )
        for r in reports:
            summary.add_row(
                *map(cell, (r.source_file, r.rows_read, r.rows_loaded, r.rows_rejected, r.note))
            )
        console.print(summary)
        failed = run.failed_steps
        for s in failed:
            err.print(f"[red]{esc(s.name)} {esc(s.target)}: {esc(s.error)}")
        if any(r.rows_rejected for r in reports):
            err.print(f"rejected rows: wattlake runs {esc(run.run_id)} --rejects")
        if failed:
            raise typer.Exit(1)
    finally:
        runner.close()


@ingest_app.command("meter-files")
def ingest_meter_files(
    paths: Annotated[list[Path], typer.Argument(help="LP/TOU .csv files, or folders to search")],
    force: Annotated[bool, typer.Option(help="Reload files already loaded (same content)")] = False,
) -> None:
    """Load LP and TOU meter export files (layout detected from the header).

    Examples:
    ```
    wattlake ingest meter-files ./exports/
    wattlake ingest meter-files LP_210095893_20150901T011608049.csv --force
    ```
    """
    _ingest("meter-files", paths, force)


@ingest_app.command("hosting-capacity")
def ingest_hosting_capacity(
    paths: Annotated[list[Path], typer.Argument(help="Utility CSV files, or folders to search")],
    force: Annotated[bool, typer.Option(help="Reload files already loaded (same content)")] = False,
) -> None:
    """Load hosting-capacity / DER files (format chosen by file name, see the formats folder).

    Examples:
    ```
    wattlake ingest hosting-capacity utility2_circuits.csv ./downloads/utility1/
    ```
    """
    _ingest("hosting-capacity", paths, force)


@run_app.command("hosting-capacity")
def run_hosting_capacity(
    force: Annotated[bool, typer.Option(help="Reload every file even if unchanged")] = False,
) -> None:
    """Refresh from $WATTLAKE_HOME/landing/hosting_capacity/<utility>/: new or changed files
    load (replacing their earlier rows), unchanged files are skipped, removed files' rows go.

    Prints what each layer did per data set; exits 1 if a step failed.
    """
    from wattlake.pipeline import Runner
    from wattlake.sources.hosting_capacity.pipeline import refresh

    runner = Runner.open()
    try:
        with _progress("run hosting-capacity") as tick:
            report = refresh(runner, force=force, progress=tick)
    finally:
        runner.close()
    table = Table(title=cell(f"run {report.run_id} ({report.seconds:.2f} s): {report.status}"))
    for col in ("utility", "data set", "file", "bronze", "silver", "read", "loaded", "rejected"):
        table.add_column(col, justify="right" if col in ("read", "loaded", "rejected") else "left")
    for ds in report.datasets:
        for f in ds.files:
            table.add_row(*map(cell, (
                ds.utility, ds.dataset, f.file, f.bronze, f.silver, f.rows_read,
                f.rows_loaded if not f.rows_deleted else f"-{f.rows_deleted}", f.rows_rejected,
            )))  # fmt: skip
    console.print(table)
    layers = report.layers
    console.print(
        f"bronze {layers.bronze.status} ({layers.bronze.stored} stored, "
        f"{layers.bronze.unchanged} unchanged) · silver {layers.silver.status} "
        f"({layers.silver.rows_loaded:,} rows loaded, {layers.silver.rows_rejected} rejected, "
        f"{layers.silver.rows_deleted:,} deleted) · gold {layers.gold.status}",
        markup=False,
    )
    if report.note:
        err.print(f"[yellow]{esc(report.note)}")
    for e in report.errors:
        err.print(f"[red]{esc(e.layer)} {esc(e.target)}: {esc(e.error)}")
    if layers.silver.rows_rejected:
        err.print(f"rejected rows: wattlake runs {esc(report.run_id)} --rejects")
    if report.errors:
        raise typer.Exit(1)


class OasisMarket(StrEnum):
    DAM = "DAM"
    RTM = "RTM"
    RTPD = "RTPD"
    HASP = "HASP"


@ingest_app.command("caiso-lmp")
def ingest_caiso_lmp(
    paths: Annotated[list[Path], typer.Argument(help="OASIS SingleZip .zip files, or folders")],
    force: Annotated[bool, typer.Option(help="Reload files already loaded (same content)")] = False,
) -> None:
    """Load CAISO OASIS LMP answers already on disk (PRC_LMP, PRC_INTVL_LMP, PRC_RTPD_LMP,
    PRC_HASP_LMP zips with resultformat=6).

    Examples:
    ```
    wattlake ingest caiso-lmp ./oasis/20200101_20200101_PRC_LMP_DAM.zip ./more/
    ```
    """
    _ingest("caiso-lmp", paths, force)


@ingest_app.command("espi")
def ingest_espi(
    paths: Annotated[
        list[str], typer.Argument(help="Green Button .xml files, folders, or s3://bucket/prefix")
    ],
    zone: Annotated[
        str | None,
        typer.Option(help="IANA zone for feeds without LocalTimeParameters, e.g. America/New_York"),
    ] = None,
    custodian: Annotated[
        str | None, typer.Option(help="Utility name for the keys (default: the feed's host)")
    ] = None,
    force: Annotated[bool, typer.Option(help="Reload files already loaded (same content)")] = False,
) -> None:
    """Load Green Button ("Download My Data" or Connect) ESPI XML files into usage_points,
    reading_types, meter_readings, interval_reads and usage_summaries, then usage_daily.

    Example: wattlake ingest espi ./downloads/ s3://bucket/consumption/raw --zone America/Los_Angeles
    """
    from rich.markup import escape

    from wattlake.pipeline import Runner
    from wattlake.sources.espi.pipeline import ingest

    runner = Runner.open()
    try:
        with _progress("ingest green-button") as tick:
            run, reports = ingest(
                runner, paths, zone=zone, custodian=custodian, force=force, progress=tick
            )
        summary = Table(title=f"run {run.run_id}")
        for col in ("file", "read", "loaded", "rejected", "note"):
            summary.add_column(col, justify="left" if col in ("file", "note") else "right")
        for r in reports:
            summary.add_row(
                escape(r.source_file), str(r.rows_read), str(r.rows_loaded),
                str(r.rows_rejected), escape(r.note or ""),
            )  # fmt: skip
        console.print(summary)
        for s in run.failed_steps:
            err.print(f"[red]{escape(s.name)} {escape(s.target)}: {escape(s.error or '')}")
        if any(r.rows_rejected for r in reports):
            err.print(f"rejected rows: wattlake runs {run.run_id} --rejects")
        if run.failed_steps:
            raise typer.Exit(1)
    finally:
        runner.close()


@run_app.command("caiso-lmp")
def run_caiso_lmp(
    start: Annotated[
        str, typer.Option(help="First Pacific operating day: YYYY-MM-DD, today, yesterday, -7d")
    ],
    end: Annotated[
        str | None,
        typer.Option(help="Last operating day, inclusive, same forms [default: START]"),
    ] = None,
    market: Annotated[OasisMarket, typer.Option(help="Market run")] = OasisMarket.DAM,
    node: Annotated[
        list[str] | None, typer.Option(help="Pricing node; repeat for several [default: hubs]")
    ] = None,
    all_nodes: Annotated[bool, typer.Option(help="Every APNode (one request per chunk)")] = False,
    base_url: Annotated[
        str, typer.Option(envvar="WATTLAKE_OASIS_URL", help="OASIS API root")
    ] = "https://oasis.caiso.com/oasisapi",
    refresh: Annotated[bool, typer.Option(help="Fetch windows already in bronze again")] = False,
    min_interval: Annotated[
        float, typer.Option(help="Seconds between requests (OASIS allows ~1 per 5 s)")
    ] = 5.0,
) -> None:
    """Fetch CAISO LMPs for Pacific operating days START..END from OASIS and load them.

    Windows already in bronze are not fetched again (an interrupted backfill resumes);
    --refresh fetches them anyway. Exits 1 if a chunk failed (run again to retry it).

    Days are Pacific operating days; `today`, `yesterday` and `-7d` count in Pacific time,
    so a crontab line needs no date arithmetic.

    Examples:
    ```
    wattlake run caiso-lmp --start 2025-11-01 --end 2025-11-07 --market DAM
    wattlake run caiso-lmp --start 2025-11-01 --node TH_NP15_GEN-APND
    wattlake run caiso-lmp --start yesterday          # crontab: 30 14 * * *
    ```
    """
    from datetime import timedelta

    from wattlake.pipeline import Runner
    from wattlake.sources.caiso.pipeline import PACIFIC, backfill
    from wattlake.timeutil import parse_day

    try:
        first = parse_day(start, PACIFIC)
        last = parse_day(end, PACIFIC) if end else first
    except WattlakeError as exc:
        raise typer.BadParameter(f"{exc} ({exc.hint})") from None
    if node and all_nodes:
        raise typer.BadParameter("use --node or --all-nodes, not both")
    runner = Runner.open()
    try:
        with _progress(f"caiso-lmp {market.value}") as tick:
            result = backfill(
                runner, first, last + timedelta(days=1), market.value, node or None,
                all_nodes=all_nodes, base_url=base_url, refresh=refresh, progress=tick,
                min_interval_s=min_interval,
            )  # fmt: skip
    finally:
        runner.close()
    run = result.run
    console.print(
        f"run {run.run_id}: {len(result.chunks)} chunks: {result.fetched} fetched, "
        f"{result.from_bronze} loaded from bronze, {result.skipped} already loaded, "
        f"{result.failed} failed; {result.rows_loaded:,} rows loaded, "
        f"{result.rows_rejected} rejected; gold {'rebuilt' if result.gold_built else 'unchanged'}",
        markup=False,
    )
    for s in run.failed_steps:
        err.print(f"[red]{esc(s.name)} {esc(s.target)}: {esc(s.error)}")
    if result.rows_rejected:
        err.print(f"rejected rows: wattlake runs {esc(run.run_id)} --rejects")
    if run.failed_steps:
        raise typer.Exit(1)


@sim_app.command("oasis")
def sim_oasis(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port)")] = 8001,
    rate_limit: Annotated[float, typer.Option(help="Seconds between requests, else 429")] = 5.0,
    nodes: Annotated[int, typer.Option(help="APNodes served to all-node queries")] = 300,
    seed: Annotated[int, typer.Option(help="Price model seed")] = 0,
) -> None:
    """Serve the CAISO OASIS stand-in (GET /oasisapi/SingleZip) until Ctrl-C."""

    from wattlake.sims.oasis import OasisSim

    sim = OasisSim(all_nodes_count=nodes, seed=seed, rate_limit_s=rate_limit, host=host, port=port)
    url = sim.start()
    console.print(
        f"OASIS stand-in at {url}/SingleZip ({len(sim.nodes)} APNodes). Try:", markup=False
    )
    console.print(
        f"  wattlake run caiso-lmp --start 2025-11-01 --end 2025-11-07 --base-url {url} "
        f"--min-interval {max(rate_limit * 1.2, 0.01):g}",
        markup=False,
    )
    sim.serve_until_interrupted()


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
    them to the target database (signal/data tables, names <column>_<agg>).

    Days fetched after they ended are not fetched again; re-running a day changes nothing.
    Exits 1 if a day failed (run again to retry it).

    Example: wattlake run scada --date 2024-05-20 --columns wind_speed power
    --target postgresql://postgres@localhost:5433/Alvo
    """
    from rich.markup import escape

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
        with _progress("scada") as tick:
            result = run_days(
                runner, requests, base_url=source_url or s.scada_source_url,
                push=sink.push_day if sink else None, target=_redact(sink.url) if sink else None,
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
            f"target {escape(_redact(sink.url))}: {result.pushed_rows:,} rows pushed, "
            f"{result.target_changed:,} inserted or changed"
        )
    else:
        console.print("no target (--target or WATTLAKE_SCADA_TARGET): nothing pushed")
    for st in run.failed_steps:
        err.print(f"[red]{st.name} {escape(st.target)}: {escape(st.error or '')}")
    if result.rows_rejected:
        err.print(f"rejected rows: wattlake runs {run.run_id} --rejects")
    if run.failed_steps:
        raise typer.Exit(1)


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
    from rich.markup import escape

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
        with _progress("push scada-target") as tick:
            run, pushed = push_days(
                runner, days, sink.push_day, turbines=turbine,
                zone=timezone or get_settings().scada_timezone, target=_redact(sink.url),
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
    for st in run.failed_steps:
        err.print(f"[red]{st.name} {escape(st.target)}: {escape(st.error or '')}")
    if run.failed_steps:
        raise typer.Exit(1)


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

    from wattlake.sims.scada_source import ScadaSourceSim, redact_url

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


@app.command()
def runs(
    run_id: Annotated[str | None, typer.Argument(help="Show this run's steps")] = None,
    limit: Annotated[int, typer.Option(help="How many recent runs")] = 20,
    rejects: Annotated[bool, typer.Option(help="With RUN_ID: list its rejected rows")] = False,
    format: Annotated[
        OutFormat, typer.Option("--format", "-f", help="table, csv or json")
    ] = OutFormat.table,
) -> None:
    """Recent pipeline runs with their status and row counts, or one run's steps.

    A run whose process ended without finishing (killed, crashed) is shown as failed.

    Examples:
    ```
    wattlake runs
    wattlake runs --limit 100 --format csv > runs.csv
    wattlake runs 20251102T101500-3fa2c1
    wattlake runs 20251102T101500-3fa2c1 --rejects --format json
    ```
    """
    from wattlake.errors import InputError, NotFoundError

    if rejects and run_id is None:
        raise InputError("--rejects needs a RUN_ID", hint="wattlake runs RUN_ID --rejects")
    log = open_run_log()
    try:
        if run_id is None:
            recent = log.recent(limit)
            if format is OutFormat.table:
                print_runs(console, recent)
            else:
                _print_table(recent, "recent runs", format)
            return
        if not log.exists(run_id):
            raise NotFoundError(
                f"no run {run_id!r} in the warehouse", hint="`wattlake runs` lists recent run ids"
            )
        if rejects:
            _print_table(
                log.engine.query(
                    "SELECT source_file, line, field, rule, raw FROM rejects WHERE run_id = $id "
                    "ORDER BY source_file, seq LIMIT $limit",
                    {"id": run_id, "limit": limit},
                ),
                f"rejects of {run_id}",
                format,
            )
        else:
            _print_table(log.steps(run_id), f"steps of {run_id}", format)
    finally:
        log.engine.close()


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="One SELECT in DuckDB's dialect")],
    format: Annotated[
        OutFormat, typer.Option("--format", "-f", help="table, csv or json (array of records)")
    ] = OutFormat.table,
) -> None:
    """Run a read-only query against the warehouse (DuckDB SQL; transpiled for PostgreSQL).

    The query cannot change the warehouse, nor read or write other files (no COPY TO,
    read_csv, ATTACH or INSTALL on DuckDB). It runs alongside other readers and a
    `wattlake serve --read-only`; not alongside a load or a writable `wattlake serve` on DuckDB.

    Examples:
    ```
    wattlake sql "SELECT * FROM meter_daily LIMIT 5" --format csv
    wattlake sql "SELECT node, avg(avg_lmp) FROM lmp_daily GROUP BY 1" -f json
    ```
    """
    from wattlake.engines import connect

    engine = connect(get_settings().warehouse_url, read_only=True)
    try:
        _print_table(engine.query(query), None, format)
    finally:
        engine.close()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    allow_open: Annotated[
        bool,
        typer.Option(
            "--allow-open",
            help="Serve on a non-loopback HOST with no WATTLAKE_API_KEYS (anyone who can reach "
            "it can load data)",
        ),
    ] = False,
    read_only: Annotated[
        bool,
        typer.Option(
            help="Open the warehouse for reading only: on DuckDB, `wattlake sql` and "
            "`wattlake runs` can then run alongside; loading endpoints answer 503"
        ),
    ] = False,
) -> None:
    """Serve the HTTP API (OpenAPI docs at http://HOST:PORT/docs).

    Examples:
    ```
    wattlake serve
    wattlake serve --port 8080
    wattlake serve --read-only
    WATTLAKE_API_KEYS=k1,k2 wattlake serve --host 0.0.0.0
    ```
    """
    import uvicorn

    from wattlake.api.app import create_app
    from wattlake.api.exposure import check_bind
    from wattlake.engines import connect

    check_bind(host, get_settings(), allow_open=allow_open)

    # A bad setting or a warehouse held by another process stops here with one line, not as
    # a traceback in the server's startup.
    s = get_settings()
    connect(s.warehouse_url, read_only=read_only, duckdb_memory_limit=s.duckdb_memory_limit).close()
    uvicorn.run(create_app(read_only=read_only), host=host, port=port, log_level="info")


@app.command()
def demo(
    serve_api: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API after loading")
    ] = True,
    port: Annotated[int, typer.Option(help="API port")] = 8000,
) -> None:
    """Generate realistic data for every source, load it, print a summary, serve the API.

    Examples:
    ```
    wattlake demo
    wattlake demo --port 8080
    wattlake demo --no-serve
    WATTLAKE_HOME=/tmp/wl wattlake demo --no-serve
    ```
    """
    from wattlake.demo import run_demo

    if serve_api:
        check_port_free("127.0.0.1", port)  # before minutes of loading, not after
    run_demo(console, serve_api=serve_api, port=port)


@app.command()
def orchestrate(
    list_: Annotated[
        bool,
        typer.Option("--list", help="Print assets, partitions, schedules, sensors; start nothing"),
    ] = False,
    format: Annotated[OutFormat, typer.Option("--format", "-f", help="table or json")] = (
        OutFormat.table
    ),
    host: Annotated[str, typer.Option(help="Interface for the Dagster UI")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the Dagster UI")] = 3000,
) -> None:
    """Run the Dagster UI (and its scheduler) on definitions built from every pipeline.

    Its state lives in $WATTLAKE_HOME/dagster. Needs the extra `dagster`.

    \b
    Examples:
      wattlake orchestrate --list
      wattlake orchestrate --list --format json
      wattlake orchestrate --port 3000     # then open http://127.0.0.1:3000
    """
    import os
    import shutil

    if list_:
        from wattlake.orchestration.plan import listing

        found = listing()
        if format is OutFormat.json:
            console.print_json(json.dumps(found))
            return
        for section, items in found.items():
            console.print(f"[bold]{section}")
            rows = items.items() if isinstance(items, dict) else ((i, "") for i in items)
            for name, what in rows:
                console.print(f"  {escape(str(name))}  {escape(str(what))}".rstrip())
        return
    dagster = shutil.which("dagster", path=str(Path(sys.executable).parent)) or shutil.which(
        "dagster"
    )
    if dagster is None:
        err.print(
            "[red]Dagster is not installed.[/] Install the extra: pip install 'wattlake[dagster]'"
        )
        raise typer.Exit(2)
    home = (get_settings().home / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    env = os.environ | {"DAGSTER_HOME": str(home)}
    args = [dagster, "dev", "-m", "wattlake.orchestration.definitions", "-h", host, "-p", str(port)]
    err.print(f"Dagster UI on http://{host}:{port} (state in {escape(str(home))})")
    os.execve(dagster, args, env)


@app.command()
def config() -> None:
    """Show the settings in effect (secrets hidden).

    Examples:
    ```
    wattlake config
    WATTLAKE_WAREHOUSE=postgresql://me@db/energy wattlake config
    WATTLAKE_METER_TIMEZONE=Australia/Brisbane wattlake config
    ```
    """
    s = get_settings()
    rows: dict[str, Any] = {
        "WATTLAKE_HOME": s.home, "lake": s.lake_root, "warehouse": _redact(s.warehouse_url),
        "meter timezone": s.meter_timezone, "API keys": "set" if s.api_keys else "not set",
        "SCADA source": s.scada_source_url, "SCADA timezone": s.scada_timezone,
        "SCADA target": _redact(s.scada_target) if s.scada_target else "not set",
    }  # fmt: skip
    for k, v in rows.items():
        console.print(f"[bold]{k}[/]: {esc(v)}")


def _redact(url: str) -> str:
    from urllib.parse import urlsplit

    p = urlsplit(url)
    return url.replace(f":{p.password}@", ":***@") if p.password else url


# -- Green Button Connect and the OEEM datastore (commands in cli_green_button.py) ----------
from wattlake.cli_green_button import register as _register_green_button  # noqa: E402

_register_green_button(app, run_app, sim_app, console, err)


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv)
    except WattlakeError as exc:
        # One line: what went wrong, then what to do (never wrapped, so it greps whole).
        hint = f" [yellow]— {esc(exc.hint)}[/]" if exc.hint else ""
        err.print(f"[red]error:[/] {esc(exc.message)}{hint}", soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
