"""A real API server on an ephemeral port over demo data, and headless Chromium to look at it.

Chromium and chromedriver come from the system packages (``apt-get install chromium
chromium-driver``); without them the browser tests skip with the reason, except under
``CI=true`` where they fail.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tests._support import IN_CI, serve_app
from wattlake.config import Settings
from wattlake.pipeline import Runner

#: Days of CAISO prices loaded before the demo week.
YEAR_DAYS = 365
#: Green Button demo feed: first local day and days.
GB_FIRST_DAY = date(2025, 6, 1)
GB_DAYS = 90
#: The SCADA pipeline is on this branch (its dashboard page is tested only then).
HAS_SCADA = importlib.util.find_spec("wattlake.sources.scada") is not None
#: Wind SCADA: a month of 1-minute data of one turbine.
SCADA_START = date(2024, 5, 1)
SCADA_DAYS = 31
SCADA_TURBINE = "WTG02"
#: A rejected row whose raw text is markup: the runs page must show it as text.
HOSTILE = "<img src=x onerror=\"document.title='pwned'\">,<b>bold</b>"


@dataclass
class Served:
    base: str
    runner: Runner
    home: Path


def _load_demo(runner: Runner) -> None:
    from wattlake.sources.caiso import demo as caiso_demo
    from wattlake.sources.hosting_capacity import demo as hc_demo
    from wattlake.sources.meter_files import demo as meter_demo

    quiet = Console(file=open("/dev/null", "w"))  # noqa: SIM115 - closed with the test process
    meter_demo.run(runner, quiet)
    hc_demo.run(runner, quiet)
    caiso_demo.run(runner, quiet)
    # a year of day-ahead prices before the demo week: the pages must draw a year quickly
    from wattlake.sims.oasis import OasisSim
    from wattlake.sources.caiso.pipeline import backfill

    start, _ = caiso_demo.demo_week()
    with OasisSim(rate_limit_s=0.0, all_nodes_count=len(caiso_demo.NODES)) as sim:
        year = backfill(
            runner, start - timedelta(days=YEAR_DAYS), start, "DAM", caiso_demo.NODES,
            base_url=sim.base_url, min_interval_s=0,
        )  # fmt: skip
    assert year.failed == 0 and year.rows_loaded > YEAR_DAYS * 23 * len(caiso_demo.NODES)
    # Green Button: two net-metered usage points, 15-minute readings over GB_DAYS days
    from wattlake.sources.espi.generate import write_feed_file
    from wattlake.sources.espi.pipeline import ingest as ingest_espi

    feed = runner.settings.home / "gb" / "feed.xml"
    feed.parent.mkdir(parents=True)
    write_feed_file(feed, 96 * GB_DAYS * 2 * 2, usage_points=2, net_metering=True,
                    first_day=GB_FIRST_DAY)  # fmt: skip
    ingest_espi(runner, [feed])
    # Wind SCADA: a month of one turbine, fetched from the source stand-in
    if not HAS_SCADA:
        return _load_bad_file(runner)
    from wattlake.sims.scada_source import ScadaSourceSim
    from wattlake.sources.scada.pipeline import plan, run_days

    days = [SCADA_START + timedelta(days=i) for i in range(SCADA_DAYS)]
    with ScadaSourceSim(turbines=2, start=SCADA_START, days=SCADA_DAYS) as scada:
        got = run_days(runner, plan(days, turbines=[SCADA_TURBINE]), base_url=scada.base_url)
    assert got.failed == 0
    _load_bad_file(runner)


def _load_bad_file(runner: Runner) -> None:
    from wattlake.registry import get_pipeline

    bad = runner.settings.home / "bad" / "LP_999_20250908T000000.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "MeterPoint Code,Serial Number,Plant Code,Date/Time,Data Type,Data Value,Units,Status\n"
        f"{HOSTILE}\n"
    )
    runner.ingest_files(get_pipeline("meter-files"), [bad])


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from wattlake.api.app import create_app

    home = tmp_path_factory.mktemp("ui-home")
    runner = Runner.open(Settings(home=home))
    _load_demo(runner)
    try:
        with serve_app(create_app(runner)) as url:
            yield Served(url, runner, home)
    finally:
        runner.close()


def browser_missing_reason() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (uv sync --group dev)"
    for exe in ("chromium", "chromedriver"):
        if not shutil.which(exe):
            return f"{exe} not found on PATH (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    reason = browser_missing_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"CI requires a headless browser: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "chromium"
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
        "--window-size=1280,1400", "--no-first-run", "--disable-extensions",
        "--proxy-server=direct://", "--proxy-bypass-list=*",
    ):  # fmt: skip
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=shutil.which("chromedriver") or "chromedriver")
    driver = webdriver.Chrome(options=opts, service=service)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
