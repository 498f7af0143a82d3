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

import sys

from wattlake.cli import (  # noqa: F401 — each module registers its commands
    caiso,
    espi,
    hosting_capacity,
    meter_files,
    scada,
    system,
)
from wattlake.cli.common import app, console, err, run_app, sim_app
from wattlake.cli.green_button import register as _register_green_button
from wattlake.errors import WattlakeError
from wattlake.term import esc

__all__ = ["app", "main"]

_register_green_button(app, run_app, sim_app, console, err)


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv)
    except WattlakeError as exc:
        # One line: what went wrong, then what to do (never wrapped, so it greps whole).
        hint = f" [yellow]— {esc(exc.hint)}[/]" if exc.hint else ""
        err.print(f"[red]error:[/] {esc(exc.message)}{hint}", soft_wrap=True)
        sys.exit(2)
