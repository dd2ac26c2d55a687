"""Keep base64 blocks out of the line-based stdlib parser: it costs ~8x a mail's size in memory, and
~1 µs a line (most of an ordinary mail's lines are its encoded attachments)."""

from __future__ import annotations

import re
import secrets
from email.message import Message as MimeMessage

from engine.parse.mime.tree import iter_parts

MIN_SIZE = 1 << 20  # below 1 MB the parser's memory does not matter
MIN_RUN = 65536
# What parse() hides, for speed: every block of 1 KiB or more in any mail (~20 % of an ordinary
# mail's parse). The token costs a dict entry and a string replace; below that the lines are few.
SPEED_RUN, SPEED_SIZE = 1024, 0
# A long run of base64 alphabet and line ends: an encoded attachment body.
# No MIME boundary can hide in it (delimiter lines start with "--") nor a
# header line (it needs ":"). A single character class keeps the regex
# engine from stacking state per line, so the scan itself costs no memory.
# The lookbehind makes a match start only where a run starts: without it a run
# just short of 64 KiB was rescanned from each of its positions (quadratic: a
# 2 MB mail of such runs took minutes).
_RUN = re.compile(rb"(?<![A-Za-z0-9+/=\r\n])[A-Za-z0-9+/=\r\n]{1024,}")


def hide(raw: bytes, min_run: int = MIN_RUN, min_size: int = MIN_SIZE) -> tuple[bytes, dict[str, memoryview]]:
    """The mail with each base64 block of `min_run` bytes or more replaced by a one-line token, and the
    blocks; a mail under `min_size` bytes as it is."""
    if len(raw) < min_size:
        return raw, {}
    nonce = secrets.token_hex(8)
    view = memoryview(raw)
    pieces: list[bytes | memoryview] = []
    blobs: dict[str, memoryview] = {}
    last = 0
    for match in _RUN.finditer(raw):
        start, end = _whole_lines(raw, match.start(), match.end())
        if end - start < max(min_run, 1024):
            continue
        token = f"MAILGATE-BLOB-{nonce}-{len(blobs)}"
        pieces += [view[last:start], token.encode("ascii") + b"\n"]
        blobs[token] = view[start:end]
        last = end
    if not blobs:
        return raw, {}
    pieces.append(view[last:])
    return b"".join(pieces), blobs


def _whole_lines(raw: bytes, start: int, end: int) -> tuple[int, int]:
    # Start at a line start, past blank lines (the header/body separator
    # stays visible to the parser); end just after a line end.
    if start > 0 and raw[start - 1 : start] != b"\n":
        start = raw.find(b"\n", start, end) + 1 or end
    while start < end and raw[start] in b"\r\n":
        start += 1
    end = raw.rfind(b"\n", start, end) + 1
    return start, max(start, end)


def restore(msg: MimeMessage, blobs: dict[str, memoryview]) -> None:
    """Put the hidden blocks back into the payloads of the parsed tree."""
    if not blobs:
        return
    for part in iter_parts(msg):
        body = getattr(part, "_payload", None)
        if isinstance(body, str) and "MAILGATE-BLOB-" in body:
            part._payload = _restored(body, blobs)


def _restored(body: str, blobs: dict[str, memoryview]) -> str:
    """The payload the parser would have made of the mail itself, byte for byte.

    A token line is "TOKEN\n" in the payload, or "TOKEN" at its end where a boundary line
    followed: the parser took that line end off, as it would have taken the block's last one.
    """
    if body in blobs:  # the usual cases, the whole body: no second copy of it
        return _without_eol(blobs[body])
    if body[:-1] in blobs and body[-1] == "\n":
        return str(blobs[body[:-1]], "ascii")
    for token, block in blobs.items():
        if token in body:
            if body.endswith(token):
                body = body[: -len(token)] + _without_eol(block)
            body = body.replace(token + "\n", str(block, "ascii"))
    return body


def _without_eol(block: memoryview) -> str:
    end = len(block)
    if block[end - 2 : end] == b"\r\n":
        end -= 2
    elif block[end - 1 : end] in (b"\r", b"\n"):
        end -= 1
    return str(block[:end], "ascii")
