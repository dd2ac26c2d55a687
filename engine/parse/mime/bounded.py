"""The stdlib's compat32 Message and parsers, with MIME parameters read in linear time.

The stdlib splits a Content-Type or Content-Disposition value by copying the rest of
it after every parameter and recounting its quotes from the start (email.message.
_parseparam): 20 KB of ';' after an open quote took 3 s, 1 MB hours, and the value is
split again for every get_param(), get_content_charset() and get_boundary().
"""

from __future__ import annotations

import re
from email import policy, utils
from email.message import Message
from email.parser import BytesParser, HeaderParser

from engine.parse.mime import boundaries
from engine.parse.mime.params import MAX_PARAMS

boundaries.install()  # the feed parser's boundary regex built once, not per multipart

_NEXT = re.compile(r'(?<!\\)"|;')  # an unescaped quote, or a separator
_CLOSING = re.compile(r'(?<!\\)"')


def split_params(value: str, limit: int = MAX_PARAMS) -> list[str]:
    """What email.message._parseparam returns for `value` (its first `limit` + 1 items), in linear time.

    A ';' inside double quotes (a backslash escapes a quote) does not split; a quote
    that never closes keeps the rest of the value in one piece.
    """
    pieces: list[str] = []
    start = position = 0
    while len(pieces) <= limit:
        found = _NEXT.search(value, position)
        if found is None:
            break
        if found.group() == ";":
            pieces.append(_piece(value[start:found.start()]))
            start = position = found.end()
            continue
        closing = _CLOSING.search(value, found.end())
        if closing is None:
            break
        position = closing.end()
    else:
        return pieces
    pieces.append(_piece(value[start:]))
    return pieces


def _piece(text: str) -> str:
    if "=" in text:
        name, _, rest = text.partition("=")
        text = name.strip().lower() + "=" + rest.strip()
    return text.strip()


class BoundedMessage(Message):
    """email.message.Message (compat32) with the parameter reading above."""

    def _get_params_preserve(self, failobj, header):
        missing = object()
        value = self.get(header, missing)
        if value is missing:
            return failobj
        params = []
        for piece in split_params(str(value)):
            name, sep, val = piece.partition("=")
            params.append((name.strip(), val.strip()) if sep else (piece.strip(), ""))
        return utils.decode_params(params)


def bytes_parser() -> BytesParser:
    """A compat32 BytesParser that builds BoundedMessages."""
    return BytesParser(BoundedMessage, policy=policy.compat32)


def header_parser() -> HeaderParser:
    """A compat32 HeaderParser that builds BoundedMessages."""
    return HeaderParser(BoundedMessage, policy=policy.compat32)
