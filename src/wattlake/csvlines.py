"""A CSV byte stream made safe for a fast CSV parser: one record per physical line.

:class:`CleanLines` wraps a file's bytes and reads as the same file in UTF-8 with ``\\n`` line
ends, every physical line in its place (so line numbers do not move). A line that cannot be a
record on its own is rejected in the parser's :class:`~wattlake.parsing.FileReport` (counted
in ``rows_read``, raw text kept) and handed on as an empty line, which parsers skip:

- ``bad_encoding``: bytes that are not valid in the file's encoding (one latin-1 byte in a UTF-8
  file costs its line, not the file);
- ``control_character``: a NUL, or a carriage return inside a line;
- ``bad_quote``: a quoted field that does not end on its line. Quoted fields never span lines in
  the formats wattlake reads, so a stray ``"`` cannot swallow the rest of the file;
- ``line_too_long``: a line longer than ``max_line`` bytes (a parser's block then always holds
  whole lines).

Encoding: a byte-order mark wins (UTF-8, UTF-16 LE/BE); UTF-16 without one is recognised by its
NUL bytes; otherwise the ``encoding`` the source declares (default UTF-8). Line ends: ``\\n``,
``\\r\\n``, or ``\\r`` alone in a file that has no ``\\n`` at all (classic Mac). A file whose first
line is not text (binary data, a NUL, undecodable bytes) raises one short InputError.
Fast path: a block with no quote, NUL, stray CR or non-UTF-8 byte passes through untouched
(a few memchr-speed scans); only blocks with something to look at are split into lines.
"""

from __future__ import annotations

import codecs
import io
import re
from collections import deque
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from wattlake.errors import InputError
from wattlake.parsing import MAX_REJECT_RAW, FileReport

MARKER = b"\x00"  # a rejected line, with markers=True (a NUL line is never handed on otherwise)
CHUNK = 256 * 1024  # bytes read at a time; also the longest line kept by default
# A field is empty, unquoted (no quote at its start, quotes later are literal), or quoted
# ("" for a quote inside) with nothing but unquoted text after the closing quote.
_FIELD = rb'(?:"[^"\r\n]*(?:""[^"\r\n]*)*"[^,"\r\n]*|[^,"\r\n][^,\r\n]*|)'
_LINE = re.compile(_FIELD + rb"(?:," + _FIELD + rb")*")
_BLOCK = re.compile(rb"(?:" + _FIELD + rb"(?:," + _FIELD + rb")*\r?\n)*")
_UTF8 = {"utf-8", "utf-8-sig"}


def _codec(name: str, source: str, where: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise InputError(
            f"{source}: unknown encoding {name!r}",
            hint=f"set {where} to a Python codec name such as utf-8, latin-1 or cp1252",
        ) from None


def _sniff(head: bytes, declared: str) -> tuple[str, int]:
    """(codec, bytes of BOM to skip) for a file starting with ``head``."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", 3
    if head.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le", 2
    if head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be", 2
    sample = head[:512]
    half = len(sample) // 2
    if half >= 4 and declared in _UTF8:
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if odd >= 0.9 * half and even == 0:
            return "utf-16-le", 0
        if even >= 0.9 * half and odd == 0:
            return "utf-16-be", 0
    return ("utf-8" if declared in _UTF8 else declared), 0


class CleanLines(io.RawIOBase):
    """Readable stream of the cleaned file (see the module docstring); ``header`` is the text
    of its first line. Rejects are recorded in ``report`` as lines are read."""

    def __init__(
        self,
        stream: BinaryIO,
        report: FileReport,
        *,
        encoding: str = "utf-8",
        encoding_setting: str = "the source's encoding option",
        quotes: bool = True,
        max_line: int = CHUNK,
        markers: bool = False,
    ) -> None:
        super().__init__()
        self.stream, self.report, self.quotes = stream, report, quotes
        self.max_line = max_line
        # markers: a rejected line is handed on as MARKER and its reject gets its line number
        # when the parser meets it (``marker``), so clean blocks need no line counting.
        self.markers = markers
        self._blank = MARKER if markers else b""
        self._unplaced: deque[tuple[str, str]] = deque()  # (rule, raw) awaiting a line
        self._first = True  # the next line handed on is the header
        self.line = 0  # physical lines handed on so far (not kept up to date with markers)
        self._carry = b""  # start of a line whose end has not been read yet
        self._skipping = False  # inside an over-long line, dropping bytes until its end
        self._out: deque[bytes | memoryview] = deque()
        self._eof = False
        head = stream.read(CHUNK)
        declared = _codec(encoding, report.source_file, encoding_setting)
        codec, bom = _sniff(head, declared)
        self.encoding = codec
        self._decoder = None
        if codec != "utf-8":
            factory = codecs.getincrementaldecoder(codec)
            errors = "replace" if codec.startswith("utf-16") else "surrogateescape"
            self._decoder = factory(errors=errors)
        self._cr_only = False
        first = self._transcode(head[bom:], final=False)
        if b"\n" not in first and b"\r" in first:
            self._cr_only = True
        self.header = self._check_header(first)
        self._feed(first)

    # -- io.RawIOBase ----------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes | memoryview:
        """Up to ``size`` bytes of the cleaned file (all if -1); b"" at the end."""
        while not self._out and not self._eof:
            data = self.stream.read(CHUNK)
            if data:
                self._feed(self._transcode(data, final=False))
            else:
                self._finish()
        if size < 0:
            while not self._eof:
                data = self.stream.read(CHUNK)
                if data:
                    self._feed(self._transcode(data, final=False))
                else:
                    self._finish()
            size = sum(map(len, self._out))
        out: list[bytes | memoryview] = []
        got = 0
        while self._out and got < size:
            block = self._out.popleft()
            if got + len(block) > size:
                self._out.appendleft(block[size - got :])
                block = block[: size - got]
            out.append(block)
            got += len(block)
        return out[0] if len(out) == 1 else b"".join(out)

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def blocks(self, size: int, first: int | None = None) -> Iterator[memoryview]:
        """The cleaned lines after the header, in blocks of whole lines of about ``size``
        bytes (the first of about ``first``: a smaller first block starts the consumer
        sooner), each ending in ``\\n`` (so each parses on its own; line numbers then follow
        from the lines of the blocks before it)."""
        carry, header, eof = b"", True, False
        want = size if first is None else first
        while not eof:
            pieces: list[bytes | memoryview] = [carry]
            got = len(carry)
            while True:  # at least one read per block: a line longer than size still ends
                piece = self.read(max(want - got, 1))
                if not piece:
                    eof = True
                    break
                pieces.append(piece)
                got += len(piece)
                if got >= want:
                    break
            data = b"".join(pieces)
            if header:
                end = data.find(b"\n") + 1
                if not end and not eof:
                    carry = data
                    continue
                data, header = data[end:], False
            end = len(data) if eof else data.rfind(b"\n") + 1  # the stream ends with \n
            carry = data[end:]
            if end:
                want = size
                yield memoryview(data)[:end]  # not a copy of the block

    def read_all(self) -> bytes:
        """The whole cleaned file."""
        return bytes(self.read(-1))

    # -- internals ---------------------------------------------------------------------------
    def _transcode(self, data: bytes, *, final: bool) -> bytes:
        if self._decoder is None:
            return data
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError:  # a multi-byte codec meeting a bad ASCII-range byte
            self._decoder = codecs.getincrementaldecoder(self.encoding)(errors="replace")
            text = self._decoder.decode(data, final)
        return text.encode("utf-8", "surrogateescape")

    def _check_header(self, first: bytes) -> str:
        data = first.replace(b"\r", b"\n") if self._cr_only else first
        end = data.find(b"\n")
        line = (data if end < 0 else data[:end]).rstrip(b"\r")
        source = self.report.source_file
        hint = "check that this is the right file: it should be a CSV text export"
        if end < 0 and len(data) >= self.max_line:
            raise InputError(f"{source}: no line end in its first {len(data)} bytes", hint=hint)
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(
                f"{source}: is not text in {self.encoding} (binary data in its first line)",
                hint=hint + "; or set the encoding it was written in",
            ) from None
        if any(ch < " " and ch != "\t" for ch in text):
            raise InputError(
                f"{source}: is not a text file (binary data in its first line)", hint=hint
            )
        return text

    def _finish(self) -> None:
        tail = self._transcode(b"", final=True)
        self._eof = True
        if tail:
            self._feed(tail)
        if self._skipping:
            self._out.append(self._blank + b"\n")
            self.line += 1
        elif self._carry:
            self._emit(self._carry + b"\n")
        self._carry = b""

    def _feed(self, data: bytes) -> None:
        if self._cr_only:
            data = data.replace(b"\r", b"\n")
        pos = 0
        if self._skipping:
            end = data.find(b"\n")
            if end < 0:
                return
            self._skipping = False
            self._out.append(self._blank + b"\n")
            self.line += 1
            pos = end + 1
        first = data.find(b"\n", pos)
        if first < 0:
            self._carry += data[pos:]
            if len(self._carry) > self.max_line:
                self._too_long(self.line + 1, self._carry)
                self._carry, self._skipping = b"", True
            return
        # The line that began in the carry: the only one that can be longer than a chunk.
        if len(self._carry) + first - pos > self.max_line:
            self._too_long(self.line + 1, self._carry + data[pos : pos + MAX_REJECT_RAW])
            self._out.append(self._blank + b"\n")
            self.line += 1
        else:
            self._emit(self._carry + data[pos : first + 1])
        last = data.rfind(b"\n")
        self._carry = data[last + 1 :]
        if last > first:
            clean = not (
                b"\x00" in data
                or (self.quotes and b'"' in data)
                or (b"\r" in data and _stray_cr(data))
                or not data.isascii()
            )
            if clean:  # nothing to look at: hand the lines on without copying them
                if not self.markers:
                    self.line += data.count(b"\n", first + 1)
                self._out.append(memoryview(data)[first + 1 : last + 1])
            else:
                self._emit(data[first + 1 : last + 1])
        if len(self._carry) > self.max_line:
            self._too_long(self.line + 1, self._carry)
            self._carry, self._skipping = b"", True

    def _too_long(self, line: int, start: bytes) -> None:
        raw = start[:MAX_REJECT_RAW].decode("utf-8", "backslashreplace")
        self._reject(line, "line_too_long", raw)

    def _reject(self, line: int, rule: str, raw: str) -> None:
        if self.markers:  # the report waits until the parser meets the line (``marker``)
            self._unplaced.append((rule, raw))
            return
        self.report.reject(line, None, rule, raw)
        self.report.rows_read += 1

    def marker(self) -> tuple[str, str]:
        """``(rule, raw)`` of the next MARKER line the parser meets (markers come in file
        order); the parser records the reject with the line it met it at, and counts it in
        ``rows_read``."""
        return self._unplaced.popleft()

    def place_rest(self) -> None:
        """Record rejects whose marker the parser never met (none, unless it stopped early)."""
        while self._unplaced:
            rule, raw = self._unplaced.popleft()
            self.report.reject(None, None, rule, raw)
            self.report.rows_read += 1

    def _emit(self, block: bytes) -> None:
        """Hand on ``block`` (whole lines, ending in ``\\n``), blanking and rejecting bad ones."""
        base, header, self._first = self.line, self._first, False
        self.line += block.count(b"\n")
        nul = b"\x00" in block
        stray_cr = b"\r" in block and _stray_cr(block)
        utf8 = block.isascii()
        if not utf8:
            try:
                block.decode("utf-8")
                utf8 = True
            except UnicodeDecodeError:
                pass
        quoted = self.quotes and b'"' in block and _BLOCK.fullmatch(block) is None
        if not (nul or stray_cr or quoted or not utf8):
            self._out.append(block)
            return
        lines = block.split(b"\n")
        for i, line in enumerate(lines[:-1]):
            body = line[:-1] if line.endswith(b"\r") else line
            if header and i == 0:  # checked when the stream opened
                continue
            if b"\x00" in body or b"\r" in body:
                rule = "control_character"
            elif not utf8 and not _is_utf8(body):
                rule = "bad_encoding"
            elif quoted and b'"' in body and _LINE.fullmatch(body) is None:
                rule = "bad_quote"
            else:
                continue
            raw = body[: MAX_REJECT_RAW * 4].decode("utf-8", "backslashreplace")
            self._reject(base + i + 1, rule, raw)
            lines[i] = self._blank
        self._out.append(b"\n".join(lines))


def _stray_cr(data: bytes) -> bool:
    """Whether ``data`` has a CR not followed by LF (one at the very end counts)."""
    a = np.frombuffer(data, np.uint8)
    cr = np.flatnonzero(a == 13)
    if not len(cr):
        return False
    if cr[-1] == len(a) - 1:
        return True
    return not bool(np.all(a[cr + 1] == 10))


def _is_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
