"""`wattlake ingest meter-files`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wattlake.cli.common import (
    ingest_app,
    ingest_paths,
)


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
    ingest_paths("meter-files", paths, force)
