"""Recover the parts of a multipart whose boundary the stdlib parser missed."""

from __future__ import annotations

import re
from email.message import Message as MimeMessage

from engine.parse.mime.bounded import bytes_parser
from engine.parse.mime.headers import unfold

_PARSER = bytes_parser()
_MAX_PARTS = 500


def split_parts(part: MimeMessage) -> list[MimeMessage]:
    """Child messages of a multipart the stdlib left unsplit; [] when none."""
    body = getattr(part, "_payload", None)  # raw: get_payload() decodes 8-bit lossily
    if not isinstance(body, str):
        return []
    digest = part.get_content_type() == "multipart/digest"
    for boundary in _candidates(part):
        children = _split(body, boundary, digest)
        if children:
            return children
    return []


def _candidates(part: MimeMessage) -> list[str]:
    raw = part.get("content-type")
    if raw is None:
        return []
    probe = MimeMessage()
    probe["Content-Type"] = unfold(str(raw))
    boundary = probe.get_boundary()
    if not boundary:
        return []
    found = [boundary, boundary.rstrip()]
    return [b for b in dict.fromkeys(found) if b]


def _split(body: str, boundary: str, digest: bool) -> list[MimeMessage]:
    # RFC 2046: a delimiter line need only START with --boundary.
    delimiter = re.compile(r"^--" + re.escape(boundary) + r"(--)?[^\r\n]*(?:\r?\n|\r|$)", re.M)
    matches = list(delimiter.finditer(body))
    if not matches:
        return []
    children = []
    for current, following in zip(matches, matches[1:] + [None]):
        if current.group(1):  # close delimiter: the rest is epilogue
            break
        end = following.start() if following else len(body)
        chunk = body[current.end() : end]
        if digest and not re.search(r"^content-type:", chunk.split("\n\n", 1)[0], re.I | re.M):
            chunk = "Content-Type: message/rfc822\n" + chunk  # the digest default
        children.append(_PARSER.parsebytes(chunk.encode("ascii", "surrogateescape")))
        if len(children) >= _MAX_PARTS:
            break
    return children
