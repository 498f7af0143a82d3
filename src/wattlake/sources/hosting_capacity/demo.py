"""The hosting-capacity part of `wattlake demo`: generate files in every utility's layout into
the landing folder (unless it already has files), refresh, show a few figures."""

from __future__ import annotations

from urllib.parse import quote

from rich.console import Console

from wattlake.pipeline import Runner
from wattlake.sources.hosting_capacity.generate import generate
from wattlake.sources.hosting_capacity.pipeline import landing_folder, refresh
from wattlake.term import esc

DEMO_SCALE = 0.5  # half the size of the real data sets: about 80k rows, loads in about a second


def run(runner: Runner, console: Console) -> list[str]:
    """Returns example API paths for the loaded data."""
    folder = landing_folder(runner)
    if not any(folder.rglob("*.csv")):
        generate(folder, scale=DEMO_SCALE)
    report = refresh(runner)
    silver = report.layers.silver
    console.print(
        f"[bold]hosting capacity[/]: {len(report.datasets)} data sets, "
        f"{silver.rows_loaded:,} rows loaded, {silver.rows_rejected} rejected, "
        f"{report.layers.bronze.unchanged} files unchanged (run {esc(report.run_id)}, {report.status})"
    )
    per_utility = runner.engine.query(
        "SELECT utility, count(*) AS feeders, count(*) FILTER (WHERE max_hc_mw > 5) AS over_5mw, "
        "round(avg(max_hc_mw), 2) AS avg_hc FROM feeders GROUP BY utility ORDER BY utility"
    )
    for row in per_utility.to_pylist():
        console.print(
            f"  {row['utility']}: {row['feeders']:,} feeders, {row['over_5mw']:,} with max HC "
            f"> 5 MW, average max HC {row['avg_hc']} MW",
            markup=False,
        )
    busiest = runner.engine.query(
        "SELECT feeder_uid, native_feeder_id, sum(installed_count) AS installed, "
        "sum(planned_count) AS planned FROM feeder_summary WHERE has_hosting_capacity "
        "GROUP BY feeder_uid, native_feeder_id ORDER BY installed DESC, feeder_uid LIMIT 1"
    ).to_pylist()
    if not busiest:
        return []
    f = busiest[0]
    uid, native = quote(f["feeder_uid"], safe=":"), quote(f["native_feeder_id"], safe="")
    console.print(
        f"  most installed DER: {f['feeder_uid']} ({f['installed']} installed, "
        f"{f['planned']} planned)",
        markup=False,
    )
    return [
        "/v1/feeders?min_max_hc_mw=5&limit=5",
        f"/v1/feeders/{uid}",
        f"/v1/feeders/{uid}/ders?status=installed&format=csv",
        "/getFeeders?maxHostingCapacity=9.9",
        f"/getDERsForFeeder?feederID={native}",
    ]
