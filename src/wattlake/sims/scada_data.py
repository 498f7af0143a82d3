"""Synthetic 1-minute wind-turbine SCADA for the Fonte stand-in (seed-systems.md §C.3).

The original filled its source table with uniform noise. This generator keeps the table and the
period (10 days from 2024-05-20, one row a minute) but makes the values behave like a turbine:

- **Wind speed** (m/s): Weibull(k=2.0, c=8.5) marginal built from two correlated Gaussian wind
  components (``(X² + Y²)/2`` is Exp(1) when X, Y are unit normals, and ``c·E^(1/k)`` is
  Weibull). Each component is a site-wide AR(1) process (6 h correlation, shared by every
  turbine of the farm) mixed with a turbine's own (40 min), so turbines are correlated but not
  equal. A diurnal factor peaks mid-afternoon, minute turbulence (intensity 8 %, 3 min
  correlation) and short gusts (1–4 min, +25–70 %, about one every 3 h) ride on top.
- **Power** (kW): the binned power curve ``POWER_CURVE`` of a 2 MW-class turbine (cut-in 3 m/s,
  rated 2,000 kW from 13 m/s, cut-out 25 m/s, restart below 22 m/s) interpolated linearly, as
  IEC 61400-12-1 curves are given; ±2 % noise in partial load (capped at rated), ±0.3 % at
  rated; exactly 0 when idle (below cut-in or stopped after a cut-out).
- **Ambient temperature** (°C): a seasonal level for the day of year, a daily cycle (±4 °C,
  warmest at 15:00), a slow weather anomaly (AR(1), 24 h) and sensor noise.
- **Faults**: scattered missing minutes (0.2 %) and communication outages (5–45 min, about one
  every 3 days per turbine) are rows that do not exist; a stuck anemometer (30 min–4 h, about one
  every 4 days) repeats its last value while power goes on following the real wind; a stuck
  temperature sensor now and then.

Values are rounded like SCADA exports (wind 0.01 m/s, power 0.1 kW, temperature 0.1 °C).
Timestamps are naive, on a plain clock by default, or in the local wall time of a zone (with its
DST gaps and repeats, see :func:`timestamps`). Everything depends only on (seed, start, days,
zone, turbine index): turbine ``i``'s data does not
change with the number of turbines. The maths is vectorised (AR(1) by blocks), so a year of a
turbine takes well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

COLUMNS = ("id", "timestamp", "wind_speed", "power", "ambient_temperature")
VALUE_COLUMNS = ("wind_speed", "power", "ambient_temperature")
DEFAULT_START = datetime(2024, 5, 20)
DEFAULT_DAYS = 10
DEFAULT_TURBINE = "WTG01"  # turbine_names(n)[0]: served from the original data table

# (wind speed m/s, electrical power kW): a 2 MW-class curve in 1 m/s bins (air density 1.225).
POWER_CURVE: tuple[tuple[float, float], ...] = (
    (0.0, 0.0), (2.99, 0.0), (3.0, 22.0), (4.0, 88.0), (5.0, 196.0), (6.0, 354.0),
    (7.0, 568.0), (8.0, 846.0), (9.0, 1183.0), (10.0, 1531.0), (11.0, 1803.0),
    (12.0, 1955.0), (13.0, 2000.0), (25.0, 2000.0),
)  # fmt: skip
CUT_IN, RATED_SPEED, CUT_OUT, RESTART = 3.0, 13.0, 25.0, 22.0
RATED_KW = 2000.0
WEIBULL_K, WEIBULL_C = 2.0, 8.5

_TABLE_SCHEMA = pa.schema(
    [
        ("id", pa.int32()),
        ("timestamp", pa.timestamp("us")),
        ("wind_speed", pa.float64()),
        ("power", pa.float64()),
        ("ambient_temperature", pa.float64()),
    ]
)


def turbine_names(n: int) -> list[str]:
    """``WTG01`` … ``WTGnn``; the first is the default turbine (the original ``data`` table)."""
    if n < 1:
        raise ValueError("at least one turbine")
    return [f"WTG{i:02d}" for i in range(1, n + 1)]


def power_curve(v: np.ndarray) -> np.ndarray:
    """Power (kW) on the curve for wind speeds ``v`` (0 below cut-in and from cut-out on)."""
    xs = np.array([p[0] for p in POWER_CURVE])
    ys = np.array([p[1] for p in POWER_CURVE])
    p: np.ndarray = np.interp(v, xs, ys)
    p[(v < CUT_IN) | (v >= CUT_OUT)] = 0.0
    return p


def ar1(rng: np.random.Generator, n: int, tau_min: float, block: int = 64) -> np.ndarray:
    """A stationary unit-variance AR(1) series with correlation time ``tau_min`` steps.

    x[t] = φ·x[t-1] + √(1-φ²)·e[t], computed block by block: inside a block the recursion is a
    scaled cumulative sum (φ^-j stays small for block ≪ τ), the carry crosses blocks.
    """
    phi = float(np.exp(-1.0 / tau_min))
    nb = -(-n // block)
    e = rng.standard_normal(nb * block).reshape(nb, block) * np.sqrt(1.0 - phi * phi)
    j = np.arange(block)
    inner = np.cumsum(e * phi ** (-j), axis=1) * phi**j
    decay = phi ** (j + 1)
    out = np.empty_like(inner)
    carry = rng.standard_normal()
    for b in range(nb):
        out[b] = inner[b] + decay * carry
        carry = out[b, -1]
    series: np.ndarray = out.reshape(-1)[:n]
    return series


def _episodes(
    rng: np.random.Generator, n: int, per_day: float, lo: int, hi: int
) -> list[tuple[int, int]]:
    """Random (start, end) minute spans: Poisson count, uniform starts, lengths in [lo, hi]."""
    count = rng.poisson(per_day * n / 1440)
    starts = rng.integers(0, n, size=count)
    lengths = rng.integers(lo, hi + 1, size=count)
    return [(int(s), min(n, int(s + ln))) for s, ln in zip(starts, lengths, strict=True)]


@dataclass(frozen=True)
class Generated:
    """One turbine's rows (already without the missing minutes) and what was injected."""

    table: pa.Table  # timestamp, wind_speed, power, ambient_temperature (no id)
    missing: int  # minutes dropped
    stuck_wind: list[tuple[int, int]]  # minute spans where wind_speed is frozen
    stuck_temperature: list[tuple[int, int]]


def timestamps(start: datetime, days: int, zone: str | None = None) -> np.ndarray:
    """The minutes of ``days`` days from ``start`` as naive ``datetime64[us]``.

    Without ``zone`` a plain clock (1,440 minutes a day). With an IANA ``zone`` the minutes run
    on the real (UTC) time line and are written in local wall time, as a SCADA logging local
    time does: the spring-forward day has 1,380 of them (its missing hour skipped), the
    fall-back day 1,500 (its repeated hour written twice).
    """
    t0 = np.datetime64(start.replace(tzinfo=None), "us")
    if zone is None:
        return t0 + np.arange(days * 1440).astype("timedelta64[m]")
    tz = ZoneInfo(zone)
    first = start.replace(tzinfo=tz).astimezone(UTC)
    last = (start + timedelta(days=days)).replace(tzinfo=tz).astimezone(UTC)
    n = int((last - first).total_seconds() // 60)
    utc = np.datetime64(first.replace(tzinfo=None), "us") + np.arange(n).astype("timedelta64[m]")
    aware = pa.array(utc, pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us", tz=zone))
    local: np.ndarray = pc.local_timestamp(aware).to_numpy(zero_copy_only=False)
    return local


def generate_turbine(
    seed: int,
    index: int,
    start: datetime = DEFAULT_START,
    days: int = DEFAULT_DAYS,
    zone: str | None = None,
) -> Generated:
    """1-minute rows for turbine ``index`` (0 = default) of the farm ``seed``; ``zone``: see
    :func:`timestamps`."""
    ts = timestamps(start, days, zone)
    n = len(ts)
    day = ts.astype("datetime64[D]")
    hour = (ts - day).astype("timedelta64[s]").astype(np.int64) / 3600.0
    doy = (day - day.astype("datetime64[Y]")).astype(np.int64) + 1.0
    site = np.random.default_rng([seed, 0, 0])
    own = np.random.default_rng([seed, 1, index])
    # wind: two Gaussian components, 80 % site-wide and 20 % own, unit variance each
    wx = np.sqrt(0.8) * ar1(site, n, 360.0) + np.sqrt(0.2) * ar1(own, n, 40.0)
    wy = np.sqrt(0.8) * ar1(site, n, 360.0) + np.sqrt(0.2) * ar1(own, n, 40.0)
    base = WEIBULL_C * ((wx * wx + wy * wy) / 2.0) ** (1.0 / WEIBULL_K)
    diurnal = 1.0 + 0.12 * np.sin(2 * np.pi * (hour - 9.0) / 24.0)  # peak at 15:00
    wind = base * diurnal * (1.0 + 0.08 * ar1(own, n, 3.0))
    for s, e in _episodes(own, n, 8.0, 1, 4):  # gusts
        wind[s:e] *= 1.0 + own.uniform(0.25, 0.7)
    wind = np.maximum(wind, 0.0)

    # power with cut-out hysteresis: stop above CUT_OUT, run again once below RESTART
    event = np.where(wind >= CUT_OUT, 1, np.where(wind < RESTART, -1, 0))
    idx = np.where(event != 0, np.arange(n), -1)
    last = np.maximum.accumulate(idx)
    stopped = (last >= 0) & (event[np.maximum(last, 0)] == 1)
    curve = power_curve(wind)
    noise = own.standard_normal(n)
    partial = np.minimum(curve * (1 + 0.02 * noise), RATED_KW)  # the controller caps power
    power = np.where(curve >= RATED_KW, RATED_KW * (1 + 0.003 * noise), partial)
    power = np.where(stopped | (curve <= 0), 0.0, np.maximum(power, 0.0))

    # temperature: season + daily cycle + weather + noise
    season = 11.0 - 9.0 * np.cos(2 * np.pi * (doy - 20.0) / 365.25)
    daily = 4.0 * np.sin(2 * np.pi * (hour - 9.0) / 24.0)
    temp = season + daily + 2.5 * ar1(site, n, 1440.0) + 0.1 * own.standard_normal(n)

    wind_r, power_r, temp_r = np.round(wind, 2), np.round(power, 1), np.round(temp, 1)
    stuck_wind = _episodes(own, n, 0.25, 30, 240)
    for s, e in stuck_wind:
        wind_r[s:e] = wind_r[s]
    stuck_temp = _episodes(own, n, 0.1, 60, 360)
    for s, e in stuck_temp:
        temp_r[s:e] = temp_r[s]

    keep = own.random(n) >= 0.002
    for s, e in _episodes(own, n, 1 / 3, 5, 45):
        keep[s:e] = False
    table = pa.table(
        {
            "timestamp": pa.array(ts[keep], pa.timestamp("us")),
            "wind_speed": wind_r[keep],
            "power": power_r[keep],
            "ambient_temperature": temp_r[keep],
        }
    )
    return Generated(table, int(n - keep.sum()), stuck_wind, stuck_temp)


def with_ids(table: pa.Table) -> pa.Table:
    """The source table's shape: ``id`` 1…n in row order, then the four value columns."""
    ids = pa.array(np.arange(1, table.num_rows + 1, dtype=np.int32))
    cols = [table.column(c).cast(_TABLE_SCHEMA.field(c).type) for c in COLUMNS[1:]]
    return pa.Table.from_arrays([ids, *cols], schema=_TABLE_SCHEMA)
