"""CAISO OASIS locational marginal prices (LMP): DAM, RTM, RTPD and HASP.

- :mod:`.schema`: the ``lmp`` table (:data:`LMP`) and per-market query config (:data:`MARKETS`).
- :mod:`.client`: :func:`plan_chunks` (Pacific days -> OASIS-sized UTC requests) and
  :class:`OasisClient` (process-wide pacing, retries, raw zip bodies).
- :mod:`.parse`: :func:`parse_oasis_zip`, the pure parser (zip -> ``("lmp", table)`` batches).
- :mod:`.response`: zip safety checks, the OASIS error XML and its exceptions.

Facts behind the code: ``shared/formats/caiso-oasis.md``.
"""

from wattlake.sources.caiso.client import (
    DEFAULT_REAL_OASIS_URL,
    ChunkRequest,
    OasisClient,
    operating_day_utc,
    plan_chunks,
)
from wattlake.sources.caiso.parse import parse_oasis_zip
from wattlake.sources.caiso.response import (
    OasisResponseError,
    OasisTryLaterError,
    decode_error_xml,
)
from wattlake.sources.caiso.schema import LMP, MARKETS, Market, MarketQuery

__all__ = [
    "DEFAULT_REAL_OASIS_URL",
    "LMP",
    "MARKETS",
    "ChunkRequest",
    "Market",
    "MarketQuery",
    "OasisClient",
    "OasisResponseError",
    "OasisTryLaterError",
    "decode_error_xml",
    "operating_day_utc",
    "parse_oasis_zip",
    "plan_chunks",
]
