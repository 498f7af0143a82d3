"""`wattlake ingest|run caiso-lmp`, `wattlake sim oasis`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from wattlake.cli.common import (
    console,
    ingest_app,
    ingest_paths,
    progress_bar,
    report_failures,
    run_app,
    sim_app,
)
from wattlake.errors import WattlakeError


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
    ingest_paths("caiso-lmp", paths, force)


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
        with progress_bar(f"caiso-lmp {market.value}") as tick:
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
    report_failures(run, rejected=bool(result.rows_rejected))


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
