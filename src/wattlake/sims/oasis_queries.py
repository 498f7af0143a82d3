"""The OASIS LMP queries the stand-in serves, declared from ``shared/formats/caiso-oasis.md``
alone (never from ``wattlake.sources.caiso``), so a mistake in the client's schema shows up as
a disagreement instead of hiding on both sides.

Facts used: §0 items 5 (query, market, version, interval), 6 (price column per query and
version), 7 (LMP_TYPE / XML_DATA_ITEM pairs), 8-9 (column order) and 15 (all-node windows),
§2.3 (the headers, written out below as the doc prints them). The doc says PRC_HASP_LMP's
column order is not observed (assumed: the RTPD layout with ``MW``); version 1 of
PRC_RTPD_LMP uses ``PRC`` (atlas 2018 "prc"), of PRC_HASP_LMP ``MW``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

#: Market runs (the ``market_run_id`` parameter and the MARKET_RUN_ID column).
DAM, RTM, RTPD, HASP = "DAM", "RTM", "RTPD", "HASP"
MARKET_RUNS = (DAM, RTM, RTPD, HASP)

#: The three trading hubs (§7, intermittent-docs; the doc's node-list example).
TRADING_HUBS = ("TH_NP15_GEN-APND", "TH_SP15_GEN-APND", "TH_ZP26_GEN-APND")

#: LMP_TYPE -> XML_DATA_ITEM (§0 item 7). MGHG is optional (absent in the 2020 DAM file).
XML_DATA_ITEMS = {
    "LMP": "LMP_PRC",
    "MCE": "LMP_ENE_PRC",
    "MCC": "LMP_CONG_PRC",
    "MCL": "LMP_LOSS_PRC",
    "MGHG": "LMP_GHG_PRC",
}

# §2.3, copied as printed there.
_DAM_HEADER = (
    "INTERVALSTARTTIME_GMT,INTERVALENDTIME_GMT,OPR_DT,OPR_HR,OPR_INTERVAL,NODE_ID_XML,NODE_ID,"
    "NODE,MARKET_RUN_ID,LMP_TYPE,XML_DATA_ITEM,PNODE_RESMRID,GRP_TYPE,POS,MW,GROUP"
)
_RT_HEADER = (
    "INTERVALSTARTTIME_GMT,INTERVALENDTIME_GMT,OPR_DT,OPR_HR,NODE_ID_XML,NODE_ID,NODE,"
    "MARKET_RUN_ID,LMP_TYPE,XML_DATA_ITEM,PNODE_RESMRID,GRP_TYPE,POS,{price},OPR_INTERVAL,GROUP"
)
PRICE_COLUMNS = ("MW", "VALUE", "PRC")


def _rt(price: str) -> tuple[str, ...]:
    return tuple(_RT_HEADER.format(price=price).split(","))


@dataclass(frozen=True, slots=True)
class OasisQuery:
    """One SingleZip LMP query: its name, market run, current version, interval length, the
    longest window OASIS serves for all nodes, and the CSV header of each version it serves."""

    queryname: str
    market: str
    version: int
    interval: timedelta
    all_nodes_span: timedelta
    headers: dict[int, tuple[str, ...]]

    def header(self, version: int) -> tuple[str, ...]:
        return self.headers[version]

    def price_column(self, version: int) -> str:
        """The column holding the price ($/MWh) in this version's CSV."""
        (col,) = (c for c in self.headers[version] if c in PRICE_COLUMNS)
        return col

    def opr_interval_after_price(self, version: int) -> bool:
        h = self.headers[version]
        return h.index("OPR_INTERVAL") > h.index(self.price_column(version))


_HOUR, _DAY = timedelta(hours=1), timedelta(days=1)
_DAM_COLS = tuple(_DAM_HEADER.split(","))

#: queryname -> query, from §0 item 5 and §2.3.
QUERIES: dict[str, OasisQuery] = {
    q.queryname: q
    for q in (
        OasisQuery("PRC_LMP", DAM, 12, _HOUR, _DAY, {1: _DAM_COLS, 12: _DAM_COLS}),
        OasisQuery(
            "PRC_INTVL_LMP", RTM, 3, timedelta(minutes=5), _HOUR, {1: _rt("MW"), 3: _rt("VALUE")}
        ),
        OasisQuery(
            "PRC_RTPD_LMP", RTPD, 3, timedelta(minutes=15), _HOUR, {1: _rt("PRC"), 3: _rt("PRC")}
        ),
        OasisQuery(
            "PRC_HASP_LMP", HASP, 3, timedelta(minutes=15), _HOUR, {1: _rt("MW"), 3: _rt("MW")}
        ),
    )
}

#: market run -> its query.
BY_MARKET: dict[str, OasisQuery] = {q.market: q for q in QUERIES.values()}


def query_for(market: str) -> OasisQuery:
    """The query of a market run (``"DAM"``; any str-valued enum with that value works)."""
    try:
        return BY_MARKET[str(market)]
    except KeyError:
        raise ValueError(f"unknown market {market!r}; use one of {MARKET_RUNS}") from None
