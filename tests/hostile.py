"""Hostile mails from issue 16 (each once cost seconds to minutes): built here, shared by tests and bench/."""

from __future__ import annotations

import random
import struct
from email.message import EmailMessage

_HEAD = (b"From: Mallory <mallory@example.com>\r\nTo: help@example.org\r\n"
         b"Message-ID: <hostile@example.com>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n")


def _mail(headers: bytes, body: bytes, content_type: bytes = b"text/plain; charset=us-ascii") -> bytes:
    return _HEAD + headers + b"Content-Type: " + content_type + b"\r\n\r\n" + body


def base64_runs(runs: int = 32, length: int = 65000) -> bytes:
    """Runs of base64 alphabet just under 64 KiB, each broken by a '-': 2 MB for 32 runs."""
    return _mail(b"Subject: runs\r\n", (b"A" * length + b"-") * runs)


def nested_html(depth: int = 40_000) -> bytes:
    """`depth` nested <div>s (440 KB for 40,000) as the only body."""
    html = b"<div>" * depth + b"deep" + b"</div>" * depth
    return _mail(b"Subject: deep\r\n", html, b"text/html; charset=utf-8")


def encoded_words(count: int = 80_000) -> bytes:
    """A Subject of `count` RFC 2047 encoded words (1.36 MB for 80,000), folded like a mailer would."""
    words = b"\r\n ".join(b"=?utf-8?q?a?=" for _ in range(count))
    return _mail(b"Subject: " + words + b"\r\n", b"hello\r\n")


def many_references(count: int = 200_000) -> bytes:
    """A References header of `count` Message-IDs (2.3 MB for 200,000)."""
    ids = b"\r\n ".join(b"<%d@example.com>" % i for i in range(count))
    return _mail(b"Subject: refs\r\nIn-Reply-To: <0@example.com>\r\nReferences: " + ids + b"\r\n", b"hello\r\n")


def open_quote(count: int = 1_000_000) -> bytes:
    """A Content-Type whose quote never closes, followed by `count` ';' (the stdlib recounted quotes per ';')."""
    return _mail(b"Subject: quote\r\n", b"hello\r\n", b'text/plain; name="' + b";" * count)


def many_params(count: int = 200_000) -> bytes:
    """A file name in `count` RFC 2231 sections (3.7 MB for 200,000)."""
    sections = b"".join(b"; filename*%d*=a" % i for i in range(count))
    body = (b"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment" + sections
            + b"\r\n\r\nhello\r\n--b--\r\n")
    return _mail(b"Subject: params\r\n", body, b"multipart/mixed; boundary=b")


def mid_size_attachments(count: int = 8) -> bytes:
    """A 2.5 MB mail with `count` 46.5 KB images (base64 runs just under 64 KiB) and a 1 MB file:
    the shape of a public MIME torture test that took 14-18 s."""
    rng = random.Random(7)
    mail = EmailMessage()
    mail["From"] = "Tester <tester@example.com>"
    mail["To"] = "help@example.org"
    mail["Subject"] = "MIME torture test"
    mail["Message-ID"] = "<torture@example.com>"
    mail.set_content("Welcome to the torture test.\n")
    for i in range(count):
        mail.add_attachment(rng.randbytes(46_500), maintype="image", subtype="png", filename=f"shot{i}.png")
    mail.add_attachment(rng.randbytes(1_000_000), maintype="application", subtype="pdf", filename="big.pdf")
    return mail.as_bytes()


def _tnef_object(level: int, name: int, kind: int, data: bytes) -> bytes:
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def tnef_flood(size: int = 24 * 1024 * 1024, objects: int = 4000) -> bytes:
    """A winmail.dat of `size` bytes in `objects` message-level objects (under the object cap)."""
    each = size // objects
    header = struct.pack("<IH", 0x223E9F78, 1)
    # An object tnefparse does not interpret: it still copies the rest of the stream for each.
    return header + _tnef_object(1, 0x0001, 0, b"x" * each) * objects


def tnef_attachments(size: int = 24 * 1024 * 1024, count: int = 1300) -> bytes:
    """A winmail.dat of `size` bytes holding `count` small files (3 objects each, under the object cap)."""
    each = size // count
    header = struct.pack("<IH", 0x223E9F78, 1) + _tnef_object(1, 0x9007, 0, struct.pack("<II", 1252, 0))
    files = b"".join(_tnef_object(2, 0x9002, 0, b"\x01\x00" + b"\0" * 12)
                     + _tnef_object(2, 0x8010, 1, b"f%d.txt\0" % i)
                     + _tnef_object(2, 0x800F, 6, b"y" * each) for i in range(count))
    return header + files


def tnef_mail(payload: bytes) -> bytes:
    """A mail carrying `payload` as winmail.dat."""
    mail = EmailMessage()
    mail["From"] = "Outlook User <user@example.com>"
    mail["To"] = "help@example.org"
    mail["Subject"] = "winmail"
    mail["Message-ID"] = "<tnef-hostile@example.com>"
    mail.set_content("See the attachment.")
    mail.add_attachment(payload, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    return mail.as_bytes()


HOSTILE = {
    "torture-test": lambda: mid_size_attachments(4),
    "base64-runs": base64_runs,
    "nested-html": nested_html,
    "encoded-words": encoded_words,
    "references": many_references,
    "open-quote": open_quote,
    "rfc2231-sections": many_params,
}
# 18 MB of TNEF is 24 MB once base64-encoded: just under the default 25 MB mail size limit.
_TNEF_SIZE = 18 * 1024 * 1024
HOSTILE["tnef-objects"] = lambda: tnef_mail(tnef_flood(_TNEF_SIZE))
HOSTILE["tnef-files"] = lambda: tnef_mail(tnef_attachments(_TNEF_SIZE))


def tnef_properties(size: int = 24 * 1024 * 1024) -> bytes:
    """A winmail.dat whose one MAPI property block holds `size` / 8 tiny properties (3 million)."""
    count = (size - 4) // 8
    props = struct.pack("<I", count) + struct.pack("<HHHH", 0x0002, 0x0E07, 1, 0) * count
    return struct.pack("<IH", 0x223E9F78, 1) + _tnef_object(1, 0x9003, 6, props)


def tnef_recipients(size: int = 24 * 1024 * 1024) -> bytes:
    """A winmail.dat whose recipient table claims `size` / 4 empty rows (6 million)."""
    rows = (size - 4) // 4
    table = struct.pack("<I", rows) + b"\0\0\0\0" * rows
    return struct.pack("<IH", 0x223E9F78, 1) + _tnef_object(1, 0x9004, 6, table)


HOSTILE["tnef-properties"] = lambda: tnef_mail(tnef_properties(_TNEF_SIZE))
HOSTILE["tnef-recipients"] = lambda: tnef_mail(tnef_recipients(_TNEF_SIZE))
