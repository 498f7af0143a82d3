"""What every command shares: the typer apps, the consoles, output formats, the progress bar
and the ingest loop."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from wattlake.cli.support import byte_progress
from wattlake.term import cell, esc, visible

if TYPE_CHECKING:  # heavy imports stay out of `wattlake --help` (tests/test_cli_imports.py)
    import pyarrow as pa

    from wattlake.config import Settings
    from wattlake.parsing import FileReport
    from wattlake.runs import Run


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
def progress_bar(description: str) -> Iterator[Callable[[str, int, int], None]]:
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


def _visible_text(t: pa.Table) -> pa.Table:
    """``t`` with the control characters of its text columns shown as escapes (term.visible)."""
    import pyarrow as pa

    for i, field in enumerate(t.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            values = [None if v is None else visible(v) for v in t.column(i).to_pylist()]
            t = t.set_column(i, field, pa.array(values, field.type))
    return t


def print_table(t: pa.Table, title: str | None = None, fmt: OutFormat = OutFormat.table) -> None:
    if fmt is OutFormat.json:
        sys.stdout.write(json.dumps(t.to_pylist(), default=str, indent=None) + "\n")
        return
    if fmt is OutFormat.csv:
        import pyarrow.csv as pacsv

        from wattlake.csvsafe import neutralise_formulas

        # As the API's CSV: formulas quoted (the file may open in a spreadsheet); on a
        # terminal, control characters shown, not run. --format json keeps every value as is.
        t = neutralise_formulas(t)
        pacsv.write_csv(t if not sys.stdout.isatty() else _visible_text(t), sys.stdout.buffer)
        sys.stdout.flush()
        return
    table = Table(title=None if title is None else cell(title), show_lines=False)
    for name in t.column_names:
        table.add_column(cell(name), overflow="fold")
    for row in t.to_pylist():
        table.add_row(*(cell(v) for v in row.values()))
    console.print(table)


def ingest_paths(pipeline: str, paths: list[Path], force: bool) -> None:
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
        print_file_reports(run, reports)
    finally:
        runner.close()


def print_file_reports(run: Run, reports: Sequence[FileReport]) -> None:
    """One row per file (read, loaded, rejected, note), then :func:`report_failures`."""
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
    report_failures(run, rejected=any(r.rows_rejected for r in reports))


def report_failures(run: Run, *, rejected: bool = False) -> None:
    """Print the run's failed steps and where its rejected rows are; exit 1 if a step failed."""
    for s in run.failed_steps:
        err.print(f"[red]{esc(s.name)} {esc(s.target)}: {esc(s.error or '')}")
    if rejected:
        err.print(f"rejected rows: wattlake runs {esc(run.run_id)} --rejects")
    if run.failed_steps:
        raise typer.Exit(1)
