"""wattlake as a Python library: the pinned public names, their docstrings, the tables they
return (UTC, units in the names), fetching with and without a lake, and a cheap import."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import wattlake
from wattlake._facade import RejectedRowsWarning
from wattlake.config import get_settings
from wattlake.sims.oasis import OasisSim

PUBLIC = {
    "wattlake": {
        "Warehouse", "__version__", "caiso", "green_button", "hosting_capacity", "meters",
        "open", "scada",
    },
    "wattlake.caiso": {"OASIS_URL", "PRICE_COLUMNS", "get_lmp", "read_oasis_zip"},
    "wattlake.meters": {"read_meter_file"},
    "wattlake.hosting_capacity": {"TABLES", "read_folder"},
    "wattlake.warehouse": {"Warehouse", "open"},
    "wattlake.green_button": {"TABLES", "read_espi"},
    "wattlake.scada": {"get_10min"},
}  # fmt: skip
NODES = ["TH_NP15_GEN-APND", "TH_SP15_GEN-APND"]
LP = (
    "MeterPoint Code,Serial Number,Plant Code,Date/Time,Data Type,Data Value,Units,Status\n"
    "100,100,P1,01/09/2025 00:15:00,Import Wh Total,1.5,kwh,\n"
    "100,100,P1,01/09/2025 00:30:00,Import Wh Total,2.5,kwh,GN\n"
    "100,100,P1,31/02/2025 00:45:00,Import Wh Total,9,kwh,\n"
)


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_are_pinned_and_documented(module: str) -> None:
    mod = importlib.import_module(module)
    assert set(mod.__all__) == PUBLIC[module]
    for name in mod.__all__:
        obj = getattr(mod, name)
        if inspect.isfunction(obj) and not name.startswith("_"):
            doc = inspect.getdoc(obj) or ""
            assert "Parameters\n----------" in doc or not inspect.signature(obj).parameters, name
            assert "Returns\n-------" in doc, f"{module}.{name} has no numpydoc Returns"


def test_import_wattlake_stays_light() -> None:
    code = (
        "import sys, wattlake; heavy = [m for m in ('pyarrow', 'duckdb', 'pandas', 'httpx', "
        "'fastapi', 'wattlake.caiso', 'wattlake.sources') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.fixture
def no_lake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("WATTLAKE_HOME", "WATTLAKE_LAKE_URL", "WATTLAKE_WAREHOUSE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)  # no wattlake.toml here


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    h = tmp_path / "home"
    monkeypatch.setenv("WATTLAKE_HOME", str(h))
    get_settings.cache_clear()
    yield h
    get_settings.cache_clear()


def _check_lmp(t: pa.Table, days: int) -> None:
    assert t.num_rows == days * 24 * len(NODES)
    assert t.schema.field("interval_start_utc").type == pa.timestamp("us", "UTC")
    assert t.schema.field("interval_end_utc").type == pa.timestamp("us", "UTC")
    assert {"lmp_usd_per_mwh", "energy_usd_per_mwh", "congestion_usd_per_mwh"} <= set(
        t.column_names
    )
    assert "lmp" not in t.column_names
    parts = pc.add(
        pc.add(t["energy_usd_per_mwh"], t["congestion_usd_per_mwh"]), t["loss_usd_per_mwh"]
    )
    total = pc.add(parts, pc.fill_null(t["ghg_usd_per_mwh"], 0.0))
    gap = pc.max(pc.abs(pc.subtract(total, t["lmp_usd_per_mwh"]))).as_py()
    assert gap < 1e-4
    # an hour per row, from 08:00 UTC (midnight Pacific standard time) of the first day
    first = t.filter(pc.equal(t["node"], NODES[0]))["interval_start_utc"][0].as_py()
    assert first == datetime(2025, 11, 3, 8, tzinfo=UTC)


def test_get_lmp_without_a_lake_keeps_nothing(no_lake: None, tmp_path: Path) -> None:
    with OasisSim(rate_limit_s=0.0) as sim:
        t = wattlake.caiso.get_lmp(
            "2025-11-03", date(2025, 11, 5), nodes=NODES, base_url=sim.base_url, min_interval_s=0
        )
    _check_lmp(t, 2)
    assert not any(tmp_path.iterdir())  # no .wattlake home, no warehouse file


def test_get_lmp_with_a_lake_keeps_the_raw_answers(home: Path) -> None:
    with OasisSim(rate_limit_s=0.0) as sim:
        kw = {"nodes": NODES, "base_url": sim.base_url, "min_interval_s": 0}
        t = wattlake.caiso.get_lmp("2025-11-03", "2025-11-05", **kw)
        fetched = len(sim.requests)
        again = wattlake.caiso.get_lmp("2025-11-03", "2025-11-05", **kw)
        assert len(sim.requests) == fetched  # served from the lake, not fetched again
    _check_lmp(t, 2)
    assert again.equals(t)
    raw = [p for p in (home / "lake" / "bronze" / "caiso").rglob("*") if p.is_file()]
    assert len(raw) == fetched >= 1
    # the raw answer reads back to the same table
    assert wattlake.caiso.read_oasis_zip(raw[0]).equals(t)


def test_read_oasis_zip_from_disk(no_lake: None, tmp_path: Path) -> None:
    with OasisSim(rate_limit_s=0.0) as sim:
        url = (
            f"{sim.base_url}/SingleZip?queryname=PRC_LMP&market_run_id=DAM&version=12"
            "&startdatetime=20251103T08:00-0000&enddatetime=20251104T08:00-0000"
            "&node=TH_NP15_GEN-APND,TH_SP15_GEN-APND&resultformat=6"
        )
        body = httpx.get(url).content
    path = tmp_path / "answer.zip"
    path.write_bytes(body)
    t = wattlake.caiso.read_oasis_zip(path)
    _check_lmp(t, 1)


def test_read_meter_file(no_lake: None, tmp_path: Path) -> None:
    path = tmp_path / "LP_100_20250908T000000.csv"
    path.write_text(LP)
    with pytest.warns(RejectedRowsWarning, match="1 rows rejected.*bad_date"):
        t = wattlake.meters.read_meter_file(path)
    assert t.column("value").to_pylist() == [1.5, 2.5]
    # 00:15 at UTC+10 (the default meter zone) is 14:15 UTC the day before
    assert t.column("reading_utc")[0].as_py() == datetime(2025, 8, 31, 14, 15, tzinfo=UTC)
    assert t.schema.field("reading_utc").type.tz == "UTC"
    with pytest.warns(RejectedRowsWarning):
        t = wattlake.meters.read_meter_file(path, timezone="UTC")
    assert t.column("reading_utc")[0].as_py() == datetime(2025, 9, 1, 0, 15, tzinfo=UTC)
    with pytest.raises(wattlake.errors.InputError):  # type: ignore[attr-defined]
        wattlake.meters.read_meter_file(path, strict=True)


def test_read_folder_matches_the_pipeline(tmp_path: Path) -> None:
    from wattlake.pipeline import Runner
    from wattlake.sources.hosting_capacity.generate import generate
    from wattlake.sources.hosting_capacity.pipeline import landing_folder, refresh

    runner = Runner.open(get_settings().model_copy(update={"home": tmp_path / "home"}))
    folder = landing_folder(runner)
    generate(folder, scale=0.02)
    (folder / "notes.csv").write_text("not a hosting capacity file\n")
    assert refresh(runner).status in ("ok", "partial")
    with pytest.warns(RejectedRowsWarning, match="skipped notes.csv"):
        feeders = wattlake.hosting_capacity.read_folder(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedRowsWarning)
        ders = wattlake.hosting_capacity.read_folder(folder, "ders")
    stored = runner.engine.query("SELECT count(*) FROM feeders").column(0)[0].as_py()
    assert feeders.num_rows == stored
    assert {"max_hc_mw", "voltage_kv"} <= set(feeders.column_names)
    assert "nameplate_kw" in ders.column_names and ders.num_rows > 0
    runner.close()
    with pytest.raises(ValueError, match="one of"):
        wattlake.hosting_capacity.read_folder(folder, "nope")


def test_open_answers_in_arrow(home: Path) -> None:
    with OasisSim(rate_limit_s=0.0) as sim:
        wattlake.caiso.get_lmp(
            "2025-11-03", "2025-11-04", nodes=NODES, base_url=sim.base_url, min_interval_s=0
        )
    with wattlake.open() as wh:
        assert {"lmp", "lmp_daily", "runs"} <= set(wh.tables())
        daily = wh.table("lmp_daily")
        assert daily.num_rows == len(NODES)
        got = wh.sql(
            "SELECT avg(lmp) AS avg_lmp_usd_per_mwh FROM lmp WHERE node = $n", {"n": NODES[0]}
        )
        want = next(r for r in daily.to_pylist() if r["node"] == NODES[0])["avg_lmp"]
        assert got.column(0)[0].as_py() == pytest.approx(want)
        lmp = wh.table("lmp", limit=3)
        assert lmp.num_rows == 3
        assert lmp.schema.field("interval_start_utc").type.tz == "UTC"
        with pytest.raises(wattlake.errors.NotFoundError, match="lmp_daily"):  # type: ignore[attr-defined]
            wh.table("nope")


def test_read_espi(no_lake: None, tmp_path: Path) -> None:
    from wattlake.sources.espi.generate import write_feed_file

    path = tmp_path / "feed.xml"
    written = write_feed_file(path, 96 * 2 * 2, net_metering=True, first_day=date(2020, 1, 1))
    t = wattlake.green_button.read_espi(path)
    assert t.num_rows == written == 96 * 2 * 2
    assert t.schema.field("interval_start_utc").type == pa.timestamp("us", "UTC")
    # the feed's zone is UTC-8 in January: the first local midnight is 08:00 UTC
    assert pc.min(t["interval_start_utc"]).as_py() == datetime(2020, 1, 1, 8, tzinfo=UTC)
    assert set(t["flow_direction"].to_pylist()) == {1, 19}
    assert set(t["unit"].to_pylist()) == {"Wh"}
    points = wattlake.green_button.read_espi(path, "usage_points")
    assert points["usage_point_id"].to_pylist() == ["7000"]
    with pytest.raises(ValueError, match="one of"):
        wattlake.green_button.read_espi(path, "nope")
