"""The ESPI parser on the ten real Green Button files, hostile XML and generated feeds."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from tests._support import samples
from wattlake.errors import HostileXMLError, InputError
from wattlake.parsing import FileReport
from wattlake.sources.espi.generate import write_feed
from wattlake.sources.espi.parse import parse_bytes, parse_espi

ESPI_FILES = [
    "gba_openespi_electric_15min.xml", "gba_sample_electric_hourly_9days_cost.xml",
    "gba_sdk_batch_three_usagepoints_15min.xml", "gba_sdk_gas_monthly.xml",
    "malformed_gas_provider_feed.xml", "opower_gas_billing_periods.xml",
    "pge_cmd_electric_hourly_netmetering.xml", "pge_cmd_gas_daily.xml",
    "pge_cmd_subscription_usagepoint_list.xml", "sdge_dmd_electric_hourly.xml",
]  # fmt: skip


def parse_sample(name: str, **kw: object) -> tuple[FileReport, dict[str, pa.Table]]:
    return parse_bytes(samples("espi", name).read_bytes(), source_file=name, **kw)


def rows(tables: dict[str, pa.Table], name: str) -> list[dict[str, object]]:
    return tables[name].to_pylist() if name in tables else []


@pytest.mark.parametrize("name", ESPI_FILES)
def test_every_sample_parses_and_balances(name: str) -> None:
    report, tables = parse_sample(name)
    loaded = sum(t.num_rows for t in tables.values())
    assert report.rows_read == loaded + report.rows_rejected
    assert tables["usage_points"].num_rows >= 1


def test_pge_net_metering_forward_and_reverse_in_wh() -> None:
    report, t = parse_sample("pge_cmd_electric_hourly_netmetering.xml")
    ir = rows(t, "interval_reads")
    by_flow = Counter((r["flow_direction"], r["meter_reading_id"]) for r in ir)
    assert by_flow == {(1, "DEF"): 313, (19, "ABC"): 123}
    assert {(r["unit"], r["power_of_ten"], r["duration_s"]) for r in ir} == {("Wh", -3, 3600)}
    keys = {(r["reading_type_id"], r["interval_start_utc"]) for r in ir}
    assert len(keys) == len(ir)  # repeated entries counted once
    first = min((r for r in ir if r["flow_direction"] == 1), key=lambda r: r["interval_start_utc"])
    # eemeter's fixture expectation: first forward value 0.2286 kWh on 2012-05-02 07:00 UTC
    assert first["interval_start_utc"].isoformat() == "2012-05-02T07:00:00+00:00"
    assert first["raw_value"] == 228600 and first["value"] == pytest.approx(228.6)
    assert str(first["local_start"]) == "2012-05-02 00:00:00"  # PDT from LocalTimeParameters
    assert report.note and "repeated entries read once" in report.note
    assert len(rows(t, "usage_points")) == 1 and rows(t, "usage_points")[0]["service_kind"] == 0
    summaries = rows(t, "usage_summaries")
    assert summaries and all(s["currency"] == 840 for s in summaries)
    bill = next(s for s in summaries if s["billing_start_utc"].timestamp() == 1358496000)
    assert bill["bill_last_period"] == pytest.approx(58.33)


def test_pge_fall_back_day_keeps_both_1am_hours() -> None:
    _, t = parse_sample("pge_cmd_electric_hourly_netmetering.xml")
    day = [r for r in rows(t, "interval_reads") if r["flow_direction"] == 1
           and str(r["local_start"]).startswith("2015-11-01")]  # fmt: skip
    assert len(day) == 25
    ones = [r for r in day if str(r["local_start"]).startswith("2015-11-01 01:")]
    assert len(ones) == 2 and {r["utc_offset_s"] for r in ones} == {-25200, -28800}


def test_pge_gas_in_therms_with_minus_8() -> None:
    _, t = parse_sample("pge_cmd_gas_daily.xml")
    ir = rows(t, "interval_reads")
    assert len(ir) == 2
    assert {(r["unit"], r["power_of_ten"], r["service_kind"], r["commodity"]) for r in ir} == {
        ("therm", -8, 1, 7)
    }
    r = next(r for r in ir if r["raw_value"] == 103513077)
    assert r["value"] == pytest.approx(1.03513077)
    assert r["interval_start_utc"].timestamp() == 1336028401  # 07:00:01 UTC


def test_sdk_three_usage_points_relative_links() -> None:
    report, t = parse_sample(
        "gba_sdk_batch_three_usagepoints_15min.xml", zone="America/Los_Angeles"
    )
    assert len(rows(t, "usage_points")) == 3
    mrs = rows(t, "meter_readings")
    assert len(mrs) == 4 and all(m["interval_count"] == 96 for m in mrs)
    ir = rows(t, "interval_reads")
    per = Counter((r["usage_point_id"], r["meter_reading_id"]) for r in ir)
    assert sorted(per.values()) == [96, 96, 96, 96]
    assert rows(t, "usage_points")[0]["href"].endswith("RetailCustomer/4299914/UsagePoint/4284792")
    assert t["interval_reads"].column("custodian")[0].as_py() == "agreatutility.com"
    assert "America/Los_Angeles" in (report.note or "")


def test_malformed_gas_feed_loads_the_sound_and_rejects_the_rest() -> None:
    report, t = parse_sample("malformed_gas_provider_feed.xml")
    assert report.rows_read == sum(x.num_rows for x in t.values()) + report.rows_rejected
    rules = Counter(r.rule for r in report.rejects)
    assert rules == {"duplicate_interval": 35, "empty_content": 1}
    assert len(rows(t, "interval_reads")) == 1  # 36 readings share one start: one key
    assert "power_of_ten=0 (missing)" in (report.note or "")
    assert "sign suspect" in (report.note or "")


def test_gba_cost_and_quality_codes() -> None:
    _, t = parse_sample("gba_sample_electric_hourly_9days_cost.xml")
    first = min(rows(t, "interval_reads"), key=lambda r: r["interval_start_utc"])
    assert first["cost"] == pytest.approx(0.00819) and first["raw_value"] == 273
    assert str(first["local_start"]) == "2014-01-01 00:00:00"
    _, t = parse_sample("gba_openespi_electric_15min.xml")
    ir = sorted(rows(t, "interval_reads"), key=lambda r: r["interval_start_utc"])
    assert len(ir) == 1340
    assert ir[0]["quality"] == "8" and ir[0]["estimated"] is True
    assert ir[1]["quality"] == "7" and ir[1]["estimated"] is False


def test_opower_billing_periods_without_up_links() -> None:
    _, t = parse_sample("opower_gas_billing_periods.xml", zone="America/New_York")
    ir = rows(t, "interval_reads")
    assert len(ir) == 35 and {r["usage_point_id"] for r in ir} == {"NET_USAGE"}
    assert {r["unit"] for r in ir} == {"therm"}
    rt = rows(t, "reading_types")[0]
    assert rt["commodity"] == 7 and "from the service kind" in rt["derived"]


ENTRY_ORDER = """<?xml version="1.0"?>
<a:feed xmlns:a="http://www.w3.org/2005/Atom" xml:base="https://u.example/espi/1_1/resource/">
 <a:entry><a:link rel="up" href="UsagePoint/9/MeterReading/m/IntervalBlock"/>
  <a:content><x:IntervalBlock xmlns:x="http://naesb.org/espi"><x:IntervalReading>
   <x:timePeriod><x:duration>3600</x:duration><x:start>1700000000</x:start></x:timePeriod>
   <x:value>5</x:value></x:IntervalReading>
   <x:IntervalReading><x:value>6</x:value></x:IntervalReading></x:IntervalBlock>
   <q:Foreign xmlns:q="urn:other">ignored</q:Foreign></a:content></a:entry>
 <a:entry><a:link href="ReadingType/r" rel="self"/><a:content>
  <ReadingType xmlns="http://naesb.org/espi"><powerOfTenMultiplier>3</powerOfTenMultiplier>
  <uom>72</uom><flowDirection>19</flowDirection></ReadingType></a:content></a:entry>
 <a:entry><a:link rel="related" href="/espi/1_1/resource/ReadingType/r"/>
  <a:link rel="self" href="UsagePoint/9/MeterReading/m"/>
  <a:content><MeterReading xmlns="http://naesb.org/espi"/></a:content></a:entry>
 <a:entry><a:link rel="self" href="UsagePoint/9"/><a:content>
  <UsagePoint xmlns="http://naesb.org/espi"><ServiceCategory><kind>0</kind></ServiceCategory>
  </UsagePoint></a:content></a:entry>
</a:feed>"""


def test_any_entry_order_any_prefix_and_missing_fields() -> None:
    report, t = parse_bytes(ENTRY_ORDER.encode(), zone="Europe/Paris", custodian="acme")
    ir = rows(t, "interval_reads")
    assert len(ir) == 1 and ir[0]["value"] == 5000 and ir[0]["flow_direction"] == 19
    assert ir[0]["custodian"] == "acme" and ir[0]["usage_point_id"] == "9"
    assert str(ir[0]["local_start"]) == "2023-11-14 23:13:20"  # Paris, UTC+1
    assert [(r.rule, r.field) for r in report.rejects] == [("missing_field", "timePeriod/start")]
    assert "Foreign" in (report.note or "")


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE feed [ <!ENTITY xxe SYSTEM "file://%s"> ]>
<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&xxe;</title><content/></entry></feed>"""


def laughs() -> bytes:
    ents = "".join(f'<!ENTITY l{i} "' + f"&l{i - 1};" * 10 + '">' for i in range(1, 10))
    return (
        '<?xml version="1.0"?><!DOCTYPE z [<!ENTITY l0 "lol">' + ents + "]>"
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&l9;</title></entry></feed>'
    ).encode()


@pytest.mark.parametrize("kind", ["xxe", "laughs", "late-doctype"])
def test_hostile_xml_refused_fast(kind: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    data = {
        "xxe": XXE % str(secret).encode(),
        "laughs": laughs(),
        # a DOCTYPE after 64 KiB of comments: past the byte sniffer, caught by the parser
        "late-doctype": b'<?xml version="1.0"?><!--' + b"x" * 70_000 + b"-->"
        + laughs().split(b"?>", 1)[1],
    }[kind]  # fmt: skip
    t0 = time.perf_counter()
    with pytest.raises(InputError) as exc:
        parse_bytes(data)
    assert (
        time.perf_counter() - t0 < 5
    )  # an expansion would run for minutes; a refusal is immediate
    assert "TOP-SECRET-MARKER" not in str(exc.value)
    assert kind == "late-doctype" or isinstance(exc.value, HostileXMLError)


def test_hostile_xml_through_the_cli_no_traceback(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    (tmp_path / "xxe.xml").write_bytes(XXE % str(secret).encode())
    (tmp_path / "laughs.xml").write_bytes(laughs())
    env = {"WATTLAKE_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "wattlake.cli", "ingest", "espi", str(tmp_path / "xxe.xml"),
         str(tmp_path / "laughs.xml")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert out.count("refused: the file declares a DTD") >= 2
    assert "Traceback" not in out and "TOP-SECRET-MARKER" not in out


def test_not_xml_is_a_clear_input_error() -> None:
    with pytest.raises(InputError, match="not well-formed XML"):
        parse_bytes(b"<feed xmlns='http://www.w3.org/2005/Atom'><entry></feed>")
    with pytest.raises(InputError, match="no Atom feed or entry"):
        parse_bytes(b"<html><body>login</body></html>")


def test_empty_feed_and_lone_entry() -> None:
    report, tables = parse_bytes(
        b'<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:x</id><title>t</title></feed>'
    )
    assert tables == {} and report.rows_read == 0 and "without entries" in (report.note or "")
    lone = (
        b'<entry xmlns="http://www.w3.org/2005/Atom"><link rel="self" href="UsagePoint/7"/>'
        b'<content><UsagePoint xmlns="http://naesb.org/espi"><ServiceCategory><kind>1</kind>'
        b"</ServiceCategory></UsagePoint></content></entry>"
    )
    report, tables = parse_bytes(lone)
    assert [(r["usage_point_id"], r["service"]) for r in rows(tables, "usage_points")] == [
        ("7", "gas")
    ]


def test_generated_feed_streams_in_batches_with_net_metering() -> None:
    buf = io.BytesIO()
    n = write_feed(buf, 20_000, net_metering=True, first_day=date(2021, 3, 13))
    report = FileReport("gen.xml")
    batches = [
        (name, t.num_rows)
        for name, t in parse_espi(io.BytesIO(buf.getvalue()), report, batch_rows=2000)
    ]
    ir = sum(k for name, k in batches if name == "interval_reads")
    assert ir == n and report.rows_rejected == 0
    assert max(k for name, k in batches if name == "interval_reads") <= 2000 + 96
    # the spring-forward day (2021-03-14) has 92 quarter hours per channel
    assert n % 96 != 0


def test_gas_generated_day_starts_one_second_after_midnight() -> None:
    buf = io.BytesIO()
    write_feed(buf, 3, gas=True, first_day=date(2021, 1, 1))
    _, t = parse_bytes(buf.getvalue())
    ir = rows(t, "interval_reads")
    assert [str(r["local_start"]) for r in ir][:1] == ["2021-01-01 00:00:01"]
    assert {r["unit"] for r in ir} == {"therm"}


MISALIGNED = """<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom">
 <entry><link rel="self" href="UsagePoint/1"/><content>
  <UsagePoint xmlns="http://naesb.org/espi"><ServiceCategory><kind>0</kind></ServiceCategory>
  </UsagePoint></content></entry>
 <entry><link rel="self" href="ReadingType/1"/><content>
  <ReadingType xmlns="http://naesb.org/espi"><uom>72</uom></ReadingType></content></entry>
 <entry><link rel="self" href="UsagePoint/1/MeterReading/1"/>
  <link rel="related" href="ReadingType/1"/><content>
  <MeterReading xmlns="http://naesb.org/espi"/></content></entry>
 <entry><link rel="up" href="UsagePoint/1/MeterReading/1/IntervalBlock"/><content>
  <IntervalBlock xmlns="http://naesb.org/espi">
   <IntervalReading><value>1</value><value>2</value>
    <timePeriod><duration>900</duration><start>1600000000</start></timePeriod></IntervalReading>
   <IntervalReading><timePeriod><duration>900</duration><start>1600000900</start></timePeriod>
    <ReadingQuality><quality>8</quality></ReadingQuality>
    <ReadingQuality><quality>9</quality></ReadingQuality></IntervalReading>
  </IntervalBlock></content></entry>
</feed>"""


def test_schema_invalid_readings_never_shift_values_between_readings() -> None:
    # equal totals (2 values, 2 starts, 2 durations, 2 qualities) but not one per reading
    report, t = parse_bytes(MISALIGNED.encode(), zone="UTC")
    ir = rows(t, "interval_reads")
    assert ir == []
    assert [(r.rule, r.field) for r in report.rejects] == [
        ("duplicate_field", "value"),
        ("missing_field", "value"),
    ]


def test_depth_and_text_size_limits() -> None:
    head = b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><content>'
    deep = head + b"<x>" * 5000 + b"</x>" * 5000 + b"</content></entry></feed>"
    with pytest.raises(InputError, match="depth"):
        parse_bytes(deep)
    huge = head + b"<t>" + b"a" * 12_000_000 + b"</t></content></entry></feed>"
    with pytest.raises(InputError, match="too long"):
        parse_bytes(huge)
    report = FileReport("f.xml")
    with pytest.raises(InputError, match="larger than 1000 bytes"):
        list(parse_espi(io.BytesIO(deep), report, max_bytes=1000))


def test_other_reading_children_are_read_not_dropped() -> None:
    tou = MISALIGNED.split("<IntervalBlock", 1)[0] + (
        '<IntervalBlock xmlns="http://naesb.org/espi">'
        + "".join(
            f"<IntervalReading><timePeriod><duration>900</duration><start>{1600000000 + 900 * i}"
            f"</start></timePeriod><value>{i}</value><tou>{i % 3}</tou></IntervalReading>"
            for i in range(4)
        )
        + "</IntervalBlock></content></entry></feed>"
    )
    report, t = parse_bytes(tou.encode(), zone="UTC")
    ir = sorted(rows(t, "interval_reads"), key=lambda r: r["raw_value"])
    assert [(r["raw_value"], r["tou"]) for r in ir] == [(0, 0), (1, 1), (2, 2), (3, 0)]
    assert report.rows_rejected == 0
