"""Pieces of the command line that are not commands: the byte progress bar, the recent-runs
table, the run log for reading, the demo's port check (kept here so cli.py stays short)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from wattlake.errors import ConfigError, WarehouseError
from wattlake.term import cell

if TYPE_CHECKING:  # pyarrow stays out of `wattlake --help`
    import pyarrow as pa

    from wattlake.runs import RunLog

Tick = Callable[[str, int, int], None]


@contextmanager
def byte_progress(err: Console, description: str, sizes: list[int]) -> Iterator[tuple[Tick, Tick]]:
    """A progress bar in bytes over files of ``sizes``: yields the per-file callback runners
    take (``item, files done, files``) and the within-file one (``item, bytes read, size``),
    so one large file moves the bar too."""
    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
        TransferSpeedColumn(), TextColumn("{task.fields[item]}", markup=False),
        TimeElapsedColumn(), console=err, transient=True,
    )  # fmt: skip
    before = [0]
    for size in sizes:
        before.append(before[-1] + size)
    state = {"files": 0}
    with bar:
        task = bar.add_task(description, total=before[-1], item="")

        def file_done(item: str, done: int, total: int) -> None:
            state["files"] = done
            bar.update(task, completed=before[min(done, len(sizes))], item=item)

        def reading(item: str, pos: int, size: int) -> None:
            bar.update(task, completed=before[state["files"]] + min(pos, size), item=item)

        yield file_done, reading


def open_run_log() -> RunLog:
    """The run log for reading: writable if possible (opening it marks dead runs failed),
    else read-only (another process holds the DuckDB file read-only, e.g. `serve --read-only`)."""
    from wattlake.config import get_settings
    from wattlake.engines import connect
    from wattlake.runs import RunLog

    s = get_settings()
    try:
        return RunLog(connect(s.warehouse_url, duckdb_memory_limit=s.duckdb_memory_limit))
    except WarehouseError:
        if not s.warehouse_url.startswith("duckdb://"):
            raise
        return RunLog(connect(s.warehouse_url, read_only=True), read_only=True)


def print_runs(console: Console, recent: pa.Table) -> None:
    """Recent runs as a table that fits 80 columns without wrapping or cutting a run id
    (csv/json have every column, including steps_ok and the error)."""
    table = Table(
        title=cell("recent runs"), box=None, pad_edge=False, collapse_padding=True,
        header_style="bold", title_justify="left",
    )  # fmt: skip
    table.add_column("run id", no_wrap=True, min_width=22)
    table.add_column("pipeline", overflow="fold")
    table.add_column("status", no_wrap=True)
    for head in ("read", "loaded", "rejected", "failed"):  # failed: steps that failed
        table.add_column(head, justify="right", overflow="fold")
    for r in recent.to_pylist():
        table.add_row(*map(cell, (
            r["run_id"], r["pipeline"], r["status"], r["rows_read"], r["rows_loaded"],
            r["rows_rejected"], r["steps_failed"],
        )))  # fmt: skip
    console.print(table, soft_wrap=False)


def check_port_free(host: str, port: int) -> None:
    """Raise ConfigError if nothing could listen on ``host:port`` now (as uvicorn would)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot serve on {host}:{port}: {exc.strerror or exc}",
                hint="pass --port with a free port, stop what listens there, or use --no-serve",
            ) from exc
