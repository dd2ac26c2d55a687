"""Raw mail as the store keeps it for `mailgate explain`: its SHA-256 and its bytes compressed, made once (in
the parse worker, beside the parse) and read back byte for byte."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import zstandard

ZSTD = "zstd"  # the store's raw_mail.codec for a compressed row; NULL (None) is the bytes as they came
# Level 1: as small as zlib's best on mail (the realistic mailbox to 70 %: base64 attachments shrink
# to ~75 %, text far more) at a tenth of zlib's CPU, ~0.05 ms for a 30 KiB mail against ~0.6 ms for
# zlib level 1; zstd's default level 3 made it no smaller and cost a third more.
_LEVEL = 1
_mine = threading.local()  # a compressor is reused (making one costs as much as compressing a mail), never shared


@dataclass(frozen=True)
class Packed:
    """One mail's bytes as stored: `content` is the mail compressed with `codec`, or as it came (None)."""

    sha256: str  # hex, of the mail's own bytes: the key a log entry names
    length: int  # of the mail's own bytes, to tell that a Packed belongs to the bytes in hand
    content: bytes
    codec: str | None


def pack(raw: bytes) -> Packed:
    """`raw` hashed and compressed; kept as it came when compressing would not make it smaller."""
    squeezed = _compressor().compress(raw)
    if len(squeezed) < len(raw):
        return Packed(hashlib.sha256(raw).hexdigest(), len(raw), squeezed, ZSTD)
    return Packed(hashlib.sha256(raw).hexdigest(), len(raw), raw, None)


def _compressor() -> zstandard.ZstdCompressor:
    compressor = getattr(_mine, "compressor", None)
    if compressor is None:
        compressor = _mine.compressor = zstandard.ZstdCompressor(level=_LEVEL)
    return compressor


def packed_for(raw: bytes, packed: Packed | None) -> Packed:
    """`packed` when it was made of `raw` (the parse worker's), else `raw` packed here."""
    return packed if packed is not None and packed.length == len(raw) else pack(raw)


def unpack(content: bytes, codec: str | None) -> bytes:
    """The mail's own bytes from a stored row, compressed or not (rows kept before compression: codec None)."""
    if codec is None:
        return content
    if codec != ZSTD:
        raise ValueError(f"raw mail stored with an unknown codec {codec!r}: a newer mailgate wrote it")
    return zstandard.ZstdDecompressor().decompress(content)
