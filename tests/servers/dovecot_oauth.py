"""A second private Dovecot whose passdb accepts only OAuth 2.0 bearer tokens (JWTs it validates locally)."""

from __future__ import annotations

import base64
import os
import re
import secrets
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

from tests.servers.dovecot import (DovecotServer, MailUser, _config, dovecot_binary, launch, prepare_root,
                                   private_instance)

AZP = "mailgate-test-client"  # the token's authorized party; Dovecot looks keys up under it
KID = "mailgate-test-key"
ALG = "HS256"
EXT_FILE = "oauth2-local.conf.ext"


class OAuthDovecot(DovecotServer):
    """The running instance plus the HMAC key it trusts, to issue test tokens."""

    def __init__(self, root: Path, ports: dict[str, int], ca_file: Path, key: bytes) -> None:
        super().__init__(root, ports, ca_file)
        self.key = key

    def token(self, user: MailUser, lifetime: int = 3600, key: Optional[bytes] = None, **claims: object) -> str:
        """A JWT for `user`, signed with the server's key (or `key`), valid for `lifetime` seconds (may be < 0)."""
        import jwt

        now = int(time.time())
        body = {"sub": user.name, "email": user.name, "azp": AZP, "iat": now - 60 + min(0, lifetime),
                "nbf": now - 60 + min(0, lifetime), "exp": now + lifetime, **claims}
        return jwt.encode(body, key or self.key, algorithm=ALG, headers={"kid": KID})


def _free_ports() -> dict[str, int]:
    """Ports from the OS, so this instance never collides with the password Dovecot's fixed ones."""
    ports, socks = {}, []
    for name in ("imap", "imaps", "pop3", "pop3s"):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        socks.append(sock)
        ports[name] = sock.getsockname()[1]
    for sock in socks:
        sock.close()
    return ports


def _oauth_config(root: Path, ports: dict[str, int]) -> str:
    """The shared fixture's config, under its own instance name; its oauth2 passdb reads our ext file.

    No introspection URL is given: with introspection_mode = local Dovecot never calls out.
    """
    text = _config(root, ports, "")
    text = re.sub(r"(?m)^instance_name = .*$", f"instance_name = mailgate-oauth-{os.getpid()}", text)
    oauth_passdb = (
        "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
        f"  args = {root}/{EXT_FILE}\n}}\n"
    )
    text, count = re.subn(r"passdb \{[^}]*driver = oauth2[^}]*\}\n", oauth_passdb, text, count=1)
    if count != 1:  # the shared config lost its oauth2 passdb: add ours
        text = text.replace("userdb {", oauth_passdb + "userdb {", 1)
    if "xoauth2" not in re.search(r"(?m)^auth_mechanisms = .*$", text).group(0):
        text = re.sub(r"(?m)^(auth_mechanisms = .*)$", r"\1 xoauth2 oauthbearer", text)
    return text


def _oauth_ext(root: Path) -> str:
    return (
        "introspection_mode = local\n"
        f"local_validation_key_dict = fs:posix:prefix={root}/keys/\n"
        "username_attribute = email\n"
        "tls_ca_cert_file = /etc/ssl/certs/ca-certificates.crt\n"
    )


def _write_key(root: Path, key: bytes) -> None:
    """Dovecot reads shared/<azp>/<alg>/<kid> from the dict: one base64 key per file."""
    folder = root / "keys" / AZP / ALG
    folder.mkdir(parents=True)
    (folder / KID).write_text(base64.b64encode(key).decode())
    for path in (root / "keys", root / "keys" / AZP, folder):
        os.chmod(path, 0o755)
    os.chmod(folder / KID, 0o644)


def start_oauth_dovecot(root: Path) -> tuple[OAuthDovecot, subprocess.Popen]:
    """Write config, key and certificates under `root`, start Dovecot and wait for its ports."""
    binary = dovecot_binary()
    ports = _free_ports()
    ca_file = prepare_root(root)
    key = secrets.token_bytes(32)
    _write_key(root, key)
    server = OAuthDovecot(root, ports, ca_file, key)
    server.fill_pool(20)
    (root / EXT_FILE).write_text(_oauth_ext(root))
    (root / "dovecot.conf").write_text(_oauth_config(root, ports))
    return server, launch(binary, root, ports)


@pytest.fixture(scope="session")
def dovecot_oauth() -> Iterator[OAuthDovecot]:
    """The OAuth-only Dovecot for this test session (skips locally, fails in CI when missing)."""
    with private_instance("mailgate-dovecot-oauth-", start_oauth_dovecot) as server:
        yield server
