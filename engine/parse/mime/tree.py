"""Visit every part of a parsed MIME tree without recursion (hostile nesting is deep)."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import Message as MimeMessage


def iter_parts(msg: MimeMessage) -> Iterator[MimeMessage]:
    """Every part, depth first in document order, the message itself first."""
    stack = [msg]
    while stack:
        part = stack.pop()
        yield part
        children = getattr(part, "_payload", None)
        if isinstance(children, list):
            stack.extend(reversed([child for child in children if isinstance(child, MimeMessage)]))
