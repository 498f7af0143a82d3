"""Hosting capacity and DER data from New York utilities (seed A, "ESource-Case-Study").

One shared, declarative parser: each utility's layout of each data set (circuits, installed DER,
planned DER) is a TOML file in ``formats/``. The parser turns a raw CSV into silver Arrow tables
``feeders``, ``feeder_sections`` and ``ders`` (see ``schema``); ``generate`` writes realistic
demo files in every utility's layout; the gold model is ``wattlake/models/feeder_summary.sql``.

Typical use::

    parser = parser_for("utility2_circuits.csv")   # a wattlake.parsing.Parser
    for table_name, batch in parser(stream, report):
        ...
"""

from wattlake.sources.hosting_capacity.formats import (
    DATASETS,
    FileFormat,
    load_formats,
    match_format,
)
from wattlake.sources.hosting_capacity.generate import UTILITIES, generate
from wattlake.sources.hosting_capacity.parse import (
    BoundParser,
    parse_hosting_capacity,
    parser_for,
)
from wattlake.sources.hosting_capacity.schema import (
    DER_TYPES,
    DERS,
    FEEDER_SECTIONS,
    FEEDERS,
    TABLES,
)

__all__ = [
    "DATASETS",
    "DERS",
    "DER_TYPES",
    "FEEDERS",
    "FEEDER_SECTIONS",
    "TABLES",
    "UTILITIES",
    "BoundParser",
    "FileFormat",
    "generate",
    "load_formats",
    "match_format",
    "parse_hosting_capacity",
    "parser_for",
]
