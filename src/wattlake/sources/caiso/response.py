"""The OASIS response envelope: a zip (checked for safety) that holds CSVs or an error XML.

OASIS answers HTTP 200 even for errors; the error is an ``m:OASISReport`` XML document with
``m:ERROR/m:ERR_CODE`` and ``m:ERR_DESC`` inside the zip. Code 1000 means "no data" and is
not an error for us; 1015 (and a few other transient codes) mean "ask again later".
"""

from __future__ import annotations

import io
import zipfile
import zlib
from typing import IO, BinaryIO

from lxml import etree

from wattlake.errors import InputError, SourceResponseError

MAX_INPUT_BYTES = 256 << 20  # a zip larger than this is refused (an all-APNode DAM day is 1.3 MB)
MAX_UNCOMPRESSED_BYTES = 1 << 30  # total declared uncompressed size of all members
MAX_COMPRESSION_RATIO = 200  # real OASIS CSVs deflate about 24:1
RATIO_CHECK_MIN_BYTES = 1 << 20  # small members may compress well; only check above this size
MAX_MEMBERS = 64
MAX_XML_BYTES = 1 << 20  # error documents are under 1 KB

NO_DATA_CODE = "1000"
#: Codes that mean "OASIS is busy or not ready; the same request may work later".
TRANSIENT_CODES = frozenset({"1003", "1010", "1012", "1013", "1015"})

_HINTS = {
    "1002": "send startdatetime/enddatetime as YYYYMMDDTHH:MM-0000 (UTC)",
    "1004": "ask for at most 30 days per request (plan_chunks splits windows for you)",
    "1005": "use a known queryname such as PRC_LMP, PRC_INTVL_LMP, PRC_RTPD_LMP, PRC_HASP_LMP",
    "1014": "OASIS keeps about 39 months of data; ask for a later start date",
    "1015": "OASIS is still preparing the file; send the same request again in a few minutes",
    "1017": "ask for at most 10 nodes per request, or use grp_type=ALL_APNODES",
    "1020": "send version= (12 for PRC_LMP, 3 for the real-time LMP queries)",
}
_CORRUPT_HINT = "the download was truncated or damaged; fetch the chunk again"


class OasisResponseError(SourceResponseError):
    """OASIS answered with an error document (``ERR_CODE`` / ``ERR_DESC``) instead of data."""

    def __init__(self, code: str, description: str) -> None:
        self.description = description
        hint = _HINTS.get(code, "check the request parameters against the OASIS specification")
        super().__init__(f"OASIS error {code}: {description}", code=code, hint=hint)


class OasisTryLaterError(OasisResponseError):
    """OASIS is busy or still preparing the answer (e.g. 1015): ask again later."""


def error_for(code: str, description: str) -> OasisResponseError:
    """The exception for an OASIS error code (:class:`OasisTryLaterError` if transient)."""
    cls = OasisTryLaterError if code in TRANSIENT_CODES else OasisResponseError
    return cls(code, description)


def decode_error_xml(xml: bytes) -> tuple[str, str] | None:
    """``(ERR_CODE, ERR_DESC)`` from an OASIS error document, or None if it holds no error.

    Tolerates any namespace prefix and element case. Entities are not resolved, the network and
    DTDs are never touched and huge trees are refused. Raises InputError if ``xml`` is larger
    than MAX_XML_BYTES or is not well-formed.
    """
    if len(xml) > MAX_XML_BYTES:
        raise InputError(
            f"XML document of {len(xml)} bytes is larger than {MAX_XML_BYTES}",
            hint="an OASIS error document is under 1 KB; this is not an OASIS error answer",
        )
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False
    )
    try:
        root = etree.fromstring(xml, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise InputError(
            f"XML in OASIS response is not well-formed: {exc}",
            hint="re-download the file; if it persists the response is not an OASIS document",
        ) from None
    if root is None:
        return None
    code: str | None = None
    desc = ""
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue  # comments, processing instructions, entity references
        local = etree.QName(el).localname.upper()
        if local == "ERR_CODE" and code is None:
            code = (el.text or "").strip()
        elif local == "ERR_DESC" and not desc:
            desc = (el.text or "").strip()
    return (code, desc) if code else None


def read_limited(stream: BinaryIO) -> bytes:
    """All of ``stream``, refusing more than MAX_INPUT_BYTES."""
    data = stream.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(
            f"input is larger than {MAX_INPUT_BYTES} bytes",
            hint="ask OASIS for a smaller window; one answer should be a few MB",
        )
    return data


def is_zip(data: bytes) -> bool:
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def check_zip(data: bytes) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """Open ``data`` as a zip and return it with its file members, refusing unsafe archives.

    Raises InputError for a corrupt zip, too many members, encryption, an unsupported
    compression method, a member whose name escapes the folder (absolute path, drive letter,
    ``..``), a total declared uncompressed size above MAX_UNCOMPRESSED_BYTES, or a member
    compressed more than MAX_COMPRESSION_RATIO:1. Reads through :func:`open_member` are capped
    at the declared sizes, so a lying header cannot expand further.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise InputError(f"corrupt zip ({exc})", hint=_CORRUPT_HINT) from None
    if len(infos) > MAX_MEMBERS:
        raise InputError(
            f"zip has {len(infos)} members, more than {MAX_MEMBERS}",
            hint="an OASIS answer holds one or a few files; refusing it",
        )
    total = 0
    members = []
    for info in infos:
        name = info.filename.replace("\\", "/")
        unsafe = name.startswith("/") or name[1:2] == ":" or ".." in name.split("/")
        if unsafe or "\0" in name:
            raise InputError(
                f"zip member {info.filename!r} escapes the archive folder (absolute path or '..')",
                hint="this is not an OASIS answer and may be malicious; do not extract it",
            )
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise InputError(f"zip member {name!r} is encrypted", hint="OASIS never encrypts")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise InputError(
                f"zip member {name!r} uses compression method {info.compress_type}",
                hint="OASIS zips use deflate; this is not an OASIS answer",
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_CHECK_MIN_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise InputError(
                f"zip member {name!r} expands {ratio:.0f}:1, more than {MAX_COMPRESSION_RATIO}:1",
                hint="this looks like a zip bomb, not an OASIS answer; refusing it",
            )
        total += info.file_size
        members.append(info)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise InputError(
            f"zip expands to {total} bytes, more than the {MAX_UNCOMPRESSED_BYTES} byte limit",
            hint="this looks like a zip bomb; a real answer for one OASIS chunk is far smaller",
        )
    return zf, members


def open_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> IO[bytes]:
    """A reader for one member checked by :func:`check_zip`.

    zipfile stops at the declared size and raises BadZipFile on a CRC mismatch at the end;
    wrap reads in :func:`corrupt_member` to turn that into InputError.
    """
    try:
        return zf.open(info)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
        raise corrupt_member(info.filename, exc) from None


def corrupt_member(name: str, exc: BaseException) -> InputError:
    return InputError(f"corrupt zip member {name!r} ({exc})", hint=_CORRUPT_HINT)


#: Exceptions a member read can raise when the zip is damaged.
MEMBER_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError)


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The bytes of one member checked by :func:`check_zip` (size bounded, CRC verified)."""
    try:
        with open_member(zf, info) as f:
            data = f.read(info.file_size + 1)
    except MEMBER_ERRORS as exc:
        raise corrupt_member(info.filename, exc) from None
    if len(data) != info.file_size:
        raise InputError(
            f"zip member {info.filename!r} is {len(data)} bytes, its header says {info.file_size}",
            hint=_CORRUPT_HINT,
        )
    return data


def zip_error(data: bytes) -> tuple[str, str] | None:
    """The (code, text) of the OASIS error document inside zip ``data``, if there is one.

    Raises InputError if ``data`` is not a safe, intact zip (see :func:`check_zip`).
    """
    zf, members = check_zip(data)
    for info in members:
        if info.filename.lower().endswith(".xml"):
            err = decode_error_xml(read_member(zf, info))
            if err:
                return err
    return None


def verify_zip(data: bytes) -> None:
    """Raise InputError unless ``data`` is a safe zip whose members all decompress intact."""
    zf, members = check_zip(data)
    for info in members:
        try:
            with open_member(zf, info) as f:
                while f.read(1 << 20):
                    pass
        except MEMBER_ERRORS as exc:
            raise corrupt_member(info.filename, exc) from None
