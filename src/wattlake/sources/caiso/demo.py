"""The CAISO part of `wattlake demo`: the OASIS stand-in serves a week of day-ahead prices for
a set of nodes, the pipeline fetches them over HTTP like it would from OASIS, and a few daily
figures are printed. Run again, the week is already in bronze and nothing is fetched."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from rich.console import Console

from wattlake.pipeline import Runner
from wattlake.sims.oasis import OasisSim
from wattlake.sources.caiso.pipeline import backfill
from wattlake.term import esc

NODES = (
    "TH_NP15_GEN-APND",
    "TH_SP15_GEN-APND",
    "TH_ZP26_GEN-APND",
    "DLAP_PGAE-APND",
    "DLAP_SCE-APND",
    "DLAP_SDGE-APND",
)
RATE_S = 0.01


def demo_week(today: date | None = None) -> tuple[date, date]:
    """The last seven complete Pacific operating days: ``[start, end)``."""
    end = today or datetime.now(ZoneInfo("America/Los_Angeles")).date()
    return end - timedelta(days=7), end


def run(runner: Runner, console: Console) -> list[str]:
    """Returns example API paths for the loaded prices."""
    start, end = demo_week()
    with OasisSim(rate_limit_s=RATE_S, all_nodes_count=len(NODES)) as sim:
        result = backfill(
            runner, start, end, "DAM", NODES, base_url=sim.base_url, min_interval_s=2 * RATE_S
        )
    console.print(
        f"[bold]CAISO LMP[/] (OASIS stand-in at {esc(sim.base_url)}): DAM {start}..{end - timedelta(1)}"
        f", {len(NODES)} nodes: {result.fetched} requests, {result.rows_loaded:,} intervals "
        f"loaded, {result.skipped} windows already in bronze (run {esc(result.run.run_id)})"
    )
    daily = runner.engine.query(
        "SELECT node, opr_date, round(avg_lmp, 2) AS avg, round(min_lmp, 2) AS min, "
        "round(max_lmp, 2) AS max, round(on_peak_avg_lmp, 2) AS on_peak, "
        "round(off_peak_avg_lmp, 2) AS off_peak FROM lmp_daily WHERE market = 'DAM' "
        "AND node = $node AND opr_date >= $start AND opr_date < $end ORDER BY opr_date",
        {"node": NODES[0], "start": start, "end": end},
    )
    for row in daily.to_pylist()[:4]:
        on_peak = "-" if row["on_peak"] is None else row["on_peak"]
        console.print(
            f"  {row['node']} {row['opr_date']}: avg {row['avg']} min {row['min']} "
            f"max {row['max']} on-peak {on_peak} off-peak {row['off_peak']} $/MWh",
            markup=False,
        )
    last = end - timedelta(days=1)
    return [
        f"/v1/lmp/daily?node={NODES[0]}&node={NODES[1]}&market=DAM&start={start}&end={last}",
        f"/v1/lmp?node={NODES[0]}&market=DAM&start={last}&end={last}&format=csv",
        f"/lmp/mean/{NODES[0]}/monday",
    ]
