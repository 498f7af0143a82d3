"""The meter-files part of `wattlake demo`: generate files, load them, show a few figures."""

from __future__ import annotations

from rich.console import Console

from wattlake.pipeline import Runner
from wattlake.registry import get_pipeline
from wattlake.sources.meter_files.generate import generate
from wattlake.term import esc


def run(runner: Runner, console: Console) -> list[str]:
    """Returns example API paths for the loaded data."""
    folder = runner.settings.landing_dir("meter_files") / "demo"
    files = sorted(folder.glob("*.csv")) or generate(folder)
    run, reports = runner.ingest_files(get_pipeline("meter-files"), files)
    loaded = sum(r.rows_loaded for r in reports)
    skipped = sum(r.skipped for r in reports)
    console.print(
        f"[bold]meter files[/]: {len(files)} files, {loaded:,} rows loaded, "
        f"{sum(r.rows_rejected for r in reports)} rejected, {skipped} unchanged (run {esc(run.run_id)})"
    )
    daily = runner.engine.query(
        "SELECT meter_code, local_date, data_type, round(min_value, 3) AS min, "
        "round(max_value, 3) AS max, round(avg_value, 3) AS avg, n_readings FROM meter_daily "
        "WHERE data_type = 'Import Wh Total' ORDER BY meter_code, local_date LIMIT 5"
    )
    for row in daily.to_pylist():
        console.print(
            f"  {row['meter_code']} {row['local_date']} {row['data_type']}: "
            f"min {row['min']} max {row['max']} avg {row['avg']} ({row['n_readings']} readings)",
            markup=False,
        )
    first = runner.engine.query(
        "SELECT meter_code, serial_code, local_date FROM meter_daily_mixed ORDER BY id LIMIT 1"
    ).to_pylist()
    if not first:
        return []
    m = first[0]
    d = m["local_date"]
    return [
        f"/v1/meters/{m['meter_code']}/daily?start={d}&end={d}",
        f"/v1/meters/{m['meter_code']}/daily?format=csv",
        f"/get-data?meter_code={m['meter_code']}&serial_code={m['serial_code']}"
        f"&date_time={d:%d}%2F{d:%m}%2F{d:%Y}",
    ]
