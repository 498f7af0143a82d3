"""The OASIS stand-in and the client declare the queries independently (the sim from the
formats doc, the client in ``sources.caiso.schema``); these tests check that they agree, and
that the sim never imports our source, so a schema mistake cannot hide on both sides."""

from __future__ import annotations

import ast
import csv
import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from wattlake.sims import oasis_queries as simq
from wattlake.sims.oasis import OasisSim
from wattlake.sources.caiso.schema import COMPONENTS, MARKETS, PRICE_COLUMNS, TRADING_HUBS, Market

SIMS = Path(__file__).resolve().parents[2] / "src" / "wattlake" / "sims"


def test_sim_modules_never_import_a_source() -> None:
    for path in sorted(SIMS.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                assert not name.startswith("wattlake.sources"), f"{path.name} imports {name}"


def test_same_markets_queries_and_versions() -> None:
    assert {m.value for m in Market} == set(simq.MARKET_RUNS)
    assert {q.queryname for q in MARKETS.values()} == set(simq.QUERIES)
    for market, ours in MARKETS.items():
        theirs = simq.query_for(market.value)
        assert ours.queryname == theirs.queryname, market
        assert ours.version == theirs.version, market
        assert ours.version in theirs.headers, market
        assert ours.interval == theirs.interval, market
        assert ours.all_nodes_span == theirs.all_nodes_span, market


@pytest.mark.parametrize("market", [m.value for m in Market])
def test_same_csv_header_and_price_column(market: str) -> None:
    ours, theirs = MARKETS[Market(market)], simq.query_for(market)
    assert ours.csv_header == theirs.header(ours.version)
    assert ours.price_column == theirs.price_column(ours.version)
    assert ours.opr_interval_after_price == theirs.opr_interval_after_price(ours.version)


def test_same_components_hubs_and_price_columns() -> None:
    assert {k: v[0] for k, v in COMPONENTS.items()} == simq.XML_DATA_ITEMS
    assert tuple(TRADING_HUBS) == simq.TRADING_HUBS
    every_price_column = {
        q.price_column(v) for q in simq.QUERIES.values() for v in q.headers
    }  # what the sim can send
    assert every_price_column <= set(PRICE_COLUMNS)


@pytest.mark.parametrize("market", [m.value for m in Market])
def test_client_parses_what_the_sim_serves(market: str) -> None:
    """A request built from the client's declaration is accepted by the sim (not an error
    XML) and answered with the header the client expects."""
    from wattlake.sources.caiso.client import OasisClient

    start = datetime(2026, 2, 10, 8, tzinfo=UTC)
    with (
        OasisSim(
            rate_limit_s=0.0, all_nodes_count=12, now=datetime(2026, 11, 1, tzinfo=UTC)
        ) as sim,
        OasisClient(sim.base_url, min_interval_s=0.0, timeout=10) as client,
    ):
        q = MARKETS[Market(market)]
        table = client.get_lmp(
            start.date(), start.date() + timedelta(days=1), Market(market), nodes=[TRADING_HUBS[0]]
        )
        assert table.num_rows > 0
        last = sim.requests[-1]
        assert last.status == 200 and last.outcome == "csv", last
        assert last.params["queryname"] == q.queryname and last.params["version"] == str(q.version)
        _outcome, _headers, body = sim.answer(last.params)
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        text = zf.read(zf.infolist()[0]).decode()
    assert tuple(next(csv.reader(io.StringIO(text)))) == q.csv_header
