"""A loopback HTTPS server that plays recorded Entra ID, Graph and EWS responses and records every request."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator, Optional
import ssl

import pytest

from tests.servers.dovecot import _make_certificates

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass
class Request:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> dict:
        return json.loads(self.body or b"{}")


@dataclass
class Reply:
    """What to answer: status, headers and body (str, bytes or a JSON-able value)."""

    status: int = 200
    body: object = b""
    headers: dict = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, (dict, list)):
            return json.dumps(self.body).encode(), "application/json"
        if isinstance(self.body, str):
            return self.body.encode("utf-8"), "text/xml; charset=utf-8"
        return bytes(self.body), "application/octet-stream"


Handler = Callable[[Request], Optional[Reply]]


def fixture_text(_kind: str, _file: str, /, **values: str) -> str:
    """A recorded response from tests/fixtures/<kind>/<file>, with {{placeholders}} filled in."""
    text = (FIXTURES / _kind / _file).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def fixture_json(_kind: str, _file: str, /, **values: str) -> dict:
    return json.loads(fixture_text(_kind, _file, **values))


class MsFake:
    """The running server: `url`, `ca_file`, the `requests` it got, and the `handlers` that answer.

    Handlers are tried newest first; the first one returning a Reply answers. No handler: 404.
    """

    def __init__(self, root: Path, max_version: Optional[ssl.TLSVersion] = None) -> None:
        self.root = root
        self.ca_file = str(_make_certificates(root))
        self.requests: list[Request] = []
        self.handlers: list[Handler] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(root / "server.pem"), str(root / "server.key"))
        if max_version is not None:  # an old server, for the TLS version pins (F-MB-15)
            ctx.maximum_version = max_version
        # Handshake in the request thread, so a client that refuses our certificate cannot stall accept().
        self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self._httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> "MsFake":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def reset(self) -> None:
        """Forget the recorded requests and the test's handlers."""
        with self._lock:
            self.requests.clear()
            self.handlers.clear()

    def on(self, handler: Handler) -> Handler:
        """Add a handler (usable as a decorator)."""
        self.handlers.append(handler)
        return handler

    def seen(self, method: str = "", contains: str = "") -> list[Request]:
        """Requests so far with this method and `contains` in the path or body."""
        with self._lock:
            reqs = list(self.requests)
        return [r for r in reqs if (not method or r.method == method)
                and (not contains or contains in r.path or contains in r.text)]

    def _answer(self, req: Request) -> Reply:
        with self._lock:
            self.requests.append(req)
            handlers = list(reversed(self.handlers))
        for handler in handlers:
            try:
                reply = handler(req)
            except Exception as exc:  # a bug in a fake shows up as a 500 the test can read
                return Reply(500, f"fake handler failed: {exc!r}")
            if reply is not None:
                return reply
        return Reply(404, {"error": {"code": "NotFound", "message": f"no fake for {req.method} {req.path}"}})

    def _handler_class(self) -> type:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                reply = fake._answer(req)
                data, ctype = reply.encoded()
                self.send_response(reply.status)
                headers = {"Content-Type": ctype, **reply.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = do_HEAD = do_PUT = _serve

            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

        return Handler


@pytest.fixture(scope="session")
def msfake_server() -> Iterator[MsFake]:
    """One HTTPS server for the session (its certificate is signed by a throwaway CA)."""
    root = Path(tempfile.mkdtemp(prefix="mailgate-msfake-"))
    server = MsFake(root).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def msfake(msfake_server: MsFake) -> Iterator[MsFake]:
    """The server with no handlers and no recorded requests, for one test."""
    msfake_server.reset()
    yield msfake_server
    msfake_server.reset()
