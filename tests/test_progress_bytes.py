"""One large file moves the progress bar: the runner reports bytes read within a file, and
`wattlake ingest` shows a byte bar, not `0/?` (issue 7, item 18)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from wattlake.lake import Lake
from wattlake.pipeline import Runner
from wattlake.registry import get_pipeline
from wattlake.sources.meter_files.schema import LP


def big_lp(path: Path, rows: int) -> Path:
    """An LP file of ``rows`` valid quarter-hour readings of one meter (unique keys)."""
    start = datetime(2000, 1, 1)
    with path.open("w") as f:
        f.write(",".join(LP.header) + "\n")
        for i in range(rows):
            t = start + timedelta(minutes=15 * i)
            f.write(f"5,5,P,{t:%d/%m/%Y %H:%M:%S},Import Wh Total,{i % 7}.5,kwh,\n")
    return path


def test_bytes_are_reported_while_one_large_file_loads(tmp_path: Path) -> None:
    from wattlake.config import Settings
    from wattlake.engines import connect

    f = big_lp(tmp_path / "LP_big.csv", 30_000)
    size = f.stat().st_size
    runner = Runner(
        connect("duckdb:///:memory:"), Lake(str(tmp_path / "lake")), Settings(home=tmp_path)
    )
    seen: list[tuple[str, int, int]] = []
    runner.on_bytes = lambda key, pos, total: seen.append((key, pos, total))
    _, (report,) = runner.ingest_files(get_pipeline("meter-files"), [f])
    runner.close()
    assert report.rows_loaded == 30_000 and report.rows_rejected == 0
    assert {k for k, _, _ in seen} == {"LP_big.csv"} and {t for _, _, t in seen} == {size}
    positions = [p for _, p, _ in seen]
    assert positions[-1] == size
    assert len({p for p in positions if 0 < p < size}) >= 1  # moved before the end
