"""CAISO OASIS LMP: the silver table and the per-market query configuration.

Units and conventions
- Prices are in **$/MWh** (OASIS names the price column ``MW``, ``VALUE`` or ``PRC``).
- ``interval_start_utc`` / ``interval_end_utc`` bound a half-open interval ``[start, end)`` in UTC,
  taken from OASIS's ``INTERVALSTARTTIME_GMT`` / ``INTERVALENDTIME_GMT``. Hourly (DAM), 5-minute
  (RTM) or 15-minute (RTPD, HASP).
- ``opr_date`` is the Pacific operating (trading) date; ``opr_hour`` is the hour-ENDING label in
  Pacific prevailing time (1..24; 23 labels on the spring-forward day, where 3 is missing; on the
  fall-back day the repeated 01:00-02:00 hour is labelled 25). ``opr_hour`` is neither unique nor
  monotonic: key on ``interval_start_utc``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

import pyarrow as pa

from wattlake.tables import UTC_TS, Column, TableSpec

_PRICE_DOC = "$/MWh"

LMP = TableSpec(
    "lmp",
    (
        Column(
            "market", pa.string(), "OASIS MARKET_RUN_ID: DAM, RTM, RTPD or HASP", nullable=False
        ),
        Column("node", pa.string(), "pricing node (APNode / PNode) name, e.g. TH_NP15_GEN-APND"),
        Column("interval_start_utc", UTC_TS, "interval start, UTC, inclusive"),
        Column("interval_end_utc", UTC_TS, "interval end, UTC, exclusive"),
        Column("opr_date", pa.date32(), "Pacific operating date (OPR_DT)"),
        Column(
            "opr_hour", pa.int32(), "hour-ending in Pacific prevailing time (OPR_HR); 25 = repeat"
        ),
        Column(
            "opr_interval",
            pa.int32(),
            "interval within the hour (OPR_INTERVAL): 0 in DAM, 1..12 RTM",
        ),
        Column("lmp", pa.float64(), f"locational marginal price (LMP_TYPE LMP), {_PRICE_DOC}"),
        Column("energy", pa.float64(), f"system marginal energy component (MCE), {_PRICE_DOC}"),
        Column("congestion", pa.float64(), f"congestion component (MCC), {_PRICE_DOC}"),
        Column("loss", pa.float64(), f"marginal loss component (MCL), {_PRICE_DOC}"),
        Column(
            "ghg", pa.float64(), f"greenhouse-gas component (MGHG), {_PRICE_DOC}; null if absent"
        ),
        Column("_source_file", pa.string(), "bronze file the row was parsed from"),
    ),
    primary_key=("market", "node", "interval_start_utc"),
    partition_by="opr_date",  # the operating day of interval_start_utc
    doc=(
        "CAISO OASIS locational marginal prices, one row per (market, node, interval). "
        "lmp = energy + congestion + loss (+ ghg) to within 1e-5 $/MWh."
    ),
)


class Market(StrEnum):
    """An OASIS LMP market run (the ``market_run_id`` parameter)."""

    DAM = "DAM"  # day-ahead, hourly
    RTM = "RTM"  # real-time dispatch, 5-minute
    RTPD = "RTPD"  # fifteen-minute market (FMM), 15-minute
    HASP = "HASP"  # hour-ahead scheduling process, 15-minute


@dataclass(frozen=True, slots=True)
class MarketQuery:
    """How to ask OASIS for one market's LMPs and how its CSV looks.

    ``all_nodes_span`` is the largest window OASIS serves for ``grp_type=ALL_APNODES``
    (one operating day for DAM, one hour for the real-time markets).
    """

    market: Market
    queryname: str
    version: int
    price_column: str  # CSV price column ($/MWh despite the name "MW")
    interval: timedelta
    all_nodes_span: timedelta
    opr_interval_after_price: bool  # RT layouts put OPR_INTERVAL after the price column

    @property
    def csv_header(self) -> tuple[str, ...]:
        """The CSV header OASIS sends for this query and version."""
        head = ("INTERVALSTARTTIME_GMT", "INTERVALENDTIME_GMT", "OPR_DT", "OPR_HR")
        ids = ("NODE_ID_XML", "NODE_ID", "NODE", "MARKET_RUN_ID", "LMP_TYPE", "XML_DATA_ITEM")
        tail = ("PNODE_RESMRID", "GRP_TYPE", "POS")
        if self.opr_interval_after_price:
            return (*head, *ids, *tail, self.price_column, "OPR_INTERVAL", "GROUP")
        return (*head, "OPR_INTERVAL", *ids, *tail, self.price_column, "GROUP")


_DAY = timedelta(days=1)
_HOUR = timedelta(hours=1)

#: One entry per market (facts: caiso-oasis.md §0 items 5, 6, 8, 9, 15).
MARKETS: dict[Market, MarketQuery] = {
    Market.DAM: MarketQuery(Market.DAM, "PRC_LMP", 12, "MW", _HOUR, _DAY, False),
    Market.RTM: MarketQuery(
        Market.RTM, "PRC_INTVL_LMP", 3, "VALUE", timedelta(minutes=5), _HOUR, True
    ),
    Market.RTPD: MarketQuery(
        Market.RTPD, "PRC_RTPD_LMP", 3, "PRC", timedelta(minutes=15), _HOUR, True
    ),
    Market.HASP: MarketQuery(
        Market.HASP, "PRC_HASP_LMP", 3, "MW", timedelta(minutes=15), _HOUR, True
    ),
}

#: LMP_TYPE -> (XML_DATA_ITEM, LMP column). MGHG is optional (absent in older files).
COMPONENTS: dict[str, tuple[str, str]] = {
    "LMP": ("LMP_PRC", "lmp"),
    "MCE": ("LMP_ENE_PRC", "energy"),
    "MCC": ("LMP_CONG_PRC", "congestion"),
    "MCL": ("LMP_LOSS_PRC", "loss"),
    "MGHG": ("LMP_GHG_PRC", "ghg"),
}

#: Price column names seen across queries and versions.
PRICE_COLUMNS = ("MW", "VALUE", "PRC")

#: Trading hubs, the default nodes when none are given.
TRADING_HUBS = ("TH_NP15_GEN-APND", "TH_SP15_GEN-APND", "TH_ZP26_GEN-APND")


def market_query(market: Market | str) -> MarketQuery:
    """The query configuration for ``market`` (``"DAM"``, ``Market.RTM``, ...).

    Raises ValueError naming the valid markets when ``market`` is unknown.
    """
    try:
        return MARKETS[Market(str(market).upper())]
    except ValueError:
        valid = ", ".join(m.value for m in Market)
        raise ValueError(f"unknown CAISO market {market!r}; use one of {valid}") from None
