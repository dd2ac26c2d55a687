"""Terminal output: text from mail is shown, never obeyed (control characters written as escapes)."""

from __future__ import annotations

import re
import sys
from contextlib import contextmanager
from typing import Iterator, TextIO

# C0 but tab and newline, DEL, C1 (0x9b is a one-byte CSI), bidi marks (also the Arabic
# letter mark), embeddings, overrides and isolates, line and paragraph separators: a
# mail's Subject holding a screen clear, an OSC 52 clipboard write or a hyperlink is
# shown, not run.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_LINE_BREAKS = re.compile("[\t\n]")


def escape(text: str) -> str:
    """`text` with every control character written as \\uXXXX (also valid inside JSON strings)."""
    return _CONTROL.sub(lambda match: f"\\u{ord(match.group(0)):04x}", text.replace("\r\n", "\n"))


def safe_line(text: object, width: int | None = None) -> str:
    """`text` escaped as one line (tabs and line breaks too: a column stays a column), cut to `width` with '…'."""
    line = _LINE_BREAKS.sub(lambda match: f"\\u{ord(match.group(0)):04x}", escape(str(text)))
    if width is not None and len(line) > width:
        return line[: max(0, width - 1)] + "…"
    return line


class SafeStream:
    """A text stream that escapes control characters on their way out; the rest is the stream's own."""

    def __init__(self, stream: TextIO):
        self.unescaped = stream  # for the poller's own progress line (a deliberate \r)

    def write(self, text: str) -> int:
        self.unescaped.write(escape(text))
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str):
        return getattr(self.unescaped, name)


@contextmanager
def safe_terminal() -> Iterator[None]:
    """sys.stdout and sys.stderr escaped while a command runs (and its log lines with them)."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = SafeStream(out), SafeStream(err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err


def write_raw(data: bytes) -> None:
    """Raw bytes (a quarantined mail) to a file or pipe as they are; to a terminal escaped."""
    stream = getattr(sys.stdout, "unescaped", sys.stdout)
    if stream.isatty():
        sys.stdout.write(data.decode("utf-8", "replace"))
    else:
        stream.buffer.write(data)
