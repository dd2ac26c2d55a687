"""aiosmtpd on loopback with TLS (a throwaway CA) and AUTH XOAUTH2 answered as Google and Microsoft document it.

The XOAUTH2 exchange follows Google's "OAuth 2.0 Mechanism" page
(developers.google.com/gmail/imap/xoauth2-protocol): the client's initial response is
base64("user=" {User} "^Aauth=Bearer " {Access Token} "^A^A"); a refused token gets a
334 with a base64 JSON error status, the client answers with an empty line, and the
server ends with 535. The 535 wording is the one each provider publishes
(Google: "5.7.8 Username and Password not accepted", Microsoft: "5.7.3 Authentication
unsuccessful").
"""

from __future__ import annotations

import base64
import json
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from aiosmtpd.smtp import AuthResult

from tests.polltools import SmtpSink, free_port
from tests.servers.dovecot import _make_certificates

GOOGLE_ERROR = {"status": "401", "schemes": "bearer mail.google.com", "scope": "https://mail.google.com/"}
REFUSALS = {"google": "535 5.7.8 Username and Password not accepted. Learn more at "
                      "https://support.google.com/mail/?p=BadCredentials",
            "microsoft": "535 5.7.3 Authentication unsuccessful [SN4PR0501CA0055.namprd05.prod.outlook.com]"}


@dataclass
class OAuthSmtpSink(SmtpSink):
    """An SmtpSink that also offers AUTH XOAUTH2, accepting the tokens in `tokens` (token -> user)."""

    tokens: dict = field(default_factory=dict)
    accept: Optional[Callable[[str, str], bool]] = None  # (user, token) -> valid? instead of `tokens`
    logins: list = field(default_factory=list)  # (mechanism, user, accepted) of every AUTH
    provider: str = "google"
    tls_versions: list = field(default_factory=list)  # what each AUTH ran over

    async def auth_XOAUTH2(self, server, args):  # noqa: N802 - the aiosmtpd hook name
        blob = args[1] if len(args) > 1 else None
        if blob is None:
            answer = await server.challenge_auth("")
            blob = answer.decode() if isinstance(answer, bytes) else ""
            raw = base64.b64decode(blob) if blob else b""
        else:
            raw = base64.b64decode(blob)
        fields = dict(part.split("=", 1) for part in raw.decode().split("\x01") if "=" in part)
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        transport = server.transport.get_extra_info("ssl_object") if server.transport else None
        self.tls_versions.append(transport.version() if transport else None)
        accepted = self.accept(user, token) if self.accept else self.tokens.get(token) == user
        self.logins.append(("XOAUTH2", user, accepted))
        if accepted:
            return AuthResult(success=True, auth_data=user)
        await server.challenge_auth(json.dumps(GOOGLE_ERROR).encode())  # the client answers with an empty line
        await server.push(REFUSALS[self.provider])
        return AuthResult(success=False, handled=True)


@dataclass
class TlsSmtp:
    """A running server: its sink, port, the CA file that trusts it, and the controller to stop."""

    sink: OAuthSmtpSink
    controller: object
    ca_file: Path

    @property
    def port(self) -> int:
        return self.sink.port

    def stop(self) -> None:
        self.controller.stop()


def server_context(root: Path, max_version: Optional[ssl.TLSVersion] = None) -> tuple[ssl.SSLContext, Path]:
    """A server-side TLS context for 127.0.0.1 from a throwaway CA under `root`, and that CA's file."""
    root.mkdir(parents=True, exist_ok=True)
    ca_file = _make_certificates(root)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(root / "server.pem", root / "server.key")
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx, ca_file


def start_tls_smtp(root: Path, *, implicit: bool = False, max_version: Optional[ssl.TLSVersion] = None,
                   provider: str = "google") -> TlsSmtp:
    """aiosmtpd with STARTTLS (or implicit TLS) and XOAUTH2, on a free loopback port."""
    from aiosmtpd.controller import Controller

    ctx, ca_file = server_context(root, max_version)
    sink = OAuthSmtpSink(free_port(), provider=provider)
    tls = {"ssl_context": ctx} if implicit else {"tls_context": ctx, "require_starttls": True}
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, decode_data=False,
                            auth_require_tls=True, **tls)
    controller.start()
    return TlsSmtp(sink, controller, ca_file)
