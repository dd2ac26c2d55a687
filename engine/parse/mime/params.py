"""Read one parameter (a file name) from a raw Content-Type / Content-Disposition value.

The stdlib's compat32 reader turns raw 8-bit bytes into U+FFFD before a
parameter is split out, so raw UTF-8 or GBK file names were lost; this reads
the raw value (8-bit bytes kept as surrogate escapes) and decodes last.
"""

from __future__ import annotations

import re
from itertools import islice
from urllib.parse import unquote_to_bytes

from engine.parse.mime.charset import codec_for

MAX_PARAMS = 256  # parameters read of one value: real ones hold a few, RFC 2231 sections included
# name = "quoted" (an unclosed quote runs to the end) | token up to ";"
_PARAM = re.compile(r'\s*([^\s=;"]+)\s*=\s*("[^"\\]*(?:\\.[^"\\]*)*"?|[^;]*)')  # quotes unrolled: one step a run
_SECTION = re.compile(r"^(?P<name>[^*]+)(?:\*(?P<index>\d+))?(?P<ext>\*)?$")


def raw_params(value: str) -> dict[str, str]:
    """Lower-case parameter name -> raw value (quotes removed) of a header value.

    The first occurrence of a name wins; RFC 2231 sections keep their
    `name*0*` keys for `joined()`.
    """
    found: dict[str, str] = {}
    rest = value.split(";", 1)[1] if ";" in value else ""
    for match in islice(_PARAM.finditer(rest), MAX_PARAMS):
        name, raw = match.group(1).lower(), match.group(2).strip()
        if raw.startswith('"'):
            raw = raw[1:-1] if len(raw) > 1 and raw.endswith('"') else raw[1:]
            raw = raw.replace('\\"', '"').replace("\\\\", "\\")  # other backslashes: Windows paths
        found.setdefault(name, raw)
    return found


def param(value: str, name: str) -> tuple[str | None, str | None]:
    """(value, charset) of parameter `name`, RFC 2231 sections joined and decoded.

    The value keeps raw 8-bit bytes as surrogate escapes when it was not
    RFC 2231-encoded (charset None then): the caller picks their charset.
    """
    params = raw_params(value)
    sections = []
    for key, raw in params.items():
        match = _SECTION.match(key)
        if match and match.group("name") == name and (match.group("index") or match.group("ext")):
            sections.append((int(match.group("index") or 0), bool(match.group("ext")), raw))
    if sections:
        return _joined(sorted(sections))
    plain = params.get(name)
    return (plain, None) if plain else (None, None)


def _joined(sections: list[tuple[int, bool, str]]) -> tuple[str | None, str | None]:
    charset = None
    chunks = []  # joined once: `data +=` per section was quadratic in the number of sections
    for position, (_, extended, raw) in enumerate(sections):
        if extended and position == 0 and raw.count("'") >= 2:
            charset, _, raw = raw.split("'", 2)
        chunk = raw.encode("ascii", "surrogateescape") if not raw.isascii() else raw.encode("ascii")
        chunks.append(unquote_to_bytes(chunk) if extended else chunk)
    data = b"".join(chunks)
    codec = codec_for(charset) if charset else None
    if codec:
        try:
            return data.decode(codec), charset
        except (UnicodeDecodeError, LookupError):
            pass
    return data.decode("ascii", "surrogateescape") or None, None
