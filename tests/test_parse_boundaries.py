"""The feed parser's boundary lines are matched as its own regex would match them (engine/parse/mime/boundaries.py)."""

from __future__ import annotations

import email.feedparser
import re

import pytest

from engine.parse import parse
from engine.parse.mime.boundaries import _Re

TAIL = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
BOUNDARIES = ["simple", "=_Part_1.2$^*+?{}[]|()\\", "a--", "", "ünï cødé", " spaced ", "--", "x.y"]
ENDINGS = ["", "\n", "\r\n", "\r", "--", "--\n", "--\r\n", "  \t\n", "-- \r\n", "---\n", " x\n", "--x", "\n\n", "\t"]


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_each_boundary_line_matches_as_the_stdlib_regex_does(boundary):
    separator = "--" + boundary
    pattern = "(?P<sep>" + re.escape(separator) + TAIL
    real, ours = re.compile(pattern), _Re.compile(pattern)
    assert not isinstance(ours, re.Pattern)  # the stand-in, not a compiled regex
    for line in [separator + ending for ending in ENDINGS] + ["", "-" + separator, separator[:-1], "x" + separator]:
        want, got = real.match(line), ours.match(line)
        assert (want is None) == (got is None), line
        if want:
            assert [want.group(g) for g in ("end", "ws", "linesep")] == [got.group(g) for g in ("end", "ws", "linesep")]


def test_other_patterns_are_compiled_by_re():
    assert isinstance(_Re.compile(r"\r\n|\r|\n"), re.Pattern)
    assert isinstance(_Re.compile("(?P<sep>" + "unescaped.dot" + TAIL), re.Pattern)  # not re.escape's output


def test_a_nested_multipart_parses_alike_with_and_without_it(monkeypatch):
    raw = (b"Content-Type: multipart/mixed; boundary=\"outer.$\"\r\n\r\npreamble\r\n--outer.$\r\n"
           b"Content-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\nContent-Type: text/plain\r\n\r\n"
           b"plain\r\n--inner\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--inner--\r\n--outer.$ \r\n"
           b"Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n"
           b"--outer.$--\r\nepilogue\r\n")
    ours = parse(raw)
    monkeypatch.setattr(email.feedparser, "re", re)
    assert parse(raw) == ours and ours.text.strip() == "plain" and len(ours.attachments) == 1
