"""Realistic synthetic hosting-capacity and DER files in every utility's layout (demo, tests,
benchmarks). Nothing here is copied from the sample files: ids, names and values are drawn from
distributions that resemble the published data (HC colour bands, voltage mix, DER type mix,
residential vs. community solar sizes), written with each layout's quirks (utility1's unnamed
index column and ``NULL`` tokens, utility2's BOM and ``null`` tokens, CRLF line ends, quoted
names with commas, lower-case ids).

``generate(folder)`` writes ``folder/<utility>/<utility>_<dataset>.csv`` for the five utilities
and their three data sets; ``scale`` multiplies every row count (1.0 is about the size of the
real data, 10.0 is the benchmark size).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

UTILITIES: tuple[str, ...] = ("utility1", "utility2", "coned", "cenhud", "oru")

# (low MW, high MW, colour, hex) bands of the max hosting capacity, and how common each is.
BANDS = (
    (0.0, 0.29, "BROWN", "8A5A2B"),
    (0.30, 0.49, "RED", "D7301F"),
    (0.50, 0.99, "YELLOW", "F2D33C"),
    (1.00, 1.49, "GREEN", "4DAF4A"),
    (1.50, 1.99, "TURQUOISE", "3FC1C9"),
    (2.00, 2.99, "LIGHT BLUE", "8EC9F0"),
    (3.00, 4.99, "BLUE", "2B6CB0"),
    (5.00, 10.0, "DARK BLUE", "1A2F6B"),
)
BAND_WEIGHTS = (23, 2.5, 5.5, 4.5, 14, 19, 9, 23)
PLACES: tuple[str, ...] = (
    *("Hillside", "Riverview", "Maple", "Harbor", "Ridge", "Valley", "Summit", "Meadow"),
    *("Lakeview", "Orchard", "Brookside", "Cedar", "Granite", "Willow", "Pine", "Elm"),
)
JU_INSTALLED = [
    "DER_ID",
    "SERVICE_STREET_ADDRESS",
    "DER_TYPE",
    "DER_NAMEPLATE_RATING",
    "DER_INTERCONNECTION_LOCATION",
    "INTERCONNECTION_COST",
]
JU_PLANNED = [
    "DER_TYPE",
    "DER_NAMEPLATE_RATING",
    "INVERTER_NAMEPLATE_RATING",
    "PLANNED_INSTALLATION_DATE",
    "DER_STATUS",
    "DER_STATUS_RATIONALE",
    "TOTAL_MW_FOR_SUBSTATION",
    "INTERCONNECTION_QUEUE_REQUEST_ID",
    "INTERCONNECTION_QUEUE_POSITION",
    "DER_INTERCONNECTION_LOCATION",
]
U1_TECHS = [
    "SolarPV",
    "EnergyStorageSystem",
    "Wind",
    "MicroTurbine",
    "SynchronousGenerator",
    "InductionGenerator",
    "FarmWaste",
    "FuelCell",
    "CombinedHeatandPower",
    "GasTurbine",
    "Hydro",
    "InternalCombustionEngine",
    "SteamTurbine",
    "Other",
]
# utility1 project type -> (weight, technologies it fills, kW range)
U1_TYPES: dict[str, tuple[float, tuple[str, ...], tuple[float, float]]] = {
    "RESPHOTO": (84.6, ("SolarPV",), (3, 12)),
    "NRESPHOTO": (10.2, ("SolarPV",), (20, 5000)),
    "PVESS": (2.7, ("SolarPV", "EnergyStorageSystem"), (5, 5000)),
    "RESWIND": (0.7, ("Wind",), (2, 20)),
    "CHP": (0.5, ("CombinedHeatandPower",), (60, 2000)),
    "ESS": (0.3, ("EnergyStorageSystem",), (10, 5000)),
    "HYDRO": (0.2, ("Hydro",), (100, 9000)),
    "FARMWASTE": (0.1, ("FarmWaste",), (100, 1500)),
    "FuelCell": (0.05, ("FuelCell",), (200, 2000)),
    "Transmission": (0.1, (), (0, 0)),
}
JU_TYPES = {  # JU DER type -> (weight, kW range)
    "Solar": (97.5, (3, 5000)),
    "Wind": (1.0, (2, 3000)),
    "Hydro": (0.4, (50, 9000)),
    "Natural Gas": (0.2, (50, 5000)),
    "Steam": (0.15, (100, 20000)),
    "Battery Add-On": (0.1, (5, 2000)),
    "Bio Gas": (0.1, (100, 1500)),
    "Other": (0.05, (10, 1000)),
}

Row = Sequence[object]


def _n(base: int, scale: float) -> int:
    return max(1, round(base * scale))


def _num(x: float, places: int = 2) -> str:
    """A number the way exports write it: no trailing zeros, no exponent."""
    text = f"{x:.{places}f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _mdy(day: dt.date) -> str:
    return f"{day.month}/{day.day}/{day.year}"


def _day(rng: random.Random, start: int = 2016, end: int = 2024) -> dt.date:
    first = dt.date(start, 1, 1).toordinal()
    return dt.date.fromordinal(rng.randint(first, dt.date(end, 12, 31).toordinal()))


def _hc(rng: random.Random) -> tuple[float, int]:
    """A max hosting capacity (MW) and its band index."""
    band = rng.choices(range(len(BANDS)), BAND_WEIGHTS)[0]
    low, high = BANDS[band][:2]
    return round(rng.uniform(low, high), 2), band


def _band(mw: float) -> int:
    return max(i for i, b in enumerate(BANDS) if mw >= b[0] - 1e-9)


def _kw(rng: random.Random, low: float, high: float) -> float:
    """Nameplate kW: log-uniform between low and high, rounded like real exports."""
    value = low * (high / low) ** rng.random() if low > 0 else 0.0
    return round(value, 2 if value < 100 else 0)


def _unique(rng: random.Random, count: int, make: Callable[[random.Random], str]) -> list[str]:
    """``count`` distinct ids from ``make``; at scales that exhaust its id space, ids get a
    numeric suffix rather than looping forever."""
    seen: dict[str, None] = {}
    attempts = 0
    while len(seen) < count:
        attempts += 1
        value = make(rng)
        seen.setdefault(value if attempts <= 20 * count else f"{value}{len(seen)}", None)
    return list(seen)


def _ids(rng: random.Random, start: int, count: int) -> list[int]:
    """``count`` distinct random integers from ``start`` (a range that grows with ``count``)."""
    return rng.sample(range(start, start + max(9 * start, 4 * count)), count)


def _write(
    path: Path, header: Sequence[str], rows: Iterable[Row], *, bom: bool = False, crlf: bool = True
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n" if crlf else "\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _rge_id(r: random.Random) -> str:
    return f"{r.randint(1, 140):04d}{r.choice(('RO', 'CF', 'LS', 'GV'))}{r.randint(100, 6000):04d}"


def _coned_id(r: random.Random) -> str:
    return f"{r.randint(1, 9)}{r.choice('BQRWXY')}{r.randint(1, 99):02d}"


def _cenhud_id(r: random.Random) -> str:
    return f"{r.choice('ABCDEFGHKLMNPRSTW')}{r.choice('AEHLNRW')}-{r.randint(1000, 9999)}"


def _oru_id(r: random.Random) -> str:
    return f"{r.randint(1, 80)}-{r.randint(1, 3)}-{r.randint(1, 19)}"


def _pick_feeder(rng: random.Random, feeders: Sequence[str], null: str, odd: Sequence[str]) -> str:
    roll = rng.random()
    if roll < 0.01:
        return null
    if roll < 0.015 and odd:
        return rng.choice(odd)
    return rng.choice(feeders)


# ---------------------------------------------------------------------------------------------
# utility1 (Avangrid style): segment-level circuits, wide DER files
# ---------------------------------------------------------------------------------------------


def _utility1(folder: Path, rng: random.Random, scale: float) -> list[Path]:
    feeders = _unique(rng, _n(270, scale), lambda r: str(r.randint(1100000, 4699999)))
    rge = _unique(rng, _n(120, scale), _rge_id)
    odd = ["TRANSMISSION", "T1894", "na"]
    header = [
        "",
        *("Circuits_Phase3_" + c for c in ("CIRCUIT", "NUMPHASES", "OVERUNDER", "PHASE")),
        *("NYHCPV_csv_" + c for c in ("NSECTION", "NFEEDER", "NVOLTAGE", "NMAXHC", "NMAPCOLOR")),
        *("NYHCPV_csv_" + c for c in ("FFEEDER", "FVOLTAGE", "FMAXHC", "FMINHC", "FHCADATE")),
        "NYHCPV_csv_FNOTES",
        "Shape_Length",
    ]
    rows: list[Row] = []
    section = 200_000_000
    for feeder in feeders:
        kv = rng.choice((4.8, 4.8, 12.47, 12.5, 13.2, 34.5))
        # The feeder's max HC is that of its most constrained section; others are higher.
        f_max = _hc(rng)[0]
        sections = [min(10.0, round(f_max + rng.expovariate(0.6), 2)) for _ in range(20, 460)]
        sections = sections[: rng.randint(20, 440)]
        sections[rng.randrange(len(sections))] = f_max
        note = rng.choice(("", "", "", "", "Voltage limited", "Thermal limited"))
        for s_max in sections:
            section += rng.randint(1, 120)
            low, high, color, hexa = BANDS[_band(s_max)]
            three = rng.random() < 0.7
            rows.append(
                (
                    len(rows),
                    feeder,
                    3 if three else 1,
                    rng.choice("OOOU"),
                    "ABC" if three else rng.choice("ABC"),
                    section,
                    feeder,
                    kv,
                    _num(s_max),
                    f"{low:.2f} TO {high:.2f} {color}-{hexa}",
                    feeder,
                    kv,
                    _num(f_max),
                    _num(f_max * rng.uniform(0, 0.6)),
                    "2022-10-15 00:00:00+00:00",
                    note,
                    f"{rng.uniform(0.00005, 0.002):.9f}",
                )
            )
    paths = [_write(folder / "utility1_circuits.csv", header, rows)]

    def project(ptype: str) -> tuple[str, list[str], str]:
        techs, (low, high) = U1_TYPES[ptype][1], U1_TYPES[ptype][2]
        values = dict.fromkeys(U1_TECHS, 0.0)
        for tech in techs:
            values[tech] = _kw(rng, low, high)
        total = sum(values.values())
        rating = "NULL" if not techs and rng.random() < 0.5 else _num(total)
        return rating, [_num(values[t]) for t in U1_TECHS], "Y" if len(techs) > 1 else "N"

    def circuit(installed: bool) -> str:
        if rng.random() < (0.001 if installed else 0.25):
            return "NULL"
        pool = feeders if rng.random() < 0.8 else rge
        value = _pick_feeder(rng, pool, "NULL", odd)
        return value.lower() if value.startswith("T") and rng.random() < 0.05 else value

    names, weights = list(U1_TYPES), [v[0] for v in U1_TYPES.values()]
    ids = _ids(rng, 1000, _n(13_700, scale) + _n(1_700, scale))
    installed = []
    for pid in ids[: _n(13_700, scale)]:
        ptype = rng.choices(names, weights)[0]
        rating, techs, hybrid = project(ptype)
        cesir = _num(rng.uniform(500, 9000), 4) if ptype == "NRESPHOTO" else "NULL"
        where = "NULL" if ptype == "Transmission" else circuit(True)
        row = [pid, ptype, rating, cesir, "NULL", "NULL", "NULL", where, hybrid, *techs]
        installed.append(row)
    head = "ProjectID,ProjectType,NamePlateRating,TotalChargesCESIR,TotalChargesConstruction,"
    head += "CESIR_EST,SystemUpgrade_EST,ProjectCircuitID,Hybrid"
    paths.append(
        _write(folder / "utility1_install_der.csv", [*head.split(","), *U1_TECHS], installed)
    )

    planned = []
    queue_mix = {"NRESPHOTO": 45.0, "RESPHOTO": 34.0}
    weights_planned = [queue_mix.get(n, w) for n, w in zip(names, weights, strict=True)]
    for pid in ids[_n(13_700, scale) :]:
        ptype = rng.choices(names, weights_planned)[0]
        rating, techs, hybrid = project(ptype)
        roll = rng.random()
        in_service = _mdy(_day(rng, 2023, 2024)) if roll < 0.06 else "NULL"
        in_service = "On Hold" if 0.06 <= roll < 0.065 else in_service
        done = (
            f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.0" if rng.random() < 0.7 else "NULL"
        )
        where = circuit(False)
        planned.append([ptype, rating, in_service, "NULL", pid, done, where, hybrid, *techs])
    head = "ProjectType,NamePlateRating,InServiceDate,ProjectStatus,ProjectID,CompletionDate,"
    head += "ProjectCircuitID,Hybrid"
    paths.append(
        _write(folder / "utility1_planned_der.csv", [*head.split(","), *U1_TECHS], planned)
    )
    return paths


# ---------------------------------------------------------------------------------------------
# JU-style DER files (utility2's real layout; assumed for Con Edison, Central Hudson, O&R)
# ---------------------------------------------------------------------------------------------


def _ju_ders(
    folder: Path,
    utility: str,
    rng: random.Random,
    feeders: Sequence[str],
    sizes: tuple[int, int],
    *,
    bom: bool,
    crlf: bool,
    null: str = "null",
    lower_ids: bool = False,
) -> list[Path]:
    odd = [f"36_{rng.randint(1, 40):02d}_SEG{rng.randint(1, 70):02d}" for _ in range(5)]
    types, weights = list(JU_TYPES), [v[0] for v in JU_TYPES.values()]

    def where() -> str:
        value = _pick_feeder(rng, feeders, null, odd if utility == "utility2" else [])
        return value.lower() if lower_ids and rng.random() < 0.1 else value

    def rating(kind: str) -> str:
        low, high = JU_TYPES[kind][1]
        if kind == "Solar" and rng.random() < 0.85:
            low, high = 3, 15
        return "" if rng.random() < 0.001 else _num(min(_kw(rng, low, high), 55_500))

    ids = _ids(rng, 100_000, sizes[0] + sizes[1])
    installed: list[Row] = []
    for der_id in ids[: sizes[0]]:
        kind = rng.choices(types, weights)[0]
        cost = _num(rng.uniform(1000, 600_000)) if rng.random() < 0.05 else "0"
        installed.append((der_id, null, kind, rating(kind), where(), cost))
    # Completed projects stay listed in the queue: reuse most installed ids there.
    queue_ids = ids[sizes[0] :]
    reused = rng.sample(ids[: sizes[0]], min(sizes[0], int(sizes[1] * 0.8)))
    planned: list[Row] = []
    for qid in [*reused, *queue_ids][: sizes[1]]:
        kind = rng.choices(types, weights)[0]
        at = dt.time(rng.randint(0, 23), rng.randint(0, 59))
        queued = dt.datetime.combine(_day(rng, 2016, 2023), at)
        install = queued.date() + dt.timedelta(days=rng.randint(60, 900))
        size = rating(kind)
        planned.append(
            (
                kind,
                size,
                null,
                _mdy(install) if rng.random() < 0.35 else "",
                null,
                null,
                size if rng.random() < 0.88 else "",
                qid,
                f"{_mdy(queued.date())} {queued.hour}:{queued.minute:02d}",
                where(),
            )
        )
    return [
        _write(folder / f"{utility}_install_der.csv", JU_INSTALLED, installed, bom=bom, crlf=crlf),
        _write(folder / f"{utility}_planned_der.csv", JU_PLANNED, planned, bom=bom, crlf=crlf),
    ]


def _utility2(folder: Path, rng: random.Random, scale: float) -> list[Path]:
    def make(r: random.Random) -> str:
        return f"36_{r.randint(1, 40):02d}_{r.randint(10, 9999)}{r.randint(1, 8):02d}"

    feeders = _unique(rng, _n(1_909, scale), make)
    rows: list[Row] = []
    for feeder in feeders:
        max_hc, band = _hc(rng)
        dg = rng.choice((0.0, 0.0, 0.0, round(rng.uniform(-0.7, 2.0), 2)))
        color = BANDS[band][2].lower()
        kv = rng.choices((13.2, 4.16, 4.8, 2.4), (49, 35, 16, 0.3))[0]
        min_hc = _num(max_hc * rng.uniform(0, 0.7))
        length = f"{rng.uniform(0.0002, 3.2):.9f}"
        date = "2022/10/01 00:00:00+00"
        rows.append((feeder, kv, _num(max_hc), min_hc, _num(dg), date, color, length))
    header = "Master_CDF,feeder_voltage,feeder_max_hc,feeder_min_hc,"
    header += "feeder_dg_connected_since_refresh,hca_refresh_date,color,shape_length"
    paths = [_write(folder / "utility2_circuits.csv", header.split(","), rows)]
    sizes = (_n(25_500, scale), _n(31_000, scale))
    return paths + _ju_ders(folder, "utility2", rng, feeders, sizes, bom=True, crlf=True)


# ---------------------------------------------------------------------------------------------
# Con Edison, Central Hudson, Orange & Rockland: feeder files from published field lists
# ---------------------------------------------------------------------------------------------


def _feeder_values(rng: random.Random) -> tuple[str, str, str, str]:
    max_hc = _hc(rng)[0]
    return (
        _num(max_hc),
        _num(max_hc * rng.uniform(0, 0.6)),
        _num(rng.uniform(0, 3)),
        _num(rng.uniform(0, 6)),
    )


def _coned(folder: Path, rng: random.Random, scale: float) -> list[Path]:
    feeders = _unique(rng, _n(600, scale), _coned_id)
    rows: list[Row] = []
    for feeder in feeders:
        max_hc, min_hc, queued, connected = _feeder_values(rng)
        since = "N/A" if rng.random() < 0.05 else _num(rng.uniform(0, 0.8))
        substation = f"{rng.choice(PLACES)} {rng.randint(1, 9)}"
        network = f"{rng.choice(PLACES)} Network"
        kv = rng.choice((13.0, 13.8, 27.0, 33.0))
        values = (kv, max_hc, min_hc, queued, connected, since, "10/1/2023")
        rows.append((feeder, substation, network, *values))
    header = [
        "Feeder", "Substation", "Network", "Feeder Voltage (kV)", "Maximum Hosting Capacity (MW)",
        "Minimum Hosting Capacity (MW)", "Queued Generation (MW)", "Connected Generation (MW)",
        "DG Connected Since Last HCA Refresh (MW)", "Refresh Date",
    ]  # fmt: skip
    paths = [_write(folder / "coned_circuits.csv", header, rows, crlf=False)]
    sizes = (_n(8_000, scale), _n(2_000, scale))
    ders = _ju_ders(
        folder, "coned", rng, feeders, sizes, bom=False, crlf=False, null="N/A", lower_ids=True
    )
    return paths + ders


def _cenhud(folder: Path, rng: random.Random, scale: float) -> list[Path]:
    feeders = _unique(rng, _n(350, scale), _cenhud_id)
    rows: list[Row] = []
    for feeder in feeders:
        max_hc, min_hc, _, _ = _feeder_values(rng)
        bank = f"{rng.choice(PLACES)} Bank {rng.randint(1, 3)}"
        rating = _num(rng.choice((12.5, 20, 25, 33.3, 50)))
        since = _num(rng.uniform(0, 0.6))
        kv = rng.choice((13.2, 13.2, 14.4, 34.5))
        rows.append((feeder, bank, rating, kv, max_hc, min_hc, since, "2023-04-01"))
    header = [
        "Feeder", "Substation/Bank Name", "Substation/Bank Rating (MW)", "Feeder Voltage (kV)",
        "Local Hosting Capacity (MW)", "Minimum Hosting Capacity (MW)",
        "DG Connected Since Last HCA Refresh (MW)", "Date",
    ]  # fmt: skip
    paths = [_write(folder / "cenhud_circuits.csv", header, rows)]
    sizes = (_n(6_000, scale), _n(1_500, scale))
    return paths + _ju_ders(folder, "cenhud", rng, feeders, sizes, bom=False, crlf=True)


def _oru(folder: Path, rng: random.Random, scale: float) -> list[Path]:
    feeders = _unique(rng, _n(250, scale), _oru_id)
    rows: list[Row] = []
    for feeder in feeders:
        max_hc, min_hc, queued, connected = _feeder_values(rng)
        substation = f"{rng.choice(PLACES)}, {rng.choice(('North', 'South', 'East', 'West'))}"
        kv = rng.choice((13.2, 13.2, 34.5))
        rows.append((feeder, substation, kv, max_hc, min_hc, queued, connected, "6/30/2023"))
    header = [
        "Feeder ID", "Substation", "Voltage (kV)", "Maximum Hosting Capacity (MW)",
        "Minimum Hosting Capacity (MW)", "Queued Generation (MW)", "Connected Generation (MW)",
        "HCA Date",
    ]  # fmt: skip
    paths = [_write(folder / "oru_circuits.csv", header, rows, bom=True)]
    sizes = (_n(4_000, scale), _n(1_000, scale))
    return paths + _ju_ders(folder, "oru", rng, feeders, sizes, bom=True, crlf=True)


_WRITERS: dict[str, Callable[[Path, random.Random, float], list[Path]]] = {
    "utility1": _utility1,
    "utility2": _utility2,
    "coned": _coned,
    "cenhud": _cenhud,
    "oru": _oru,
}


def generate(
    folder: Path | str,
    utilities: Sequence[str] = UTILITIES,
    scale: float = 1.0,
    seed: int = 0,
) -> list[Path]:
    """Write every data set of each utility under ``folder/<utility>/``; return the paths.

    Deterministic for a given ``seed``. ``scale`` multiplies row counts (minimum one row)."""
    unknown = [u for u in utilities if u not in _WRITERS]
    if unknown:
        raise ValueError(f"unknown utilities {unknown}; choose from {list(_WRITERS)}")
    if scale <= 0:
        raise ValueError("scale must be positive")
    root = Path(folder)
    paths: list[Path] = []
    for utility in utilities:
        rng = random.Random(f"{seed}:{utility}")
        paths += _WRITERS[utility](root / utility, rng, scale)
    return paths
