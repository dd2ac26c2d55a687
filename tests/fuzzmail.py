"""Mail for the fuzz test (tests/test_fuzz.py) and the fuzz campaign (bench/fuzz_campaign.py).

Real mail from tests/corpus and tests/cases, mutated the ways that made parse() slow
before (issue 16): a piece of the mail or a MIME-significant token repeated thousands
of times, headers repeated, bytes flipped, mails cut or spliced; and mail generated
from scratch (random headers and MIME trees). Each input is parsed and evaluated
against the shipped rules.
"""

from __future__ import annotations

import gzip
import time
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from hypothesis import strategies as st

REPO = Path(__file__).resolve().parent.parent
SLOW_INPUTS = REPO / "tests" / "slow_inputs"
MAX_SIZE = 2_000_000  # bytes: enough to show super-linear work, small enough for many inputs
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)

# What a parser splits, counts or nests on: repeated, each once made parse() slow or deep.
TOKENS = (
    b"=?utf-8?q?a?= ", b"=?iso-8859-1?b?4Q==?=", b"<div>", b"<b id=1>", b"</x>", b"<table><tr><td>",
    b"\r\n ", b";", b'"', b'; a="', b"; filename*0*=a", b"--b\r\n", b"\r\n--", b"<", b">", b"\\",
    b"A" * 76 + b"\r\n", b"AAAA-", b"=\r\n", b"=3D", b"@", b"<a@b>", b"(", b")", b",", b":",
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n", b"Content-Type: message/rfc822\r\n\r\n",
    b"begin 644 x\r\n", b"> ", b"On Mon, 1 Jan 2024, A <a@b.c> wrote:\r\n", b"#close ", b"[Ticket#1] ",
    b"\x00", b"\xff\xfe", b"\xe2\x80\xae", b"url(", b"style=\"", b"&#x", b"<!--",
)
COUNTS = (2, 10, 100, 1_000, 10_000, 50_000, 200_000)


@lru_cache(maxsize=1)
def seeds() -> tuple[bytes, ...]:
    """Every 8th mail of the vendored corpus (in name order) and every golden case mail."""
    corpus = sorted(p for p in (REPO / "tests" / "corpus").rglob("*") if p.is_file() and p.stat().st_size < 300_000)
    mails = [p.read_bytes() for p in corpus]
    mails = [raw for raw in mails if b"\nFrom:" in raw[:4096] or raw[:5] == b"From:" or b"Content-Type" in raw[:4096]]
    cases = sorted((REPO / "tests" / "cases").glob("*.eml"))
    return tuple(mails[::8]) + tuple(p.read_bytes() for p in cases)


def slow_inputs() -> list[Path]:
    """The kept regression inputs (gzip-compressed mail)."""
    return sorted(SLOW_INPUTS.glob("*.eml.gz"))


def read_slow_input(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


@st.composite
def mutated(draw) -> bytes:
    """A seed mail with one to three mutations."""
    raw = draw(st.sampled_from(seeds()))
    for _ in range(draw(st.integers(1, 3))):
        raw = draw(st.sampled_from(_MUTATIONS))(draw, raw)[:MAX_SIZE]
    return raw


def _position(draw, raw: bytes) -> int:
    # Headers and boundaries sit near the start: favour it, but reach everywhere.
    end = draw(st.sampled_from((min(len(raw), 512), min(len(raw), 4096), len(raw))))
    return draw(st.integers(0, end))


def _repeat_piece(draw, raw: bytes) -> bytes:
    at = _position(draw, raw)
    piece = raw[at:at + draw(st.integers(1, 64))] or b"x"
    count = min(draw(st.sampled_from(COUNTS)), MAX_SIZE // len(piece))
    return raw[:at] + piece * count + raw[at:]


def _insert_token(draw, raw: bytes) -> bytes:
    token = draw(st.sampled_from(TOKENS))
    count = min(draw(st.sampled_from(COUNTS)), MAX_SIZE // len(token))
    at = _position(draw, raw)
    return raw[:at] + token * count + raw[at:]


def _repeat_header(draw, raw: bytes) -> bytes:
    head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    lines = head.splitlines(keepends=True) or [b"X-A: b\r\n"]
    line = draw(st.sampled_from(lines))
    count = min(draw(st.sampled_from(COUNTS)), MAX_SIZE // max(1, len(line)))
    return line * count + raw


def _flip_bytes(draw, raw: bytes) -> bytes:
    data = bytearray(raw or b"x")
    for _ in range(draw(st.integers(1, 16))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def _cut(draw, raw: bytes) -> bytes:
    return raw[:draw(st.integers(0, len(raw)))]


def _splice(draw, raw: bytes) -> bytes:
    other = draw(st.sampled_from(seeds()))
    return raw[:draw(st.integers(0, len(raw)))] + other[draw(st.integers(0, len(other))):]


_MUTATIONS = (_repeat_piece, _insert_token, _insert_token, _repeat_header, _flip_bytes, _cut, _splice)

_HEADER_NAMES = ("From", "To", "Cc", "Subject", "Message-ID", "In-Reply-To", "References", "Date", "Return-Path",
                 "Auto-Submitted", "Precedence", "Content-Type", "Content-Disposition",
                 "Content-Transfer-Encoding", "Authentication-Results", "X-Autoreply", "List-Id")
_TEXT = st.lists(st.sampled_from(list("aZ09 @<>;:=?\"'\\,.()[]-_/\t*%#&é\u202e") + ["\r\n ", "=?", "?="]),
                 max_size=120).map("".join)


@st.composite
def generated(draw) -> bytes:
    """A mail made from scratch: random header fields and a random MIME tree."""
    head = b"".join(f"{draw(st.sampled_from(_HEADER_NAMES))}: {draw(_TEXT)}\r\n".encode("utf-8", "surrogateescape")
                    for _ in range(draw(st.integers(0, 12))))
    return head + draw(_part(3))


def _part(depth: int):
    leaf = st.builds(_leaf, st.sampled_from(("text/plain", "text/html", "application/ms-tnef", "image/png",
                                             "message/delivery-status", "text/calendar")),
                     st.sampled_from(("7bit", "base64", "quoted-printable", "8bit")), _TEXT)
    if depth == 0:
        return leaf
    return st.one_of(leaf, st.builds(_multipart, st.sampled_from(("mixed", "alternative", "related", "report")),
                                     st.lists(st.deferred(lambda: _part(depth - 1)), max_size=4)))


def _leaf(ctype: str, cte: str, text: str) -> bytes:
    return (f"Content-Type: {ctype}; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n{text}\r\n"
            .encode("utf-8", "surrogateescape"))


def _multipart(kind: str, parts: list[bytes]) -> bytes:
    body = b"".join(b"--zz\r\n" + part for part in parts) + b"--zz--\r\n"
    return f"Content-Type: multipart/{kind}; boundary=zz\r\n\r\n".encode() + body


@lru_cache(maxsize=1)
def _engine():
    from engine.commands.golden import default_mailbox
    from engine.config.compile import load_ruleset
    from engine.store.memory_state import from_ruleset

    ruleset = load_ruleset(REPO)
    return ruleset, from_ruleset(ruleset), default_mailbox(ruleset)


def parse_and_evaluate(raw: bytes) -> float:
    """Seconds to parse `raw` and evaluate it against the shipped rules (both must not raise)."""
    from engine.evaluate import evaluate
    from engine.parse import parse

    ruleset, state, mailbox = _engine()
    started = time.perf_counter()
    message = parse(raw)
    evaluate(message, ruleset, state, NOW, mailbox)
    return time.perf_counter() - started
