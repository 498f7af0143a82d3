"""The meter-files pipeline: LP/TOU files → bronze → meter_reads/meter_registers → gold."""

from __future__ import annotations

from functools import partial

from wattlake.config import get_settings
from wattlake.parsing import Parser
from wattlake.pipeline import PipelineSpec
from wattlake.sources.meter_files.parse import parse_meter_file
from wattlake.sources.meter_files.schema import METER_READS, METER_REGISTERS


def parser_for(name: str) -> Parser:
    """Every meter file uses the same parser; the layout is read from the header."""
    settings = get_settings()
    return partial(
        parse_meter_file, timezone=settings.meter_timezone, encoding=settings.meter_encoding
    )


PIPELINE = PipelineSpec(
    name="meter-files",
    source="meter_files",
    tables=(METER_READS, METER_REGISTERS),
    models=("meter_daily", "meter_daily_mixed"),
    parser_for=parser_for,
    file_patterns=("*.csv", "*.CSV"),
)
