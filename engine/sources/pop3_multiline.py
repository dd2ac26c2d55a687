"""A POP3 multi-line answer (RETR) read in blocks: poplib reads it a line at a time, ~1 µs a line."""

from __future__ import annotations

import poplib

_BLOCK = 1 << 16
# A line of a lone dot ends the answer (a line of mail starting with a dot is sent with two).
_ENDS = (b"\n.\r\n", b"\n.\n")


def retrieve(conn: poplib.POP3, number: int) -> bytes:
    """RETR `number`: the mail as poplib's retr() would give it, lines joined with CRLF.

    The answer is read in blocks up to its last line and un-dot-stuffed in one pass;
    only mail with bare LF line ends (which poplib turns into CRLF line by line) takes
    the line by line path, so the bytes are always the ones poplib gives.
    """
    conn._putcmd(f"RETR {number}")
    conn._getresp()  # +OK …; -ERR raises error_proto
    answer = _read_to_end(conn.file)
    body = answer[: answer.rfind(b"\n", 0, len(answer) - 2) + 1]  # without the lone dot's line
    if body.count(b"\n") == body.count(b"\r\n"):
        return (b"\r\n" + body).replace(b"\r\n..", b"\r\n.")[2:] or b"\r\n"
    return b"\r\n".join(_as_poplib(line) for line in body.split(b"\n")[:-1]) + b"\r\n"


def _read_to_end(file) -> bytearray:
    answer = bytearray()
    while not (answer.endswith(_ENDS) or answer in (b".\r\n", b".\n")):
        block = file.read1(_BLOCK)
        if not block:
            raise poplib.error_proto("-ERR EOF")
        answer += block
    return answer


def _as_poplib(line: bytes) -> bytes:
    """One line (its LF gone) as poplib's _getline and _getlongresp leave it."""
    if line.endswith(b"\r"):
        line = line[:-1]
    elif line.startswith(b"\r"):
        line = line[1:]
    return line[1:] if line.startswith(b"..") else line
