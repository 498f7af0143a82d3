"""Green Button (ESPI) Atom feeds → silver tables, streaming.

``parse_espi(stream, report, *, zone=None, custodian=None)`` reads a feed with lxml
``iterparse`` (no DTD, no entities, no network, libxml2's default size and depth limits, and
our own byte limit), one Atom ``entry`` at a time, and frees each entry once read, so memory
does not grow with the file. Resources are tied together by their Atom links (``self``, ``up``,
``related``) resolved against ``xml:base``, never by prefix, position or entry order
(see :mod:`.links`); repeated entries (same ``self``) are read once. IntervalBlocks are read
column-wise (:mod:`.blocks`) and leave as ``interval_reads`` batches as soon as their
MeterReading, ReadingType, UsagePoint and time zone are known; blocks that arrive before
those wait, as compact Arrow columns, until they are known or the file ends. The small
tables (``usage_points``, ``reading_types``, ``meter_readings``, ``usage_summaries``) are
yielded at the end. Every reading is loaded or rejected with a reason; fallbacks (derived
units, missing links, time-zone doubts) are listed in ``report.note``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import pyarrow as pa
from lxml import etree

from wattlake.errors import HostileXMLError, InputError
from wattlake.parsing import FileReport
from wattlake.sources.espi import resources as res
from wattlake.sources.espi.blocks import E, RawBatch, convert, extract_block, line_of
from wattlake.sources.espi.emit import Emitter
from wattlake.sources.espi.links import XML_BASE, A, canonical, host, resolve

BATCH_ROWS = 65_536  # readings per interval_reads batch
MAX_BYTES = 4 << 30  # refuse feeds larger than this (4 GiB)
SNIFF_BYTES = 1 << 16
_ENTRY = A + "entry"
_FEED = A + "feed"


class _Guard:
    """A read-only stream that refuses DTDs before the parser sees them and counts bytes."""

    def __init__(self, stream: BinaryIO, max_bytes: int) -> None:
        self.stream = stream
        self.max_bytes = max_bytes
        self.read_bytes = 0
        self.head = b""

    def read(self, n: int = -1) -> bytes:
        chunk = self.stream.read(n if n and n > 0 else 1 << 20)
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
            _refuse_dtd(self.head)
        self.read_bytes += len(chunk)
        if self.read_bytes > self.max_bytes:
            raise InputError(
                f"feed larger than {self.max_bytes} bytes",
                hint="split the download or raise the limit (max_bytes)",
            )
        return chunk


def _refuse_dtd(head: bytes) -> None:
    probe = head.upper()
    if b"<!DOCTYPE" in probe or b"<!ENTITY" in probe or b"\x00" in head[:4]:
        raise HostileXMLError(
            "refused: the file declares a DTD or entities (<!DOCTYPE>/<!ENTITY>), or is not "
            "UTF-8; Green Button feeds never need them and they can read local files or "
            "expand without bound",
            hint="load the Green Button XML exactly as the utility sent it",
        )


def parse_espi(
    stream: BinaryIO,
    report: FileReport,
    *,
    zone: str | None = None,
    custodian: str | None = None,
    batch_rows: int = BATCH_ROWS,
    max_bytes: int = MAX_BYTES,
) -> Iterator[tuple[str, pa.Table]]:
    """Parse one Green Button feed; yields ``(table_name, arrow_table)`` batches.

    ``zone``: IANA zone for local labels when the feed has no LocalTimeParameters (else UTC,
    noted). ``custodian``: the data custodian's name for the key columns (else the links' host,
    else the feed id). Raises :class:`HostileXMLError` for DTD/entity files and
    :class:`InputError` for XML that is not well formed.
    """
    guard = _Guard(stream, max_bytes)
    state = res.FeedState(zone=zone, custodian=custodian)
    emitter = Emitter(state, report)
    batch = RawBatch()
    rejects: list[tuple[int, str, str, str]] = []
    root: etree._Element | None = None
    events = etree.iterparse(
        guard, events=("start", "end"), tag=(_FEED, _ENTRY), resolve_entities=False,
        no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
        remove_comments=True, remove_pis=True, collect_ids=False,
    )  # fmt: skip
    try:
        for event, el in events:
            if event == "start":
                if root is None:
                    root = _start(el, state)
                if el.tag == _ENTRY and state.feed_id is None:
                    feed = el.getparent()  # the feed's header (id, title) is read by now
                    fid = feed.findtext(A + "id") if feed is not None else None
                    state.feed_id = fid.strip() if fid and fid.strip() else "unknown-feed"
                continue
            if el.tag != _ENTRY:
                continue  # the end of the feed
            parent = el.getparent()
            _entry(el, state, batch, rejects, report)
            for line, fld, rule, raw in rejects:
                report.rows_read += 1
                report.reject(line, fld, rule, raw)
            rejects.clear()
            if batch.rows >= batch_rows:
                yield from emitter.take(convert(batch), batch)
                batch = RawBatch()
            elif state.changed and emitter.pending:
                yield from emitter.retry()
            state.changed = False
            # Free what is read: this entry and everything before it (foreign elements too).
            el.clear()
            if parent is not None:
                while el.getprevious() is not None:
                    prev = el.getprevious()
                    if isinstance(prev.tag, str) and not prev.tag.startswith(A):
                        state.foreign(prev.tag)
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        raise InputError(
            f"not well-formed XML: {exc}", hint="the file is damaged or not a Green Button feed"
        ) from None
    if root is None:
        raise InputError(
            "no Atom feed or entry found: not a Green Button file",
            hint="Green Button files are Atom feeds of <entry> elements",
        )
    if state.feed_id is None:
        state.note("feed without entries: nothing to load")
    if batch.rows:
        yield from emitter.take(convert(batch), batch)
    yield from emitter.finish()


def _start(el: etree._Element, state: res.FeedState) -> etree._Element:
    """The feed (or a lone entry) starts: refuse DTDs the sniffer missed, note xml:base."""
    tree = el.getroottree()
    if getattr(tree.docinfo, "doctype", "") or tree.docinfo.internalDTD is not None:
        _refuse_dtd(b"<!DOCTYPE")
    root = tree.getroot()
    state.base = resolve("", root.get(XML_BASE, ""))
    return root


def _entry(
    el: etree._Element,
    state: res.FeedState,
    batch: RawBatch,
    rejects: list[tuple[int, str, str, str]],
    report: FileReport,
) -> None:
    base = resolve(state.base, el.get(XML_BASE, "")) if el.get(XML_BASE) else state.base
    links: dict[str, list[str]] = {}
    for link in el.iterchildren(A + "link"):
        href = link.get("href")
        if href:
            full = resolve(base, href)
            links.setdefault(link.get("rel", "alternate"), []).append(canonical(full))
            if state.host is None:
                state.host = host(full)
    content = el.find(A + "content")
    line = line_of(el)
    resources = [c for c in content if isinstance(c.tag, str)] if content is not None else []
    if not resources:
        report.rows_read += 1
        report.reject(line, "content", "empty_content", _head(el))
        return
    self_href = next(iter(links.get("self", [])), None)
    if self_href is not None and not state.first_sight(self_href, resources[0].tag):
        return  # a repeated entry: read once
    title = el.findtext(A + "title")
    for node in resources:
        tag = node.tag
        if not isinstance(tag, str) or not tag.startswith(E):
            state.foreign(str(tag))
            continue
        kind = tag[len(E) :]
        if kind == "IntervalBlock":
            mr = res.block_owner(links)
            seen = extract_block(node, mr, batch, rejects)
            if mr is None and seen:
                state.note("IntervalBlock without self/up link: owner guessed at the end")
        elif kind in res.HANDLERS:
            res.HANDLERS[kind](state, node, links, line, title)
            state.changed = True
        else:
            state.skipped_resource(kind)


def _head(el: etree._Element) -> str:
    return etree.tostring(el, encoding="unicode", with_tail=False)[:500]


def parse_bytes(data: bytes, **kwargs: Any) -> tuple[FileReport, dict[str, pa.Table]]:
    """Parse a whole feed in memory (tests, tools): the report and one table per name."""
    import io

    report = FileReport(kwargs.pop("source_file", "feed.xml"))
    parts: dict[str, list[pa.Table]] = {}
    for name, table in parse_espi(io.BytesIO(data), report, **kwargs):
        parts.setdefault(name, []).append(table)
    return report, {k: pa.concat_tables(v) for k, v in parts.items()}
