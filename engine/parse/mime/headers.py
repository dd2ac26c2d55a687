"""Decode header values: folding, raw 8-bit bytes, RFC 2047 words, addresses, ids, dates."""

from __future__ import annotations

import binascii
import re
from datetime import timezone
from itertools import islice
from email.utils import getaddresses, parsedate_to_datetime

from engine.parse.mime.charset import decode_text, guess_text

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_NEWLINES = re.compile(r"[\r\n]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# Lenient on purpose: broken mailers put spaces inside words or omit the
# white space around them.
_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?([^?]*)\?=")
_GAP = re.compile(r"[ \t\r\n]*")
_ANGLE_ID = re.compile(r"<([^<>]*)>")
MAX_WORDS = 1000  # encoded words decoded per header value; real headers hold a few
_ADDR_SPEC = re.compile(r"[^\s<>()\[\],;:\"]+@[^\s<>()\[\],;:\"]+")


def unfold(value: str) -> str:
    """One line: folding removed, stray line breaks turned into spaces."""
    return _NEWLINES.sub(" ", _FOLD.sub("", value)).strip()


def to_text(value: str) -> str:
    """A raw header string whose 8-bit bytes were surrogate-escaped, as text."""
    if value.isascii():
        return value
    try:
        data = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # already real text
        return value
    return guess_text(data)


def decode_words(value: str, defects: list[str] | None = None) -> str:
    """Decode RFC 2047 encoded words; undecodable words stay as written.

    Only the first MAX_WORDS are decoded: the rest of a hostile header (80,000 words
    in a Subject) stays as written, so a header costs the same whatever its length.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pos = 0
    run: list[tuple[str, bytes]] = []  # adjacent words, merged per charset
    for match in islice(_WORD.finditer(value), MAX_WORDS):
        gap = value[pos : match.start()]
        if not (run and _GAP.fullmatch(gap)):
            _flush(run, out, defects)
            out.append(gap)
        data = _word_bytes(match.group(2), match.group(3))
        if data is None:
            _flush(run, out, defects)
            out.append(match.group(0))
        else:
            run.append((match.group(1), data))
        pos = match.end()
    _flush(run, out, defects)
    if defects is not None and _WORD.search(value, pos):
        defects.append(f"header: more than {MAX_WORDS} encoded words, the rest left as written")
    out.append(value[pos:])
    return "".join(out)


def _word_bytes(encoding: str, text: str) -> bytes | None:
    try:
        if encoding in "qQ":
            return binascii.a2b_qp(text.encode("ascii", "replace"), header=True)
        text = text.strip()
        return binascii.a2b_base64(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def _flush(run: list[tuple[str, bytes]], out: list[str], defects: list[str] | None) -> None:
    # Multi-byte characters are often split across words: join bytes of the
    # same charset before decoding (one join per charset change: linear).
    start = 0
    while start < len(run):
        charset = run[start][0]
        end = start + 1
        while end < len(run) and run[end][0].lower() == charset.lower():
            end += 1
        text, defect = decode_text(b"".join(data for _, data in run[start:end]), charset)
        if defect and defects is not None:
            defects.append(f"header: {defect}")
        out.append(text)
        start = end
    run.clear()


def decode_header(value: str, defects: list[str] | None = None) -> str:
    """A raw header value as readable one-line text (no control characters)."""
    return one_line(decode_words(to_text(unfold(value)), defects))


def one_line(text: str) -> str:
    """Control characters (CR/LF from encoded words included) as spaces: no header injection."""
    return _CONTROL.sub(" ", text) if _CONTROL.search(text) else text


def addresses(value: str | None, defects: list[str] | None = None) -> tuple[tuple[str, str], ...]:
    """(address, display name) pairs from an address-list header."""
    if not value:
        return ()
    line = to_text(unfold(value))
    found = []
    try:
        pairs = getaddresses([line])
    except Exception:  # the stdlib parser has crashed on hostile input before
        pairs = []
    for name, addr in pairs:
        addr = addr.strip()
        if "@" not in addr and not (addr and not name):
            continue
        found.append((addr, _clean_name(decode_words(name, defects), addr)))
    if not found:
        found = [(addr, "") for addr in _ADDR_SPEC.findall(line)]
    return tuple(found)


def _clean_name(name: str, addr: str) -> str:
    name = " ".join(one_line(name).split()).strip("'\" ")
    return "" if name.lower() == addr.lower() else name


def return_path(value: str | None) -> str | None:
    """The Return-Path address; '' for the null sender `<>`; None when absent."""
    if value is None:
        return None
    line = unfold(to_text(value))
    match = _ANGLE_ID.search(line)
    addr = match.group(1) if match else line
    return addr.strip()


def message_ids(value: str | None) -> tuple[str, ...]:
    """Message-IDs in a header, without angle brackets, in order."""
    if not value:
        return ()
    line = unfold(to_text(value))
    ids = ["".join(found.split()) for found in _ANGLE_ID.findall(line)]
    if not ids:  # some mailers drop the brackets
        ids = [token.strip("<>,;") for token in line.split() if "@" in token]
    return tuple(item for item in ids if item)


def iso_date(value: str | None) -> str | None:
    """The Date header as ISO 8601 (UTC when the zone is unknown), or None."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(unfold(to_text(value)))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.isoformat()
