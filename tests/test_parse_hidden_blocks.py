"""Base64 blocks of 1 KiB or more skip the stdlib's line-based parser (engine/parse/mime/blobs.py) and come back
byte for byte: the Message, every attachment's bytes and SHA-256 (F-ATT-2 blocks by it) are what parsing the
mail line by line gives, wherever the block sits (a whole body, before a boundary or the end, between text);
and the header and text fast paths give what their regexes give.
"""

from __future__ import annotations

import base64
import random

import pytest

from engine.parse import parse
from engine.parse.mime import blobs


def encoded(size: int, seed: int, eol: str = "\r\n") -> str:
    return base64.encodebytes(random.Random(seed).randbytes(size)).decode().replace("\n", eol)


def multipart(*parts: str, eol: str = "\r\n") -> bytes:
    head = ["From: Ann <ann@acme.test>", "To: help@example.com", "Subject: blocks", "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="b1"', "", "preamble"]
    lines = head + [f"--b1{eol}{part}" for part in parts] + ["--b1--", "epilogue"]
    return eol.join(lines).encode("latin-1")


def attachment(body: str, cte: str = "base64", kind: str = "application/octet-stream", eol: str = "\r\n") -> str:
    return eol.join([f"Content-Type: {kind}", f"Content-Transfer-Encoding: {cte}",
                     'Content-Disposition: attachment; filename="f.bin"', "", body])


ALPHABET_ONLY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdef\r\n" * 60  # a 7bit text part a block could be taken for
MAILS = {
    "a whole base64 body before a boundary": multipart("Content-Type: text/plain\r\n\r\nhello\r\n",
                                                        attachment(encoded(9000, 1))),
    "a block without its last line end, then a boundary": multipart(attachment(encoded(6000, 2).rstrip())),
    "blank lines before the block": multipart(attachment("\r\n\r\n" + encoded(5000, 3))),
    "text after the block in one part": multipart(attachment(encoded(4000, 4) + "=== not base64 ===\r\n", "7bit",
                                                             "text/plain")),
    "an alphabet-only 7bit part: its last line end counts": multipart(attachment(ALPHABET_ONLY, "7bit", "text/plain")),
    "two blocks in one part": multipart(attachment(encoded(3000, 5) + "-- cut --\r\n" + encoded(3000, 6), "7bit",
                                                   "text/plain")),
    "LF line ends": multipart(attachment(encoded(5000, 7, "\n"), eol="\n"), eol="\n"),
    "a single-part base64 mail, the block last": (
        "From: a@acme.test\r\nSubject: x\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + encoded(8000, 8)).encode(),
    "a forwarded mail holding the block": multipart(
        "Content-Type: message/rfc822\r\n\r\n" + multipart(attachment(encoded(4000, 9))).decode("latin-1")),
}


@pytest.mark.parametrize("name", list(MAILS))
def test_a_hidden_block_parses_as_the_line_parser_reads_it_F_ATT_2(name, monkeypatch):
    raw = MAILS[name]
    assert blobs.hide(raw, blobs.SPEED_RUN, blobs.SPEED_SIZE)[1], "the mail holds a block parse() hides"
    hidden = parse(raw)
    monkeypatch.setattr(blobs, "SPEED_RUN", 1 << 40)  # nothing hidden: the stdlib parser reads every line
    monkeypatch.setattr(blobs, "SPEED_SIZE", 1 << 40)
    whole = parse(raw)
    assert hidden == whole
    assert [(a.sha256, a.data) for a in hidden.attachments] == [(a.sha256, a.data) for a in whole.attachments]


@pytest.mark.parametrize("value", ["plain", "  padded  ", "folded\r\n continued", "stray\nbreak", "cr\ronly",
                                   "Grüße \udcff lone", "日本\ud800", "", "\r\n"])
def test_header_and_text_fast_paths_equal_the_regexes(value):
    """unfold and no_surrogates skip their regexes when nothing can match; the answer is the same."""
    from engine.parse.mime.charset import _SURROGATE, no_surrogates
    from engine.parse.mime.headers import _FOLD, _NEWLINES, unfold

    assert unfold(value) == _NEWLINES.sub(" ", _FOLD.sub("", value)).strip()
    assert no_surrogates(value) == _SURROGATE.sub("\ufffd", value)
