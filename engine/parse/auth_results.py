"""Read Authentication-Results headers (RFC 8601): who vouches (authserv-id) and each method's result."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_RESULTS = 64  # per header; a real one holds a handful (spf, dkim per signature, dmarc, arc...)
_METHOD = re.compile(r"^([a-z0-9][a-z0-9_-]*)(?:/\d+)?=([a-z]+)$")
_PROPERTY = re.compile(r"^([a-z0-9_-]+\.[a-z0-9_-]+)=(.*)$")
_SPACES_AROUND_EQUALS = re.compile(r"\s*=\s*")


@dataclass(frozen=True)
class MethodResult:
    """One `method=result` with its properties, e.g. dkim=pass header.d=example.com."""

    method: str
    result: str
    properties: tuple[tuple[str, str], ...] = ()

    def prop(self, name: str) -> str | None:
        """A property's value (lower case), e.g. prop('header.d'); None when absent."""
        return next((value for key, value in self.properties if key == name), None)


@dataclass(frozen=True)
class AuthResults:
    """One Authentication-Results header: the server that wrote it and what it found."""

    authserv_id: str
    results: tuple[MethodResult, ...]


def parse_authentication_results(value: str) -> AuthResults | None:
    """The header's content, lower-cased; None when it has no authserv-id (not RFC 8601)."""
    segments = _split(_uncomment(value.lower()))
    head = segments[0].split()
    if not head or "=" in head[0]:
        return None  # starts with a result: no authserv-id to trust
    results = tuple(r for r in map(_method_result, segments[1:MAX_RESULTS + 1]) if r is not None)
    return AuthResults(head[0], results)


def _method_result(segment: str) -> MethodResult | None:
    words = _SPACES_AROUND_EQUALS.sub("=", segment.strip()).split()
    match = _METHOD.match(words[0]) if words else None
    if match is None:
        return None  # "none" (no result) or something we cannot read: it vouches for nothing
    properties = tuple((m.group(1), m.group(2).strip('"')) for m in map(_PROPERTY.match, words[1:]) if m)
    return MethodResult(match.group(1), match.group(2), properties)


_PARENS = re.compile(r"([()])")


def _uncomment(text: str) -> str:
    """Drop (comments), nested ones too, outside quoted strings; linear in the length."""
    if "(" not in text:
        return text  # nothing to drop: the walk below would copy every character
    if '"' not in text and "\\" not in text:
        return _drop_parenthesised(text)
    return _walk_uncomment(text)


def _walk_uncomment(text: str) -> str:
    """_uncomment a character at a time: what quotes and escapes need."""
    out, depth, quoted, escaped = [], 0, False, False
    for char in text:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
        elif quoted:
            quoted = char != '"'
            out.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth == 0:
            quoted = char == '"'
            out.append(char)
    return "".join(out)


def _drop_parenthesised(text: str) -> str:
    """_uncomment for text without quotes or backslashes, a run of text at a time instead of a character."""
    out, depth = [], 0
    for piece in _PARENS.split(text):
        if piece == "(":
            depth += 1
        elif piece == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(piece)
    return "".join(out)


def _split(text: str) -> list[str]:
    """Split at semicolons outside quoted strings."""
    if '"' not in text:
        return text.split(";")
    return _walk_split(text)


def _walk_split(text: str) -> list[str]:
    """_split a character at a time: what quotes need."""
    parts, current, quoted = [], [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts
