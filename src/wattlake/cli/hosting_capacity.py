"""`wattlake ingest|run hosting-capacity`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from wattlake.cli.common import (
    console,
    err,
    ingest_app,
    ingest_paths,
    progress_bar,
    run_app,
)
from wattlake.term import cell, esc


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
    ingest_paths("hosting-capacity", paths, force)


@run_app.command("hosting-capacity")
def run_hosting_capacity(
    force: Annotated[bool, typer.Option(help="Reload every file even if unchanged")] = False,
) -> None:
    """Refresh from `$WATTLAKE_HOME/landing/hosting_capacity/<utility>/`: new or changed files
    load (replacing their earlier rows), unchanged files are skipped, removed files' rows go.

    Prints what each layer did per data set; exits 1 if a step failed.
    """
    from wattlake.pipeline import Runner
    from wattlake.sources.hosting_capacity.pipeline import refresh

    runner = Runner.open()
    try:
        with progress_bar("run hosting-capacity") as tick:
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
