"""`wattlake runs|sql|serve|demo|orchestrate|config`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from wattlake.cli.common import (
    OutFormat,
    app,
    console,
    err,
    get_settings,
    print_table,
)
from wattlake.cli.support import check_port_free, open_run_log, print_runs
from wattlake.redact import redact_url
from wattlake.term import esc


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
                print_table(recent, "recent runs", format)
            return
        if not log.exists(run_id):
            raise NotFoundError(
                f"no run {run_id!r} in the warehouse", hint="`wattlake runs` lists recent run ids"
            )
        if rejects:
            print_table(
                log.engine.query(
                    "SELECT source_file, line, field, rule, raw FROM rejects WHERE run_id = $id "
                    "ORDER BY source_file, seq LIMIT $limit",
                    {"id": run_id, "limit": limit},
                ),
                f"rejects of {run_id}",
                format,
            )
        else:
            print_table(log.steps(run_id), f"steps of {run_id}", format)
    finally:
        log.engine.close()


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="One SELECT in DuckDB's dialect")],
    format: Annotated[
        OutFormat,
        typer.Option(
            "--format",
            "-f",
            help="table, csv (text cells starting with = + - @ quoted, as the API's CSV) "
            "or json (array of records, values as stored)",
        ),
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
        print_table(engine.query(query), None, format)
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
        "WATTLAKE_HOME": s.home, "lake": s.lake_root, "warehouse": redact_url(s.warehouse_url),
        "meter timezone": s.meter_timezone, "API keys": "set" if s.api_keys else "not set",
        "SCADA source": s.scada_source_url, "SCADA timezone": s.scada_timezone,
        "SCADA target": redact_url(s.scada_target) if s.scada_target else "not set",
    }  # fmt: skip
    for k, v in rows.items():
        console.print(f"[bold]{k}[/]: {esc(v)}")
