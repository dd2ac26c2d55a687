"""A few-line IMAP/POP3 greeter without STARTTLS/STLS, to prove we never fall back to plaintext."""

from __future__ import annotations

import socket
import socketserver
import threading
from typing import Iterator

import pytest

IMAP_REPLIES = {b"CAPABILITY": b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"}


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.server.seen.append(b"connect")  # type: ignore[attr-defined]
        if self.server.protocol == "imap":  # type: ignore[attr-defined]
            self._imap()
        else:
            self._pop3()

    def _imap(self) -> None:
        self.wfile.write(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] no TLS here\r\n")
        for line in self.rfile:
            tag, _, rest = line.strip().partition(b" ")
            command = rest.split(b" ")[0].upper()
            self.server.seen.append(command)  # type: ignore[attr-defined]
            self.wfile.write(IMAP_REPLIES.get(command, b"") + tag + b" OK done\r\n")
            if command == b"LOGOUT":
                return

    def _pop3(self) -> None:
        self.wfile.write(b"+OK no TLS here\r\n")
        for line in self.rfile:
            command = line.strip().split(b" ")[0].upper()
            self.server.seen.append(command)  # type: ignore[attr-defined]
            self.wfile.write(b"+OK\r\nUSER\r\nSASL PLAIN\r\n.\r\n" if command == b"CAPA" else b"+OK\r\n")
            if command == b"QUIT":
                return


def _serve(protocol: str) -> Iterator[socketserver.ThreadingTCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.protocol, server.seen = protocol, []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def plain_imap_server() -> Iterator[socketserver.ThreadingTCPServer]:
    """An IMAP server that offers no STARTTLS; `.seen` lists the commands it got."""
    yield from _serve("imap")


@pytest.fixture
def plain_pop3_server() -> Iterator[socketserver.ThreadingTCPServer]:
    """A POP3 server that offers no STLS; `.seen` lists the commands it got."""
    yield from _serve("pop3")


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
