"""Fixtures for the CAISO OASIS tests: the real samples and a local OASIS stand-in."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from wattlake.parsing import FileReport
from wattlake.sims.oasis import OasisSim
from wattlake.sources.caiso.client import OasisClient
from wattlake.sources.caiso.parse import parse_oasis_zip

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "samples" / "caiso"
ALL_NODES_ZIP = "oasis_PRC_LMP_DAM_v1_ALL_APNODES_2020-01-02Z.zip"
HUBS_EXCERPT = "oasis_PRC_LMP_DAM_v1_2020-01-02Z_hubs_excerpt.csv"
RTM_DST_EXCERPT = "oasis_PRC_INTVL_LMP_RTM_v1_TH_NP15_2025-11-02_dst_excerpt.csv"
DAM_2025_EXCERPT = "oasis_PRC_LMP_DAM_v1_TH_NP15_2025-09-01_excerpt.csv"
ERROR_1000 = "oasis_error_1000_no_data.xml"
SIM_NOW = datetime(2026, 11, 1, tzinfo=UTC)  # the sim's clock: data up to here
SIM_RATE_S = 0.05


def sample(name: str) -> bytes:
    """A file from ../shared/samples/caiso, or skip the test when the samples are absent."""
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"CAISO sample {name} not present under {SAMPLES.resolve()}")
    return path.read_bytes()


def parse_bytes(data: bytes, name: str = "test") -> tuple[pa.Table, FileReport]:
    """Parse ``data`` and return (all rows, report) with rows_loaded filled like the runner."""
    report = FileReport(name)
    tables = [t for _n, t in parse_oasis_zip(io.BytesIO(data), report)]
    table = pa.concat_tables(tables) if tables else pa.table({})
    report.rows_loaded = table.num_rows
    return table, report


@pytest.fixture(scope="session")
def real_lmp() -> tuple[pa.Table, FileReport]:
    return parse_bytes(sample(ALL_NODES_ZIP), ALL_NODES_ZIP)


@pytest.fixture
def sim() -> Iterator[OasisSim]:
    with OasisSim(rate_limit_s=SIM_RATE_S, all_nodes_count=40, now=SIM_NOW) as s:
        yield s


@pytest.fixture
def client(sim: OasisSim) -> Iterator[OasisClient]:
    # twice the sim's interval, so scheduling jitter on a busy machine never trips a 429
    with OasisClient(sim.base_url, min_interval_s=2 * SIM_RATE_S, timeout=10) as c:
        yield c
