"""`wattlake ingest espi` (Green Button downloads)."""

from __future__ import annotations

from typing import Annotated

import typer

from wattlake.cli.common import (
    ingest_app,
    print_file_reports,
    progress_bar,
)


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

    from wattlake.pipeline import Runner
    from wattlake.sources.espi.pipeline import ingest

    runner = Runner.open()
    try:
        with progress_bar("ingest green-button") as tick:
            run, reports = ingest(
                runner, paths, zone=zone, custodian=custodian, force=force, progress=tick
            )
        print_file_reports(run, reports)
    finally:
        runner.close()
