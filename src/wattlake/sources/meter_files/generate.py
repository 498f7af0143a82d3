"""Realistic LP and TOU files (both layouts) for the demo, tests and benchmarks.

Written by wattlake itself; the shapes follow the formats documented for the seed: LP files
at 15-minute steps with import/export Wh and varh, TOU layout B at 30-minute steps with streams
B1/K1/E1/Q1, TOU layout A with billing registers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

from wattlake.sources.meter_files.schema import LP, TOU_A, TOU_B

LP_TYPES = (
    ("Import Wh Total", "kwh"),
    ("Import varh Total", "kvarh"),
    ("Export Wh Total", "kwh"),
    ("Export varh Total", "kvarh"),
)
STREAMS = (
    ("B1", "Import Wh Total", "kwh"),
    ("K1", "Import varh Total", "kvarh"),
    ("E1", "Export Wh Total", "kwh"),
    ("Q1", "Export varh Total", "kvarh"),
)


def _load(t: datetime, rng: random.Random, base: float) -> float:
    """A household-ish load: night trough, morning and evening peaks, noise."""
    h = t.hour + t.minute / 60
    shape = 0.35 + 0.4 * math.exp(-((h - 8) ** 2) / 4) + 0.8 * math.exp(-((h - 19) ** 2) / 6)
    return max(0.0, base * shape * (0.85 + 0.3 * rng.random()))


def _solar(t: datetime, rng: random.Random, size: float) -> float:
    h = t.hour + t.minute / 60
    return (
        max(0.0, size * math.sin(math.pi * (h - 6) / 13) * (0.7 + 0.3 * rng.random()))
        if 6 < h < 19
        else 0.0
    )


def lp_lines(
    meter: str, plant: str, start: date, days: int, rng: random.Random, step_min: int = 15
) -> Iterator[str]:
    """Data lines of an LP file (without header)."""
    base, pv = 1.0 + 3 * rng.random(), 4 * rng.random()
    t0 = datetime(start.year, start.month, start.day)
    for dtype, units in LP_TYPES:
        for i in range(days * 24 * 60 // step_min):
            t = t0 + timedelta(minutes=step_min * (i + 1))
            load, gen = _load(t, rng, base), _solar(t, rng, pv)
            value = {
                "Import Wh Total": max(0.0, load - gen),
                "Export Wh Total": max(0.0, gen - load),
                "Import varh Total": 0.3 * load,
                "Export varh Total": 0.05 * gen,
            }[dtype]
            status = rng.choice(("", "", "", "GN"))
            yield f"{meter},{meter},{plant},{t:%d/%m/%Y %H:%M:%S},{dtype},{value:.6f},{units},{status}"


def write_lp(path: Path, meter: str, plant: str, start: date, days: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    n = 0
    with path.open("w", newline="\n") as f:
        f.write(",".join(LP.header) + "\n")
        for line in lp_lines(meter, plant, start, days, rng):
            f.write(line + "\n")
            n += 1
    return n


def write_tou_b(path: Path, meter: str, plant: str, start: date, days: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    t0 = datetime(start.year, start.month, start.day)
    n = 0
    with path.open("w", newline="\r\n") as f:  # this layout came from a Windows export
        f.write(",".join(TOU_B.header) + "\n")
        for stream, dtype, units in STREAMS:
            for i in range(days * 48):
                t = t0 + timedelta(minutes=30 * i)
                value = round(100 + 100 * rng.random(), 1)
                f.write(f"{meter},{meter},{plant},{t.day:02d}/{t.month:02d}/{t.year} {t.hour}:{t.minute:02d},A,{stream},{dtype},{value},{units}\n")  # fmt: skip
                n += 1
    return n


def write_tou_a(path: Path, meter: str, plant: str, read_at: datetime, seed: int = 0) -> int:
    rng = random.Random(seed)
    energy = 1000 + 400_000 * rng.random()
    n = 0
    with path.open("w", newline="\n") as f:
        f.write(",".join(TOU_A.header) + "\n")
        for period in ("Total", "Current", "Previous", "Billing Total"):
            for rate in ("Unified", "Rate 1"):
                demand = 0.3 * rng.random()
                when = read_at - timedelta(hours=rng.randint(1, 200))
                tmd = "30/12/1899 00:00:00" if period == "Total" else f"{when:%d/%m/%Y %H:%M:%S}"
                f.write(
                    f"{meter},{meter},{plant},{read_at:%d/%m/%Y %H:%M:%S},Export Wh Total,"
                    f"{energy:.6f},{demand:.6f},{tmd},kwh,.....R....,{period},False,3,"
                    f"01/{read_at:%m/%Y} 00:00:00,{rate}\n"
                )
                n += 1
    return n


def generate(
    folder: Path, *, meters: int = 4, days: int = 7, start: date = date(2025, 9, 1), seed: int = 0
) -> list[Path]:
    """Write LP, TOU-B and TOU-A files for ``meters`` meters into ``folder``; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths = []
    for m in range(meters):
        meter = str(210_000_000 + rng.randint(0, 9_999_999))
        plant = f"ED{rng.randint(0, 99_999_999):09d}"
        stamp = f"{start + timedelta(days=days):%Y%m%d}T{rng.randint(0, 23):02d}{rng.randint(0, 59):02d}{rng.randint(0, 59):02d}"
        lp = folder / f"LP_{meter}_{stamp}.csv"
        write_lp(lp, meter, plant, start, days, seed + m)
        # TOU exports come from other meters (billing meters), as in the real files.
        meter = str(int(meter) + 1)
        tou = folder / f"TOU_{meter}_{stamp}.csv"
        if m % 2 == 0:
            write_tou_b(tou, meter, plant, start, days, seed + m)
        else:
            write_tou_a(tou, meter, plant, datetime.combine(start + timedelta(days=days), datetime.min.time()) + timedelta(minutes=41), seed + m)  # fmt: skip
        paths += [lp, tou]
    return paths
