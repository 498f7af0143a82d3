"""The ``wattlake`` command line.

    wattlake ingest meter-files PATH…     load LP/TOU files or folders
    wattlake runs [RUN_ID]                 recent runs, or one run's steps and rejects
    wattlake sql "SELECT …"                read-only query of the warehouse
    wattlake serve                         the HTTP API (OpenAPI docs at /docs)
    wattlake demo                          generate data, load it, serve it

Settings come from WATTLAKE_* environment variables (see `wattlake config`).
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from wattlake.config import get_settings
from wattlake.errors import WattlakeError

app = typer.Typer(
    name="wattlake",
    help="Energy data from where it lives to typed tables and an HTTP API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
ingest_app = typer.Typer(
    help="Load files you already have (they are kept in bronze as-is).", no_args_is_help=True
)
app.add_typer(ingest_app, name="ingest")
console = Console()
err = Console(stderr=True)


class OutFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[item]}"), TimeElapsedColumn(), console=err, transient=True,
    )  # fmt: skip


def _print_table(t: pa.Table, title: str | None = None, fmt: OutFormat = OutFormat.table) -> None:
    if fmt is OutFormat.json:
        sys.stdout.write(json.dumps(t.to_pylist(), default=str, indent=None) + "\n")
        return
    if fmt is OutFormat.csv:
        import pyarrow.csv as pacsv

        pacsv.write_csv(t, sys.stdout.buffer)
        sys.stdout.flush()
        return
    table = Table(title=title, show_lines=False)
    for name in t.column_names:
        table.add_column(name, overflow="fold")
    for row in t.to_pylist():
        table.add_row(
            *(
                "" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v)
                for v in row.values()
            )
        )
    console.print(table)


def _ingest(pipeline: str, paths: list[Path], force: bool) -> None:
    from wattlake.pipeline import Runner
    from wattlake.registry import get_pipeline

    spec = get_pipeline(pipeline)
    runner = Runner.open()
    try:
        with _progress() as bar:
            task = bar.add_task(f"ingest {pipeline}", total=None, item="")

            def tick(item: str, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, item=item)

            run, reports = runner.ingest_files(spec, paths, force=force, progress=tick)
        summary = Table(title=f"run {run.run_id}")
        for col in ("file", "read", "loaded", "rejected", "note"):
            summary.add_column(
                col, justify="right" if col in ("read", "loaded", "rejected") else "left"
            )
        for r in reports:
            summary.add_row(
                r.source_file,
                str(r.rows_read),
                str(r.rows_loaded),
                str(r.rows_rejected),
                r.note or "",
            )
        console.print(summary)
        failed = run.failed_steps
        for s in failed:
            err.print(f"[red]{s.name} {s.target}: {s.error}")
        if any(r.rows_rejected for r in reports):
            err.print(f"rejected rows: wattlake runs {run.run_id} --rejects")
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

    Example: wattlake ingest meter-files ./exports/ LP_210095893_20150901T011608049.csv
    """
    _ingest("meter-files", paths, force)


@app.command()
def runs(
    run_id: Annotated[str | None, typer.Argument(help="Show this run's steps")] = None,
    limit: Annotated[int, typer.Option(help="How many recent runs")] = 20,
    rejects: Annotated[bool, typer.Option(help="With RUN_ID: list its rejected rows")] = False,
    format: Annotated[
        OutFormat, typer.Option("--format", "-f", help="table, csv or json")
    ] = OutFormat.table,
) -> None:
    """Recent pipeline runs with their status and row counts, or one run's steps."""
    from wattlake.engines import connect
    from wattlake.runs import RunLog

    log = RunLog(connect(get_settings().warehouse_url))
    if run_id is None:
        recent = log.recent(limit)
        if format is OutFormat.table:
            recent = recent.select(
                [
                    "run_id",
                    "pipeline",
                    "status",
                    "steps_ok",
                    "steps_failed",
                    "rows_read",
                    "rows_loaded",
                    "rows_rejected",
                ]
            )
        _print_table(recent, "recent runs", format)
    elif rejects:
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
    log.engine.close()


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="One SELECT in DuckDB's dialect")],
    format: Annotated[
        OutFormat, typer.Option("--format", "-f", help="table, csv or json (array of records)")
    ] = OutFormat.table,
) -> None:
    """Run a read-only query against the warehouse.

    Example: wattlake sql "SELECT * FROM meter_daily LIMIT 5" --format csv
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
) -> None:
    """Serve the HTTP API (OpenAPI docs at http://HOST:PORT/docs)."""
    import uvicorn

    from wattlake.api.app import create_app

    uvicorn.run(create_app(), host=host, port=port, log_level="info")


@app.command()
def demo(
    serve_api: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API after loading")
    ] = True,
    port: Annotated[int, typer.Option(help="API port")] = 8000,
) -> None:
    """Generate realistic data for every source, load it, print a summary, serve the API."""
    from wattlake.demo import run_demo

    run_demo(console, serve_api=serve_api, port=port)


@app.command()
def config() -> None:
    """Show the settings in effect (secrets hidden)."""
    s = get_settings()
    rows: dict[str, Any] = {
        "WATTLAKE_HOME": s.home, "lake": s.lake_root, "warehouse": _redact(s.warehouse_url),
        "meter timezone": s.meter_timezone, "API keys": "set" if s.api_keys else "not set",
    }  # fmt: skip
    for k, v in rows.items():
        console.print(f"[bold]{k}[/]: {v}")


def _redact(url: str) -> str:
    from urllib.parse import urlsplit

    p = urlsplit(url)
    return url.replace(f":{p.password}@", ":***@") if p.password else url


def main() -> None:
    try:
        app()
    except WattlakeError as exc:
        err.print(f"[red]error:[/] {exc.message}")
        if exc.hint:
            err.print(f"[yellow]what to do:[/] {exc.hint}")
        sys.exit(2)


if __name__ == "__main__":
    main()
