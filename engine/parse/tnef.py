"""Unpack TNEF (winmail.dat) payloads into real attachments and a body (F-ATT-3)."""

from __future__ import annotations

import contextvars
import hashlib
import logging
import mimetypes
import re
import struct
from dataclasses import dataclass
from functools import lru_cache

from engine.message import Attachment

DEFAULT_NAME = "unknown.dat"  # an attachment that carries no name at all
_SIGNATURE = 0x223E9F78
_IMESSAGE = b"\x07\x03\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
# Bounds that keep a hostile payload from costing more than a real one:
# tnefparse copies the rest of the stream for every object it reads.
_MAX_OBJECTS = 4096
_MAX_EMBEDDED = 64
_MAX_RTFDE = 32 * 1024  # RTFDE parses with a full grammar: ~25 µs a byte
# MAPI values tnefparse may read from one payload (~1.5 µs each): a real winmail.dat
# needs a few thousand; 3 million tiny properties in 24 MB took 15 s.
MAX_MAPI_READS = 100_000

# MAPI property ids (MS-OXPROPS) read from attachments.
_ATTACH_LONG_FILENAME = 0x3707
_ATTACH_EXTENSION = 0x3703
_ATTACH_MIME_TAG = 0x370E
_ATTACH_CONTENT_ID = 0x3712
_ATTACH_FLAGS = 0x3714
_ATTACHMENT_HIDDEN = 0x7FFE
_RENDERED_IN_BODY = 0x4  # ATT_MHTML_REF: the HTML body shows it inline

_MIME_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
# Python's built-in table only: /etc/mime.types differs between machines,
# and the same payload must give the same attachment types everywhere.
_MIME_TABLE = mimetypes.MimeTypes()


@dataclass(frozen=True)
class TnefContent:
    """What a winmail.dat holds; `rtf` is the decompressed RTF body, if any."""

    attachments: tuple[Attachment, ...] = ()
    text: str | None = None
    html: str | None = None
    rtf: bytes | None = None
    defects: tuple[str, ...] = ()


def unpack(data: bytes) -> TnefContent:
    """Attachments and body of a TNEF payload; never raises (a defect says why)."""
    problem = _precheck(data)
    if problem:
        return TnefContent(defects=(problem,))
    budget = _reads_left.set([MAX_MAPI_READS])
    try:
        from tnefparse.tnef import TNEF

        _prepare()
        return _content(TNEF(data, do_checksum=True))
    except _TooManyReads:
        return TnefContent(defects=(f"tnef-unreadable: more than {MAX_MAPI_READS} MAPI values",))
    except Exception as error:  # any corruption tnefparse trips over
        return TnefContent(defects=(f"tnef-unreadable: {type(error).__name__}: {error}"[:200],))
    finally:
        _reads_left.reset(budget)


def _precheck(data: bytes) -> str | None:
    """Why the payload must not reach tnefparse, or None when it may."""
    if not isinstance(data, (bytes, bytearray)) or len(data) < 6:
        return "tnef-unreadable: too short to be TNEF"
    if struct.unpack_from("<I", data)[0] != _SIGNATURE:
        return "tnef-unreadable: no TNEF signature"
    streams = [0]
    start = data.find(_IMESSAGE)
    while start >= 0 and len(streams) <= _MAX_EMBEDDED + 1:
        streams.append(start + len(_IMESSAGE))
        start = data.find(_IMESSAGE, start + 1)
    if len(streams) > _MAX_EMBEDDED + 1:  # the outer stream plus the embedded ones
        return "tnef-unreadable: too many embedded messages"
    if any(_object_count(data, begin) > _MAX_OBJECTS for begin in streams):
        return "tnef-unreadable: too many objects"
    return None


def _object_count(data: bytes, begin: int) -> int:
    """How many objects tnefparse would read from the stream at `begin`."""
    offset, end, count = begin + 6, len(data), 0
    while offset + 12 < end and count <= _MAX_OBJECTS:
        length = struct.unpack_from("<I", data, offset + 5)[0] + 11
        offset += min(end - offset, length)
        count += 1
    return count


class _TooManyReads(BaseException):
    """A BaseException, so tnefparse's own `except Exception` (which logs and goes on) lets it through."""


_reads_left: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("tnef_reads_left", default=None)


def _counted(read):
    # tnefparse loops as often as a payload's counts say (properties, multi-values,
    # recipient rows): every loop reads through these, so counting them bounds all.
    def counted(*args, **kwargs):
        left = _reads_left.get()
        if left is not None:
            if left[0] <= 0:
                raise _TooManyReads
            left[0] -= 1
        return read(*args, **kwargs)

    return counted


class _BelowError(logging.Filter):
    """tnefparse and RTFDE warn about every oddity we already record as a defect."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


@lru_cache(maxsize=1)
def _prepare() -> None:
    """Once: quiet the libraries' warnings, bound tnefparse's property loop and its copies."""
    for name in ("tnefparse", "RTFDE"):
        logging.getLogger(name).addFilter(_BelowError())
    import tnefparse.mapi as mapi
    import tnefparse.tnef as module

    if getattr(module.decode_mapi, "_mailgate_bounded", False):
        return
    module.decode_mapi = _bounded_decode_mapi(module.decode_mapi)
    for name in ("parse_property", "uint16", "uint32"):
        setattr(mapi, name, _counted(getattr(mapi, name)))
    module.TNEF.__init__ = _viewing(module.TNEF.__init__)
    module.TNEFObject.__init__ = _own_bytes(module.TNEFObject.__init__)


def _bounded_decode_mapi(original):
    def bounded(data, codepage="cp1252", starting_offset=None):
        # A corrupt property count (up to 2**32) makes tnefparse loop that
        # many times past the end of the data: clamp it to what can fit.
        offset = starting_offset or 0
        count = struct.unpack_from("<I", data, offset)[0]
        fits = max(0, (len(data) - offset - 4) // 8)
        if count > fits:
            data = data[:offset] + struct.pack("<I", fits) + data[offset + 4 :]
        return original(data, codepage, starting_offset)

    bounded._mailgate_bounded = True
    return bounded


def _viewing(original):
    # TNEF() hands each object `data[offset:]`, a copy of the whole rest of the
    # stream: 4,000 objects in 24 MB copied ~50 GB (12 s). A memoryview slices
    # without copying; each object then copies only its own bytes (_own_bytes).
    def init(self, data, do_checksum=True):
        view = memoryview(data) if isinstance(data, (bytes, bytearray)) else data
        original(self, view, do_checksum)

    return init


def _own_bytes(original):
    def init(self, data, do_checksum=False):
        original(self, data, do_checksum)
        if isinstance(self.data, memoryview):  # the rest of tnefparse wants bytes
            self.data = self.data.tobytes()

    return init


def _content(tnef) -> TnefContent:
    """Turn a parsed tnefparse.TNEF into our frozen value."""
    defects: list[str] = []
    if any(not obj.good_checksum for obj in tnef.objects):
        defects.append("tnef-bad-checksum")
    codepage = _python_codec(tnef.codepage)
    html = _decoded(tnef.htmlbody, codepage)
    attachments = tuple(_attachments(tnef, codepage, html or "", defects, depth=0))
    text = _decoded(tnef.body, codepage)
    rtf = _rtf(tnef, defects)
    if rtf and not html:
        html = _html_from_rtf(rtf)
    if rtf and not text:
        from engine.parse.rtf import rtf_to_text

        text = rtf_to_text(rtf) or None
    return TnefContent(attachments, text, html, rtf, tuple(defects))


def _attachments(tnef, codepage: str, html: str, defects: list[str], depth: int):
    """Each attachment in order; an embedded message's own ones follow it."""
    for item in tnef.attachments:
        data = item.data if isinstance(item.data, bytes) else b""
        name = _filename(item, codepage)
        content_id = _property(item, _ATTACH_CONTENT_ID)
        content_id = _decoded(content_id, codepage) if content_id else None
        flags = _property(item, _ATTACH_FLAGS)
        inline = bool(
            (content_id and f"cid:{content_id}" in html)
            or (isinstance(flags, int) and flags & _RENDERED_IN_BODY)
        )
        embedded = getattr(item, "embed", None)
        kind = "application/ms-tnef" if embedded is not None else _content_type(item, name)
        yield Attachment(
            filename=name,
            content_type=kind,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            inline=inline,
            content_id=content_id or None,
            data=data,
        )
        if embedded is not None:
            if depth >= 3:
                defects.append("tnef-embedded-too-deep")
            else:
                inner = _python_codec(embedded.codepage) if embedded.codepage else codepage
                yield from _attachments(embedded, inner, html, defects, depth + 1)


def _filename(item, codepage: str) -> str:
    """PR_ATTACH_LONG_FILENAME over the 8.3 title; no directories; a default."""
    long_name = _property(item, _ATTACH_LONG_FILENAME)
    # The raw 8.3 title: tnefparse's `name` property decodes it as strict UTF-8,
    # which fails on the code-page bytes Outlook writes there.
    name = _decoded(long_name, codepage) or _decoded(item._name, codepage) or ""
    name = re.split(r"[\\/]", name.replace("\x00", "").strip())[-1].strip()
    if name in ("", ".", ".."):
        extension = _decoded(_property(item, _ATTACH_EXTENSION), codepage) or ""
        extension = extension.strip() if re.fullmatch(r"\.\w{1,10}", extension.strip()) else ""
        return f"unknown{extension}" if extension else DEFAULT_NAME
    return name


def _content_type(item, name: str) -> str:
    """From the file name; else the MIME tag Outlook recorded; else octet-stream."""
    guessed, _ = _MIME_TABLE.guess_type(name, strict=False)
    if guessed:
        return guessed
    tag = _decoded(_property(item, _ATTACH_MIME_TAG), "ascii") or ""
    tag = tag.strip().lower()
    return tag if _MIME_TYPE.match(tag) else "application/octet-stream"


def _property(item, name: int):
    """The first value of a MAPI property on an attachment, or None."""
    for attribute in getattr(item, "mapi_attrs", ()):
        if attribute.name == name:
            value = attribute.data
            if isinstance(value, (list, tuple)):
                value = value[0] if value else None
            return value
    return None


def _decoded(value, codepage: str) -> str | None:
    """A property or body as text: bytes in the message's code page, NULs off."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = _decode_bytes(bytes(value), codepage)
    elif not isinstance(value, str):
        return None
    value = value.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    return value if value.strip() else None


def _decode_bytes(value: bytes, codepage: str) -> str:
    """UTF-8 when it is valid UTF-8, else the declared code page."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode(codepage, errors="replace")


def _python_codec(name) -> str:
    """tnefparse's code page name as a codec Python has, cp1252 by default."""
    import codecs

    try:
        return codecs.lookup(str(name)).name if name else "cp1252"
    except LookupError:
        return "cp1252"


def _rtf(tnef, defects: list[str]) -> bytes | None:
    """The decompressed RTF body (compressed-rtf via tnefparse), if any."""
    try:
        rtf = tnef.rtfbody
    except Exception:
        defects.append("tnef-rtf-undecompressable")
        return None
    if not rtf:
        return None
    if not rtf.lstrip().startswith(b"{\\rtf"):
        defects.append("tnef-rtf-undecompressable")
        return None
    return rtf


def _html_from_rtf(rtf: bytes) -> str | None:
    """The HTML Outlook encapsulated in the RTF body (\\fromhtml1), via RTFDE."""
    if b"\\fromhtml" not in rtf[:2048] or len(rtf) > _MAX_RTFDE:
        return None
    try:
        from RTFDE.deencapsulate import DeEncapsulator

        rtf_obj = DeEncapsulator(rtf)
        rtf_obj.deencapsulate()
        html = getattr(rtf_obj, "html", None)
    except Exception:  # not encapsulated after all, or RTFDE gave up: the text stays
        return None
    if isinstance(html, bytes):
        match = re.search(rb"\\ansicpg(\d+)", rtf[:512])
        html = _decode_bytes(html, _python_codec(f"cp{int(match.group(1))}" if match else None))
    return html or None
