"""Raw MIME assembly in bytes (CRLF): headers with folding and RFC 2047, text and binary parts, multiparts.

Written by hand rather than with email.message: the generator must control every header (order,
folding, Received chains) like real mail clients do, and it must be fast (5,000 mails of ~30 KB).
"""

from __future__ import annotations

import base64
import quopri
import random
import struct
import zlib
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime, formataddr

CRLF = b"\r\n"


def date_header(moment: datetime, offset_minutes: int = 0) -> str:
    """RFC 5322 date of `moment` written in the sender's time zone."""
    return format_datetime(moment.astimezone(timezone(timedelta(minutes=offset_minutes))))


def encoded(text: str, charset: str = "utf-8") -> str:
    """A header value: plain when ASCII, else RFC 2047 encoded words in `charset` (utf-8 when it cannot).

    Built by hand: email.header names some charsets oddly (gb2312 becomes eucgb2312_cn).
    Latin text gets Q words, the rest B words, each under 75 characters and whole characters only.
    """
    if text.isascii():
        return text
    try:
        text.encode(_codec(charset))
    except (UnicodeEncodeError, LookupError):
        charset = "utf-8"
    if charset == "us-ascii":
        charset = "utf-8"
    q = charset.startswith(("iso-8859", "windows-125")) and sum(not c.isascii() for c in text) < len(text) // 3
    words, chunk = [], ""
    for char in text:
        if len((chunk + char).encode(_codec(charset))) > (30 if q else 42):
            words.append(_word(chunk, charset, q))
            chunk = ""
        chunk += char
    words.append(_word(chunk, charset, q))
    return " ".join(words)


def _word(text: str, charset: str, q: bool) -> str:
    data = text.encode(_codec(charset))
    if q:
        body = "".join(chr(b) if (chr(b).isalnum() and b < 128) else "_" if b == 32 else f"={b:02X}" for b in data)
        return f"=?{charset}?Q?{body}?="
    return f"=?{charset}?B?{base64.b64encode(data).decode()}?="


def mailbox(name: str, address: str, charset: str = "utf-8") -> str:
    """'Name <address>' with the name quoted or encoded as a mail client writes it."""
    if not name:
        return address
    if name.isascii():
        return formataddr((name, address))
    return f"{encoded(name, charset)} <{address}>"


def fold(name: str, value: str) -> bytes:
    """One header line, folded at spaces before 78 columns where possible (RFC 5322 2.2.3)."""
    line, out, width = f"{name}: ", [], len(name) + 2
    for word in value.split(" "):
        if width + len(word) + 1 > 78 and width > len(name) + 2:
            out.append(line.rstrip(" "))
            line, width = " ", 1
        line += word + " "
        width += len(word) + 1
    out.append(line.rstrip(" "))
    return "\r\n".join(out).encode("ascii", "replace") + CRLF


def headers(pairs) -> bytes:
    """A header block (without the blank line) from (name, value) pairs."""
    return b"".join(fold(name, value) for name, value in pairs)


def text_part(text: str, charset: str, subtype: str = "plain", flowed: bool = False) -> bytes:
    """A text/* part in `charset` with the transfer encoding a client would pick for it."""
    data = text.replace("\r\n", "\n").encode(_codec(charset), "replace")
    params = f'; charset="{charset}"' + ("; format=flowed" if flowed else "")
    if charset == "iso-2022-jp" or data.isascii():
        encoding, body = "7bit", data.replace(b"\n", CRLF)
    elif charset in ("utf-8", "koi8-r", "windows-1251", "gb2312", "gbk", "shift_jis") and _mostly_8bit(data):
        encoding, body = "base64", _base64(data)
    else:
        encoding, body = "quoted-printable", quopri.encodestring(data.replace(b"\n", CRLF)).replace(b"\r\n", CRLF)
    head = headers([("Content-Type", f"text/{subtype}{params}"), ("Content-Transfer-Encoding", encoding)])
    return head + CRLF + body.rstrip(CRLF) + CRLF


def binary_part(data: bytes, content_type: str, filename: str, *, inline: bool = False,
                content_id: str | None = None) -> bytes:
    """An attachment (or inline image) in base64, named in both Content-Type and Content-Disposition."""
    name = encoded(filename)
    pairs = [("Content-Type", f'{content_type}; name="{name}"'),
             ("Content-Disposition", f'{"inline" if inline else "attachment"}; filename="{name}"; size={len(data)}'),
             ("Content-Transfer-Encoding", "base64")]
    if content_id:
        pairs.append(("Content-ID", f"<{content_id}>"))
    return headers(pairs) + CRLF + _base64(data)


def multipart(subtype: str, parts: list[bytes], boundary: str, params: str = "") -> tuple[str, bytes]:
    """(Content-Type value, body) of a multipart holding `parts`."""
    body = b"".join(b"--" + boundary.encode() + CRLF + part + CRLF for part in parts)
    body += b"--" + boundary.encode() + b"--" + CRLF
    return f'multipart/{subtype}; boundary="{boundary}"{params}', body


def message(pairs, content_type: str, body: bytes, encoding: str | None = None) -> bytes:
    """A whole mail: `pairs` headers, then MIME-Version, Content-Type, a blank line and the body."""
    tail = [("MIME-Version", "1.0"), ("Content-Type", content_type)]
    if encoding:
        tail.append(("Content-Transfer-Encoding", encoding))
    return headers(list(pairs) + tail) + CRLF + body


def single(part: bytes) -> tuple[str, bytes, str]:
    """Split a single part made by text_part into (content type, body, transfer encoding) for message()."""
    head, _, body = part.partition(CRLF + CRLF)
    fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
    return fields["Content-Type"], body, fields["Content-Transfer-Encoding"]


# -- attachment contents ---------------------------------------------------------------------------


def pdf(rng: random.Random, size: int) -> bytes:
    """PDF-shaped bytes: a real header and trailer around incompressible 'streams'."""
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n3 0 obj\n<< /Filter /FlateDecode >>\nstream\n"
    return head + rng.randbytes(max(0, size - len(head) - 40)) + b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def png(rng: random.Random, size: int) -> bytes:
    """A PNG with a real signature, IHDR, IDAT of random data and IEND."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", rng.randint(64, 1920), rng.randint(32, 1080), 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rng.randbytes(max(16, size - 57))) + chunk(b"IEND", b"")


def jpeg(rng: random.Random, size: int) -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00H\x00H\x00\x00" + rng.randbytes(max(16, size - 22)) + b"\xff\xd9"


def office(rng: random.Random, size: int, member: str = "word/document.xml") -> bytes:
    """docx/xlsx-like: a ZIP local header naming an OOXML member, then compressed-looking bytes."""
    name = member.encode()
    head = b"PK\x03\x04\x14\x00\x06\x00\x08\x00" + rng.randbytes(16) + struct.pack("<HH", len(name), 0) + name
    return head + rng.randbytes(max(16, size - len(head) - 22)) + b"PK\x05\x06" + bytes(18)


def log_text(rng: random.Random, size: int) -> bytes:
    lines, total = [], 0
    while total < size:
        line = (f"2026-01-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
                f"{rng.randint(0, 59):02d} {rng.choice(('INFO', 'WARN', 'ERROR'))} "
                f"[{rng.choice(('sync', 'auth', 'spool', 'net'))}] code={rng.randint(100, 999)} "
                f"session={rng.getrandbits(32):08x}")
        lines.append(line)
        total += len(line) + 2
    return "\r\n".join(lines).encode() + CRLF


# -- helpers ---------------------------------------------------------------------------------------


def _base64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", CRLF)


def _mostly_8bit(data: bytes) -> bool:
    return sum(b > 127 for b in data[:2000]) > len(data[:2000]) // 6


def _codec(charset: str) -> str:
    return {"us-ascii": "ascii"}.get(charset, charset)
