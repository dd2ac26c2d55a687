"""Turn bytes in a named (possibly wrong or unknown) charset into readable text."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from functools import lru_cache

# Labels mailers really send that Python does not know, or knows under a
# different meaning: map them to the codec browsers use for the same label.
_ALIASES = {
    "x-unknown": "",
    "unknown-8bit": "",
    "x-user-defined": "",
    "default": "",
    "unknown": "",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-8-e": "iso-8859-8",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "x-sjis": "cp932",
    "shift_jis": "cp932",
    "x-gbk": "gbk",
    "gb2312": "gb18030",  # senders label GBK/GB18030 text as gb2312
    "gbk": "gb18030",
    "big5": "big5hkscs",
    "windows-874": "cp874",
    "iso-8859-1": "cp1252",  # as browsers do: C1 bytes are almost always cp1252
    "latin1": "cp1252",
    "us-ascii": "cp1252",  # 8-bit bytes under us-ascii are mostly cp1252
    "ascii": "cp1252",
    "utf8": "utf-8",
    "utf-7": "utf-7",
    "x-utf-7": "utf-7",
}


@lru_cache(maxsize=256)
def codec_for(label: str | None) -> str | None:
    """The Python codec name for a MIME charset label, or None when unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = name.split("*", 1)[0]  # RFC 2231 language suffix: utf-8*en
    name = _ALIASES.get(name, name)
    if not name:
        return None
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    # Codecs that are not text encodings (e.g. "base64", "zlib") must not be
    # used even if a mail names them, nor Python's own text codecs that no
    # mailer sends and that make lone surrogates (`\\ud800` in unicode_escape).
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_MAIL:
        return None
    return info.name


_NOT_MAIL = {"unicode-escape", "raw-unicode-escape", "punycode", "idna", "undefined", "palmos"}


def decode_text(data: bytes, label: str | None = None) -> tuple[str, str | None]:
    """Decode `data`; returns (text, defect) where defect says what went wrong."""
    codec = codec_for(label)
    if codec in _LAX and not data.isascii() and is_utf8(data):
        # 8-bit bytes labelled ascii/latin-1 are, in today's mail, mostly UTF-8
        return data.decode("utf-8"), None
    if codec is not None:
        try:
            return no_surrogates(data.decode(codec)), None
        except (UnicodeDecodeError, LookupError):
            pass
        except Exception:  # some codecs (utf-7, iso2022) raise odd errors
            pass
        defect = f"text not valid {label}"
    elif label and codec_for(label) is None and label.strip().lower() not in _ALIASES:
        defect = f"unknown charset {label.strip()[:40]}"
    else:
        defect = None
    return guess_text(data), defect


_LAX = {"cp1252", "ascii", "latin_1", "iso8859-1"}


def is_utf8(data: bytes) -> bool:
    """True when `data` is valid UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _legacy_bytes(error: UnicodeDecodeError) -> tuple[str, int]:
    # The bytes that are not UTF-8 in a mostly-UTF-8 text (a footer added by
    # a list server, a pasted quote) are nearly always cp1252.
    bad = error.object[error.start : error.end]
    return bad.decode("cp1252") if _cp1252_ok(bad) else bad.decode("latin-1"), error.end


codecs.register_error("mailgate-legacy", _legacy_bytes)


_SURROGATE = re.compile("[\ud800-\udfff]")


def no_surrogates(text: str) -> str:
    """Lone surrogates (from UTF-7, UTF-16 or an escaped byte) as U+FFFD: they cannot be written out."""
    if text.isascii():  # O(1) in CPython
        return text
    try:
        text.encode("utf-8")  # fails exactly on a surrogate, ~6x faster than searching for one
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


# Guesses worth more than cp1252 for header bytes: a detector that says
# "cp1250" or "mac_roman" for German text is only unsure.
_TRUSTED_GUESSES = {
    "gb18030", "gbk", "gb2312", "big5", "big5hkscs", "cp950", "cp932", "shift_jis", "shift_jis_2004",
    "euc_jp", "euc_jis_2004", "iso2022_jp", "cp949", "euc_kr", "koi8_r", "koi8_u", "cp1251",
    "iso8859_5", "cp866", "mac_cyrillic", "cp1253", "iso8859_7", "cp1255", "iso8859_8", "cp1256",
    "iso8859_6", "cp874", "tis_620", "cp1254", "iso8859_9", "cp1257", "iso8859_13",
}


def header_codec(data: bytes, declared: Iterable[str]) -> tuple[str, str]:
    """(codec, how it was chosen) for a mail's raw 8-bit header bytes that are not UTF-8.

    The charset the mail's own parts declare comes first (GBK subjects come
    with GBK bodies), then charset-normalizer on all those bytes together,
    then cp1252.
    """
    for label in declared:
        codec = codec_for(label)
        if not codec or codec == "utf-8" or label.strip().lower() in ("us-ascii", "ascii"):
            continue  # no evidence: these bytes are not UTF-8, and ascii says nothing
        try:
            data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
        return codec, f"the charset {label.strip()[:40]} its parts declare"
    guess = _normalizer_codec(data)
    if guess:
        return guess, "guessed"
    return ("cp1252" if _cp1252_ok(data) else "latin-1"), "fallback"


def _normalizer_codec(data: bytes) -> str | None:
    if len(data) < 8:
        return None
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[:65536]).best()
    except Exception:  # the guesser is a nicety
        return None
    if best is None or best.encoding not in _TRUSTED_GUESSES:
        return None
    try:
        data.decode(best.encoding)
    except (UnicodeDecodeError, LookupError):
        return None
    return best.encoding


def guess_text(data: bytes) -> str:
    """Best readable text for bytes of unknown charset; never raises."""
    if data.isascii():
        return data.decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if _mostly_utf8(data):  # UTF-8 with some stray legacy bytes
        return data.decode("utf-8", errors="mailgate-legacy")
    if len(data) >= 32:
        guess = _normalizer_guess(data)
        if guess is not None:
            return guess
    # cp1252 leaves five bytes undefined; latin-1 maps every byte.
    return data.decode("cp1252", errors="strict") if _cp1252_ok(data) else data.decode("latin-1")


def _mostly_utf8(data: bytes) -> bool:
    # Legacy 8-bit text (koi8-r, cp1251…) forms valid UTF-8 pairs only by
    # chance: require most non-ASCII bytes to sit in valid sequences.
    high = sum(1 for byte in data if byte >= 0x80)
    covered = sum(len(found) for found in _UTF8_SEQUENCE.findall(data))
    return covered * 3 >= high * 2


def _cp1252_ok(data: bytes) -> bool:
    return not any(b in data for b in (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d"))


def _normalizer_guess(data: bytes) -> str | None:
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[:65536]).best()
        if best is None or best.encoding is None:
            return None
        return no_surrogates(data.decode(best.encoding, errors="replace"))
    except Exception:  # the guesser is a nicety; fall back to cp1252/latin-1
        return None
