"""The Green Button Connect and OEEM datastore commands of the ``wattlake`` CLI:

    wattlake run green-button --config C    fetch what is new from Green Button Connect
    wattlake push oeem-datastore --config C upload projects and consumption to a datastore
    wattlake sim green-button|datastore     serve the Green Button / datastore stand-ins

Registered on the main app by :func:`register` (kept apart so cli.py stays small).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.table import Table


def register(
    app: typer.Typer, run_app: typer.Typer, sim_app: typer.Typer, console: Console, err: Console
) -> None:
    """Add ``run green-button``, ``push oeem-datastore`` and ``sim green-button|datastore``."""
    # One `push` group for every sink: reuse it when cli.py (or another module) made it.
    found = [g.typer_instance for g in app.registered_groups if g.name == "push"]
    push_app = found[0] if found and found[0] is not None else None
    if push_app is None:
        push_app = typer.Typer(
            help="Upload what the warehouse holds to other systems.", no_args_is_help=True
        )
        app.add_typer(push_app, name="push")

    @run_app.command("green-button")
    def run_green_button_cmd(
        config: Annotated[Path, typer.Option("--config", help="The client's TOML file")],
        usage_point: Annotated[
            list[str] | None, typer.Option(help="Only this usage point id; repeat for several")
        ] = None,
        project: Annotated[list[str] | None, typer.Option(help="Only this project id")] = None,
    ) -> None:
        """Fetch what is new from Green Button Connect My Data for one client and load it.

        Adopts raw files already in the client's storage, then per usage point asks only for data
        after what is loaded (with an overlap), writes `consumption/raw/<project>_<usage point>_<run>.xml`
        and loads it. Prints fetched / unchanged / revoked / failed per usage point; exits 1 if any
        failed.

        Example: wattlake run green-button --config clients/acme.toml --usage-point 7001
        """
        from rich.markup import escape
        from rich.progress import Progress as Bars

        from wattlake.pipeline import Runner
        from wattlake.sources.espi.config import load_config
        from wattlake.sources.espi.fetch import run_green_button

        cfg = load_config(config)
        runner = Runner.open()
        bars = Bars(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[stage]}"),
            TimeElapsedColumn(), console=err, transient=False,
        )  # fmt: skip
        tasks: dict[str, Any] = {}

        def tick(label: str, stage: str, step: int, steps: int) -> None:
            if label not in tasks:
                tasks[label] = bars.add_task(escape(label), total=steps, stage="")
            bars.update(tasks[label], completed=step, stage=stage)

        try:
            with bars:
                report = run_green_button(
                    runner, cfg, usage_points=set(usage_point or []) or None,
                    projects=set(project or []) or None, progress=tick,
                )  # fmt: skip
        finally:
            runner.close()
        table = Table(title=f"run {report.run.run_id}")
        for col in ("usage point", "status", "run", "rows", "note"):
            table.add_column(col, justify="right" if col in ("run", "rows") else "left")
        for u in report.usage_points:
            run_no = "" if u.run is None else str(u.run)
            table.add_row(escape(u.label), u.status, run_no, f"{u.rows_loaded:,}", escape(u.note))
        console.print(table)
        console.print(
            f"{report.count('fetched')} fetched, {report.count('unchanged')} unchanged, "
            f"{report.count('revoked')} revoked, {report.count('failed')} failed; "
            f"{len(report.adopted)} stored files adopted; {report.rows_loaded:,} rows loaded"
        )
        for s in report.run.failed_steps:
            err.print(f"[red]{s.name} {escape(s.target)}: {escape(s.error or '')}")
        if report.count("failed"):
            raise typer.Exit(1)

    @push_app.command("oeem-datastore")
    def push_oeem_datastore(
        config: Annotated[Path, typer.Option("--config", help="The client's TOML file")],
        projects: Annotated[
            Path | None, typer.Option(help="Project CSV: project_id, zipcode, periods, attributes")
        ] = None,
        project: Annotated[list[str] | None, typer.Option(help="Only this project id")] = None,
        force: Annotated[bool, typer.Option(help="Upload every file again (upserts)")] = False,
    ) -> None:
        """Upload projects and Green Button consumption to an OEEM datastore (sync2 upserts; each
        loaded raw file once). Exits 1 if a file failed (it is retried next time).

        Example: wattlake push oeem-datastore --config clients/acme.toml --projects projects.csv
        """
        from rich.markup import escape

        from wattlake.pipeline import Runner
        from wattlake.sinks.oeem_datastore import push
        from wattlake.sources.espi.config import load_config

        cfg = load_config(config)
        runner = Runner.open()
        try:
            report = push(runner, cfg, projects_csv=projects, projects=set(project or []) or None,
                          force=force)  # fmt: skip
        finally:
            runner.close()
        console.print(
            f"run {report.run_id}: {report.projects} projects, {len(report.files_uploaded)} files "
            f"uploaded ({report.records:,} records), {report.files_skipped} already uploaded, "
            f"{len(report.files_failed)} failed"
        )
        for key, error in report.files_failed.items():
            err.print(f"[red]{escape(key)}: {escape(error)}")
        if report.files_failed:
            raise typer.Exit(1)

    @sim_app.command("green-button")
    def sim_green_button(
        host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port (0: any free port)")] = 8002,
        rate_limit: Annotated[
            float, typer.Option(help="Seconds between requests, else 429")
        ] = 0.05,
    ) -> None:
        """Serve the Green Button Connect stand-in and its authorization service until Ctrl-C."""
        from datetime import UTC

        from wattlake.sims.green_button import GreenButtonSim, demo_customers

        now = datetime.now(UTC)
        sim = GreenButtonSim(demo_customers(now.date()), now=now, rate_limit_s=rate_limit,
                             host=host, port=port)  # fmt: skip
        sim.start()
        console.print(f"Green Button Connect: {sim.resource_url}")
        console.print(
            f"OAuth token endpoint: {sim.token_url} (client {sim.client_id}/{sim.client_secret})"
        )
        console.print(
            f"authorization service: {sim.auth_service.url} (token {sim.auth_service.token})"
        )
        sim.serve_until_interrupted()

    @sim_app.command("datastore")
    def sim_datastore(
        db: Annotated[Path, typer.Option(help="SQLite file the stand-in keeps its data in")] = Path(
            "datastore.sqlite"
        ),
        host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port (0: any free port)")] = 8003,
        token: Annotated[str, typer.Option(help="Bearer token it accepts")] = "tokstr",
    ) -> None:
        """Serve the OEEM datastore stand-in (sync routes, sync2 upserts) until Ctrl-C."""
        from wattlake.sims.datastore import DatastoreSim

        sim = DatastoreSim(db, token=token, host=host, port=port)
        console.print(f"datastore stand-in at {sim.start()}/api/v1/ (database {db}, token {token})")
        sim.serve_until_interrupted()
