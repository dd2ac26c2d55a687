"""Undo RFC 3676 format=flowed so soft-wrapped paragraphs read as one line."""

from __future__ import annotations


def unflow(text: str, delsp: bool = False) -> str:
    """Join soft line breaks (a line ending in a space) of a format=flowed body."""
    out: list[str] = []
    current: list[str] = []
    depth_of_current = -1
    for line in text.splitlines():
        depth = len(line) - len(line.lstrip(">"))
        body = line[depth:]
        if body.startswith(" "):  # space-stuffing
            body = body[1:]
        if current and depth != depth_of_current:
            out.append(_quoted(depth_of_current, "".join(current)))
            current = []
        depth_of_current = depth
        if body.endswith(" ") and body != "-- ":
            current.append(body[:-1] if delsp else body)
            continue
        current.append(body)
        out.append(_quoted(depth, "".join(current)))
        current = []
    if current:
        out.append(_quoted(depth_of_current, "".join(current)))
    return "\n".join(out)


def _quoted(depth: int, body: str) -> str:
    return (">" * depth + " " + body) if depth else body
