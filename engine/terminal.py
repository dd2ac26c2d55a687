"""Text from mail made safe to print on a terminal: control characters shown as escapes, never obeyed."""

from __future__ import annotations

import re

# C0 and C1 controls (ESC starts terminal commands: colours, cursor moves, window
# titles, OSC 8 links), DEL, and the bidi overrides/isolates that make text read
# differently from how it is stored (CVE-2021-42574 "Trojan Source").
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match) -> str:
    char = match.group()
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def safe(text: object) -> str:
    """`text` for a terminal: line breaks and tabs kept, every other control character escaped."""
    return _UNSAFE.sub(_escape, str(text))


def safe_line(text: object, width: int | None = None) -> str:
    """`text` as one terminal line (line breaks escaped too), cut to `width` characters with '…'."""
    line = _UNSAFE_ONE_LINE.sub(_escape, str(text))
    if width is not None and len(line) > width:
        return line[: max(0, width - 1)] + "…"
    return line
