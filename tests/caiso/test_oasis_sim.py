"""The OASIS stand-in, checked over real HTTP against the facts and the real samples."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import time
import zipfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.caiso.conftest import (
    ALL_NODES_ZIP,
    ERROR_1000,
    RTM_DST_EXCERPT,
    SIM_RATE_S,
    sample,
)
from wattlake.sims.oasis import OasisSim, PriceModel, default_nodes, generate_csv
from wattlake.sources.caiso.schema import MARKETS, Market

HUB = "TH_NP15_GEN-APND"
PACIFIC_TZ = ZoneInfo("America/Los_Angeles")


def get(sim: OasisSim, **params: str) -> httpx.Response:
    time.sleep(SIM_RATE_S * 1.5)  # stay under the sim's rate limit
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return httpx.get(f"{sim.base_url}/SingleZip?{query}", timeout=10)


def lmp_params(market: str = "DAM", **over: str) -> dict[str, str]:
    q = MARKETS[Market(market)]
    base = {
        "resultformat": "6",
        "queryname": q.queryname,
        "version": str(q.version),
        "market_run_id": market,
        "node": HUB,
        "startdatetime": "20251102T07:00-0000",
        "enddatetime": "20251103T08:00-0000",
    }
    return base | over


def member(resp: httpx.Response) -> tuple[str, bytes]:
    zf = zipfile.ZipFile(io.BytesIO(resp.content))
    (info,) = zf.infolist()  # always exactly one member
    assert info.compress_type == zipfile.ZIP_DEFLATED and info.flag_bits & 0x08
    return info.filename, zf.read(info)


def rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def test_csv_answer_looks_like_oasis(sim: OasisSim) -> None:
    resp = get(sim, **lmp_params(node="TH_NP15_GEN-APND,TH_SP15_GEN-APND"))
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/x-zip-compressed"
    name, data = member(resp)
    assert re.fullmatch(r"20251102_20251102_PRC_LMP_DAM_\d{8}_\d\d_\d\d_\d\d_v12\.csv", name)
    assert resp.headers["content-disposition"] == f"inline; filename={name}.zip;"
    real_header = sample(ALL_NODES_ZIP)  # the real file's header, read from its zip
    with zipfile.ZipFile(io.BytesIO(real_header)) as zf, zf.open(zf.infolist()[0]) as f:
        expected = f.readline()
    assert data.split(b"\n", 1)[0] + b"\n" == expected
    assert b"\r" not in data and b'"' not in data and data.endswith(b"\n")
    table = rows(data)
    assert len(table) == 2 * 25 * 5  # 2 nodes x 25 hours x LMP/MCE/MCC/MCL/MGHG
    assert all(r["INTERVALSTARTTIME_GMT"].endswith("-00:00") for r in table)
    assert all(r["GRP_TYPE"] == "ALL_APNODES" and r["POS"] == "0" for r in table)
    assert all(re.fullmatch(r"-?\d+(\.\d{1,5})?", r["MW"]) for r in table)


def test_groups_count_series_and_dam_hours_are_shuffled(sim: OasisSim) -> None:
    params = lmp_params(startdatetime="20251101T07:00-0000", enddatetime="20251103T08:00-0000")
    _, data = member(get(sim, **params | {"node": "TH_NP15_GEN-APND,TH_ZP26_GEN-APND"}))
    groups: dict[int, set[tuple[str, str, str]]] = defaultdict(set)
    order: dict[int, list[str]] = defaultdict(list)
    previous = 0
    for r in rows(data):
        g = int(r["GROUP"])
        assert g in (previous, previous + 1)  # rows grouped, counters consecutive
        previous = g
        groups[g].add((r["OPR_DT"], r["NODE"], r["LMP_TYPE"]))
        order[g].append(r["INTERVALSTARTTIME_GMT"])
    assert all(len(series) == 1 for series in groups.values())  # one (OPR_DT, node, type) each
    assert len(groups) == 2 * 2 * 5  # 2 days x 2 nodes x 5 components
    assert sum(order[g] != sorted(order[g]) for g in order) >= len(order) - 1


def test_lmp_is_the_sum_of_components(sim: OasisSim) -> None:
    _, data = member(get(sim, **lmp_params("RTM", node="TH_SP15_GEN-APND,DLAP_SCE-APND")))
    parts: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for r in rows(data):
        parts[(r["NODE"], r["INTERVALSTARTTIME_GMT"])][r["LMP_TYPE"]] = float(r["VALUE"])
    assert len(parts) == 2 * 25 * 12
    for p in parts.values():
        assert abs(p["LMP"] - (p["MCE"] + p["MCC"] + p["MCL"] + p["MGHG"])) <= 1e-5 + 1e-9


@pytest.mark.parametrize(
    ("day_start", "day_end", "labels"),
    [
        ("20251102T07:00-0000", "20251103T08:00-0000", [1, 2, 25, *range(3, 25)]),
        ("20260308T08:00-0000", "20260309T07:00-0000", [1, 2, *range(4, 25)]),
        ("20260115T08:00-0000", "20260116T08:00-0000", list(range(1, 25))),
    ],
)
def test_dst_days_are_labelled_like_oasis(
    sim: OasisSim, day_start: str, day_end: str, labels: list[int]
) -> None:
    params = lmp_params(startdatetime=day_start, enddatetime=day_end)
    lmp = [r for r in rows(member(get(sim, **params))[1]) if r["LMP_TYPE"] == "LMP"]
    lmp.sort(key=lambda r: r["INTERVALSTARTTIME_GMT"])
    assert [int(r["OPR_HR"]) for r in lmp] == labels
    assert len({r["OPR_DT"] for r in lmp}) == 1


def test_rtm_v1_header_and_labels_match_the_real_excerpt(sim: OasisSim) -> None:
    real = sample(RTM_DST_EXCERPT).decode().splitlines()
    params = lmp_params(
        "RTM", version="1", startdatetime="20251102T08:00-0000", enddatetime="20251102T11:00-0000"
    )
    data = member(get(sim, **params))[1].decode().splitlines()
    assert data[0] == real[0]  # PRC_INTVL_LMP v1: MW, OPR_INTERVAL after the price
    fields = [ln.split(",") for ln in data[1:] if ",LMP,LMP_PRC," in ln]
    # (start, OPR_HR, OPR_INTERVAL) exactly as in the real file, e.g. 09:00Z is HE "25", 1
    real_keys = {(f[0], f[3], f[14]) for f in (ln.split(",") for ln in real[1:])}
    assert real_keys <= {(f[0], f[3], f[14]) for f in fields}
    v3 = member(get(sim, **lmp_params("RTM")))[1].split(b"\n", 1)[0].decode().split(",")
    assert v3[13] == "VALUE"
    rtpd = member(get(sim, **lmp_params("RTPD")))[1].split(b"\n", 1)[0].decode().split(",")
    assert rtpd[13] == "PRC"


def test_no_data_is_the_real_error_envelope(sim: OasisSim) -> None:
    resp = get(
        sim, **lmp_params(startdatetime="20301102T07:00-0000", enddatetime="20301103T08:00-0000")
    )
    name, xml = member(resp)
    assert resp.status_code == 200 and name.endswith("_PRC_LMP_DAM_20261101_00_00_00_v12.xml")
    stamp = re.compile(rb"<m:TimeDate>[^<]*</m:TimeDate>")
    assert stamp.sub(b"", xml) == stamp.sub(b"", sample(ERROR_1000))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"version": ""}, "1020"),
        ({"version": "7"}, "1020"),
        ({"startdatetime": "2025-11-02"}, "1002"),
        ({"queryname": "PRC_NOPE"}, "1005"),
        ({"enddatetime": "20251203T08:00-0000"}, "1004"),  # a full 31 days is refused
        ({"node": ",".join(default_nodes(11))}, "1017"),
        ({"queryname": ""}, "1011"),
        ({"market_run_id": "RTM"}, "1000"),  # PRC_LMP with RTM: "no data"
        ({"node": "NO_SUCH_NODE"}, "1000"),
        ({"startdatetime": "20200102T08:00-0000", "enddatetime": "20200103T08:00-0000"}, "1000"),
    ],
)
def test_bad_requests_get_the_oasis_error_code(
    sim: OasisSim, change: dict[str, str], code: str
) -> None:
    resp = get(sim, **lmp_params() | change)
    name, xml = member(resp)
    assert resp.status_code == 200
    assert f"<m:ERR_CODE>{code}</m:ERR_CODE>".encode() in xml
    if code != "1000":
        assert name == "INVALID_REQUEST.xml"
        assert resp.headers["content-disposition"] == "inline; filename=INVALID_REQUEST.xml.zip;"


def test_all_node_windows_are_limited(sim: OasisSim) -> None:
    params = lmp_params(
        "RTM", startdatetime="20251102T07:00-0000", enddatetime="20251102T09:00-0000"
    )
    del params["node"]
    _, xml = member(get(sim, **params | {"grp_type": "ALL_APNODES"}))
    assert b"<m:ERR_CODE>1018</m:ERR_CODE>" in xml
    _, data = member(
        get(sim, **params | {"grp_type": "ALL_APNODES", "enddatetime": "20251102T08:00-0000"})
    )
    assert {r["NODE"] for r in rows(data)} == set(sim.nodes) and len(sim.nodes) == 40


def test_calling_too_fast_gets_429_with_an_empty_body() -> None:
    with OasisSim(rate_limit_s=0.5, all_nodes_count=10) as sim, httpx.Client(timeout=10) as http:
        url = f"{sim.base_url}/SingleZip?" + "&".join(f"{k}={v}" for k, v in lmp_params().items())
        first, second = http.get(url), http.get(url)
        time.sleep(0.55)
        third = http.get(url)
    assert (first.status_code, second.status_code, third.status_code) == (200, 429, 200)
    assert second.content == b""
    assert [r.status for r in sim.requests] == [200, 429, 200]


def test_prices_are_deterministic_and_look_real() -> None:
    start, end = datetime(2025, 6, 1, 7, tzinfo=UTC), datetime(2025, 6, 8, 7, tzinfo=UTC)
    nodes = default_nodes(30)
    a = generate_csv("DAM", start, end, nodes, seed=1)
    assert a == generate_csv("DAM", start, end, nodes, seed=1)
    assert a != generate_csv("DAM", start, end, nodes, seed=2)
    m = PriceModel(1)
    hour = timedelta(hours=1)
    lmp = {
        n: [m.components(Market.DAM, n, start + i * hour)["LMP"] for i in range(168)] for n in nodes
    }
    by_hour = defaultdict(list)  # Pacific hour-of-day -> NP15 prices
    for i, v in enumerate(lmp[HUB]):
        by_hour[(start + i * hour).astimezone(PACIFIC_TZ).hour].append(v)
    mean = {h: sum(v) / len(v) for h, v in by_hour.items()}
    assert mean[19] > mean[12] * 1.3  # evening peak above the solar midday
    assert 10 < sum(lmp[HUB]) / 168 < 150
    assert lmp[HUB] != lmp["TH_SP15_GEN-APND"]  # node-specific congestion and losses
    assert all(v == 0 for v in lmp["AZPS_CRYSTAL500_NEVP_E_EIMBASE-APND"])
    spring = datetime(2025, 4, 1, 7, tzinfo=UTC)
    rt = [
        m.components(Market.RTM, HUB, spring + timedelta(minutes=5 * i))["LMP"]
        for i in range(288 * 30)
    ]
    assert min(rt) < 0 < max(rt)  # negative prices happen


def test_module_runs_as_a_server() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wattlake.sims.oasis",
            "--port",
            "0",
            "--rate-limit",
            "0.01",
            "--nodes",
            "20",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        base = re.search(r"(http://\S+)/SingleZip", line)
        assert base, line
        resp = httpx.get(f"{base.group(1)}/SingleZip?queryname=PRC_LMP", timeout=10)
        assert b"<m:ERR_CODE>1011</m:ERR_CODE>" in member(resp)[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
