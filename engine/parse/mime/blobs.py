"""Keep big base64 blocks out of the line-based stdlib parser, which costs ~8x a mail's size in memory."""

from __future__ import annotations

import re
import secrets
from email.message import Message as MimeMessage

from engine.parse.mime.tree import iter_parts

MIN_SIZE = 1 << 20  # below 1 MB the parser's overhead does not matter
# A long run of base64 alphabet and line ends: an encoded attachment body.
# No MIME boundary can hide in it (delimiter lines start with "--") nor a
# header line (it needs ":"). A single character class keeps the regex
# engine from stacking state per line, so the scan itself costs no memory.
# The lookbehind makes a match start only where a run starts: without it a run
# just short of 64 KiB was rescanned from each of its positions (quadratic: a
# 2 MB mail of such runs took minutes).
_RUN = re.compile(rb"(?<![A-Za-z0-9+/=\r\n])[A-Za-z0-9+/=\r\n]{65536,}")


def hide(raw: bytes) -> tuple[bytes, dict[str, memoryview]]:
    """The mail with each big base64 block replaced by a one-line token, and the blocks."""
    if len(raw) < MIN_SIZE:
        return raw, {}
    nonce = secrets.token_hex(8)
    view = memoryview(raw)
    pieces: list[bytes | memoryview] = []
    blobs: dict[str, memoryview] = {}
    last = 0
    for match in _RUN.finditer(raw):
        start, end = _whole_lines(raw, match.start(), match.end())
        if end - start < 65536:
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
            if body.strip() in blobs:  # the usual case: the whole body; avoid a second copy
                part._payload = str(blobs[body.strip()], "ascii")
                continue
            for token, block in blobs.items():
                if token in body:
                    body = re.sub(re.escape(token) + r"\r?\n", lambda _m: str(block, "ascii"), body)
            part._payload = body
