"""Read mail files for inspect and dry-run: raw RFC 822 / .eml, Outlook .msg and mbox."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from engine.errors import UsageError

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Outlook .msg is an OLE compound file
# "From sender Mon Jan  1 00:00:00 2024": a time and a year, so that an
# unescaped "From " in a body is not taken for a separator.
_MBOX_FROM = re.compile(rb"^From \S+ .*\d{1,2}:\d{2}.*\d{4}")
_ESCAPED_FROM = re.compile(rb"^>(>*From )", re.M)


def read_messages(path: str | Path) -> Iterator[tuple[str, bytes]]:
    """Yield (label, raw RFC 5322 bytes) for every mail in the file at `path`.

    The kind is told by content, not by extension: an OLE file is an Outlook
    .msg (converted to MIME), a file starting with an mbox "From " line is an
    mbox (labels `file.mbox#1`, `#2`, …), anything else one raw mail.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(len(OLE_MAGIC))
    except OSError as err:
        raise UsageError(f"{path}: cannot read: {err.strerror or err}") from err
    if head == OLE_MAGIC:
        yield str(path), msg_to_mime(path.read_bytes())
    elif head.startswith(b"From "):
        yield from _mbox(path)
    else:
        yield str(path), path.read_bytes()


def _mbox(path: Path) -> Iterator[tuple[str, bytes]]:
    # Streamed line by line: an mbox can be far larger than memory.
    number = 0
    lines: list[bytes] = []
    previous_blank = True
    with path.open("rb") as handle:
        for line in handle:
            if previous_blank and _MBOX_FROM.match(line):
                if lines:
                    number += 1
                    yield f"{path}#{number}", _unescape(lines)
                lines = []
                previous_blank = False
                continue
            lines.append(line)
            previous_blank = not line.strip(b"\r\n")
    if lines:
        number += 1
        yield f"{path}#{number}", _unescape(lines)


def _unescape(lines: list[bytes]) -> bytes:
    # The blank line before the next "From " belongs to the mbox, not the mail.
    if lines and not lines[-1].strip(b"\r\n"):
        lines = lines[:-1]
    return _ESCAPED_FROM.sub(rb"\1", b"".join(lines))


def msg_to_mime(data: bytes) -> bytes:
    """Convert an Outlook .msg file to RFC 5322 bytes (via extract-msg).

    The original transport headers are kept when Outlook stored them; the
    body and attachments are rebuilt as MIME, so parse() reads a .msg like
    any other mail. Raises UsageError when the file cannot be read.
    """
    import extract_msg  # imported lazily: only .msg input needs it

    try:
        msg = extract_msg.openMsg(data, delayAttachments=False)
    except Exception as err:  # extract-msg raises many kinds on broken files
        raise UsageError(f"not a readable Outlook .msg file: {err}") from err
    try:
        mime = msg.asEmailMessage()
        _fill_headers(mime, msg)
        return bytes(mime.as_bytes())
    except Exception as err:
        raise UsageError(f"cannot convert Outlook .msg to MIME: {err}") from err
    finally:
        try:
            msg.close()
        except Exception:  # closing a half-read OLE file may fail; nothing to keep
            pass


def _fill_headers(mime, msg) -> None:
    # Without stored transport headers extract-msg's MIME lacks some fields;
    # take them from the MAPI properties instead.
    from email.utils import format_datetime

    wanted = {
        "Subject": lambda: msg.subject,
        "From": lambda: msg.sender,
        "To": lambda: msg.to,
        "Cc": lambda: msg.cc,
        "Message-ID": lambda: msg.messageId,
        "Date": lambda: format_datetime(msg.date) if msg.date else None,
    }
    for name, value_of in wanted.items():
        if name in mime:
            continue
        try:
            value = value_of()
        except Exception:  # a missing or malformed MAPI property: leave the header out
            continue
        if value:
            mime[name] = " ".join(str(value).split())
