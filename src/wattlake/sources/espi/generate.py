"""Synthetic Green Button feeds (benchmarks, demos, tests), written as a stream.

The layout follows PG&E's Connect batch feeds (LocalTimeParameters, ReadingType, UsagePoint,
MeterReading, then one IntervalBlock per local day, every reading with a ReadingQuality),
with Atom as the default namespace and ``espi:`` for the resources. Electricity is in Wh with
multiplier -3; ``net_metering`` adds a reverse (flowDirection 19) channel with daytime export;
``gas`` makes daily therm readings with multiplier -8. Values are deterministic.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")
BASE = "https://utility.example/DataCustodian/espi/1_1/resource"


def _day_starts(first: date, zone: ZoneInfo) -> tuple[int, int]:
    """(UTC epoch of local midnight of ``first``, of the next day)."""
    a = datetime(first.year, first.month, first.day, tzinfo=zone)
    b = datetime.combine(first + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return int(a.timestamp()), int(b.timestamp())


def _value(up: int, i: int, interval_s: int, export: bool) -> int:
    hour = (i * interval_s // 3600) % 24
    if export:
        sun = max(0.0, math.sin((hour - 6) / 12 * math.pi))
        return int(sun * 900_000 * interval_s / 3600)
    base = 300_000 + 250_000 * math.sin((hour - 14) / 24 * 2 * math.pi) + (i * 7919 + up) % 90_000
    return int(base * interval_s / 3600)


def write_feed(
    out: BinaryIO,
    readings: int,
    *,
    usage_points: int = 1,
    interval_s: int = 900,
    first_day: date = date(2020, 1, 1),
    net_metering: bool = False,
    gas: bool = False,
    subscription: str = "5001",
) -> int:
    """Write a feed with about ``readings`` interval readings in total (whole local days, spread
    over ``usage_points``); returns the number written."""
    if gas:
        interval_s = 86400
    channels = 2 if net_metering and not gas else 1
    per_day = 86400 // interval_s
    days = max(1, readings // (per_day * usage_points * channels))
    w = out.write
    w(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    w(b'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">\n')
    w(
        f"<id>urn:uuid:wattlake-generated-{subscription}</id><title>Generated Green Button</title>\n".encode()
    )
    w(
        f'<entry><link rel="self" href="{BASE}/LocalTimeParameters/1"/><content>'
        "<espi:LocalTimeParameters><espi:dstEndRule>B40E2000</espi:dstEndRule>"
        "<espi:dstOffset>3600</espi:dstOffset><espi:dstStartRule>360E2000</espi:dstStartRule>"
        "<espi:tzOffset>-28800</espi:tzOffset></espi:LocalTimeParameters></content></entry>\n".encode()
    )
    uom, p10, commodity, kind = (169, -8, 7, 1) if gas else (72, -3, 1, 0)
    flows = [1, 19][:channels]
    for flow in flows:
        w(
            f'<entry><link rel="self" href="{BASE}/ReadingType/{flow}"/><content><espi:ReadingType>'
            f"<espi:accumulationBehaviour>4</espi:accumulationBehaviour><espi:commodity>{commodity}</espi:commodity>"
            f"<espi:dataQualifier>12</espi:dataQualifier><espi:defaultQuality>17</espi:defaultQuality>"
            f"<espi:flowDirection>{flow}</espi:flowDirection><espi:intervalLength>{interval_s}</espi:intervalLength>"
            f"<espi:kind>12</espi:kind><espi:powerOfTenMultiplier>{p10}</espi:powerOfTenMultiplier>"
            f"<espi:uom>{uom}</espi:uom></espi:ReadingType></content></entry>\n".encode()
        )
    written = 0
    for u in range(usage_points):
        up = f"{BASE}/Subscription/{subscription}/UsagePoint/{7000 + u}"
        w(
            f'<entry><link rel="up" href="{BASE}/Subscription/{subscription}/UsagePoint"/>'
            f'<link rel="self" href="{up}"/><link rel="related" href="{BASE}/LocalTimeParameters/1"/>'
            f"<content><espi:UsagePoint><espi:ServiceCategory><espi:kind>{kind}</espi:kind>"
            "</espi:ServiceCategory><espi:status>1</espi:status></espi:UsagePoint></content></entry>\n".encode()
        )
        for flow in flows:
            mr = f"{up}/MeterReading/{flow}"
            w(
                f'<entry><link rel="self" href="{mr}"/><link rel="related" href="{BASE}/ReadingType/{flow}"/>'
                "<content><espi:MeterReading/></content></entry>\n".encode()
            )
            i = 0
            for d in range(days):
                day = first_day + timedelta(days=d)
                a, b = _day_starts(day, PACIFIC)
                if gas:
                    a, b = a + 1, b + 1  # PG&E gas days start one second after midnight
                parts = [
                    f'<entry><link rel="up" href="{mr}/IntervalBlock"/>'
                    f'<link rel="self" href="{mr}/IntervalBlock/{a}"/><content><espi:IntervalBlock>'
                    f"<espi:interval><espi:duration>{b - a}</espi:duration><espi:start>{a}</espi:start>"
                    "</espi:interval>"
                ]
                for t in range(a, b, interval_s):
                    v = _value(u, i, interval_s, flow == 19)
                    if gas:
                        v = 100_000_000 + (i * 7919 + u) % 250_000_000
                    parts.append(
                        "<espi:IntervalReading><espi:ReadingQuality><espi:quality>19</espi:quality>"
                        f"</espi:ReadingQuality><espi:timePeriod><espi:duration>{interval_s}</espi:duration>"
                        f"<espi:start>{t}</espi:start></espi:timePeriod><espi:value>{v}</espi:value>"
                        "</espi:IntervalReading>"
                    )
                    i += 1
                parts.append("</espi:IntervalBlock></content></entry>\n")
                w("".join(parts).encode())
                written += len(parts) - 2
    w(b"</feed>\n")
    return written


def write_feed_file(path: Path, readings: int, **kwargs: object) -> int:
    with path.open("wb") as fh:
        return write_feed(fh, readings, **kwargs)  # type: ignore[arg-type]
