"""Decode header values: folding, raw 8-bit bytes, RFC 2047 words, addresses, ids, dates."""

from __future__ import annotations

import binascii
import re
from datetime import timezone
from itertools import islice
from email.utils import parsedate_to_datetime

from engine.parse.mime.addresses import address_list
from engine.parse.mime.charset import decode_text, guess_text, no_surrogates

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_NEWLINES = re.compile(r"[\r\n]+")
# C0 and C1 controls and the Unicode line separators: str.splitlines() and
# so the email package's folding break lines at all of them.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Lenient on purpose: broken mailers put spaces inside words or omit the
# white space around them.
_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?([^?]*)\?=")
_GAP = re.compile(r"[ \t\r\n]*")
_ANGLE_ID = re.compile(r"<([^<>]*)>")
MAX_WORDS = 1000  # encoded words decoded per header value; real headers hold a few
MAX_ADDRESS_LINE = 64 * 1024  # characters of an address list read


def unfold(value: str) -> str:
    """One line: folding removed, stray line breaks turned into spaces."""
    if "\n" not in value and "\r" not in value:  # most values: nothing for either regex (~30x cheaper)
        return value.strip()
    return _NEWLINES.sub(" ", _FOLD.sub("", value)).strip()


def to_text(value: str, codec: str | None = None) -> str:
    """A raw header string whose 8-bit bytes were surrogate-escaped, as text.

    UTF-8 first; else `codec`, the charset chosen for this message's raw
    header bytes (see parser._raw_header_codec); else a guess.
    """
    if value.isascii():
        return value
    try:
        data = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # already real text
        return value
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if codec:
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            pass
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


def decode_header(value: str, defects: list[str] | None = None, codec: str | None = None) -> str:
    """A raw header value as readable one-line text (no control characters)."""
    return no_surrogates(one_line(decode_words(to_text(unfold(value), codec), defects)))


def one_line(text: str) -> str:
    """Control characters and line separators (CR/LF from encoded words included) as spaces: no header injection."""
    return _CONTROL.sub(" ", text) if _CONTROL.search(text) else text


def addresses(value: str | None, defects: list[str] | None = None, codec: str | None = None,
              field: str = "address") -> tuple[tuple[str, str], ...]:
    """(address, display name) pairs from an address-list header.

    The structure is read before encoded words are decoded, so a decoded
    comma or bracket in a display name cannot split or hide an address.
    """
    if not value:
        return ()
    line = to_text(unfold(value), codec)
    if len(line) > MAX_ADDRESS_LINE:  # thousands of recipients: hostile, and no ticket needs them
        line = line[: line.rfind(",", 0, MAX_ADDRESS_LINE) + 1 or MAX_ADDRESS_LINE]
        if defects is not None:
            defects.append(f"{field}: address list cut at {MAX_ADDRESS_LINE // 1024} KB")
    return address_list(line, lambda name: no_surrogates(one_line(decode_words(name, defects))), defects, field)


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
