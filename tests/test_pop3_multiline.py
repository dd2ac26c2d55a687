"""RETR read in blocks gives the bytes poplib's line-by-line retr() gives (F-MB-1, issue 10).

A server's answer is built as RFC 1939 says (each line starting with a dot sent with two, a
line of a lone dot at the end), with CRLF or bare LF line ends, and read by both.
"""

from __future__ import annotations

import io
import poplib

from hypothesis import given, settings, strategies as st

from engine.sources.pop3_multiline import retrieve


class _Sent:
    def __init__(self):
        self.commands = []

    def sendall(self, data: bytes) -> None:
        self.commands.append(data)


def _conn(answer: bytes, block: int = 7) -> poplib.POP3:
    """A POP3 connection object reading `answer` (no network); a small buffer splits the reads."""
    conn = poplib.POP3.__new__(poplib.POP3)
    conn._debugging, conn.encoding, conn.sock = 0, "UTF-8", _Sent()
    conn.file = io.BufferedReader(io.BytesIO(b"+OK message follows\r\n" + answer), buffer_size=block)
    return conn


def _served(lines: list[bytes], line_end: bytes) -> bytes:
    stuffed = [b"." + line if line.startswith(b".") else line for line in lines]
    return b"".join(line + line_end for line in stuffed) + b"." + line_end


_line = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b""))
_lines = st.lists(st.one_of(_line, st.sampled_from([b".", b"..", b".x", b"", b"From x"])), max_size=30)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_lines, st.sampled_from([b"\r\n", b"\n"]), st.integers(min_value=1, max_value=64))
def test_retrieve_gives_what_poplib_gives(lines, line_end, block):
    answer = _served(lines, line_end)
    expected = b"\r\n".join(_conn(answer).retr(3)[1]) + b"\r\n"
    conn = _conn(answer, block)
    assert retrieve(conn, 3) == expected
    assert conn.sock.commands == [b"RETR 3\r\n"]


def test_a_dot_stuffed_line_and_an_empty_mail():
    assert retrieve(_conn(b"Subject: x\r\n\r\n..signature\r\n...\r\n.\r\n"), 1) == b"Subject: x\r\n\r\n.signature\r\n..\r\n"
    assert retrieve(_conn(b".\r\n"), 1) == b"\r\n"


def test_a_server_that_hangs_up_mid_answer_is_an_error():
    try:
        retrieve(_conn(b"Subject: x\r\n\r\nhalf a mail"), 1)
    except poplib.error_proto as err:
        assert "EOF" in str(err)
    else:
        raise AssertionError("a cut answer must not pass as a mail")
