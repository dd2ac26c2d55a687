"""A third private Dovecot set up as many real ones are: hashed passwords, yet SCRAM and CRAM-MD5 advertised.

It stores SHA512-CRYPT hashes, so it cannot check SCRAM-SHA-* or CRAM-MD5 (they need the
password, or a SCRAM hash, on the server side) and answers them with "[AUTHENTICATIONFAILED]
Authentication failed." like a wrong password; PLAIN works. Its oauth2 passdb asks an
introspection endpoint that is not there, so XOAUTH2 and OAUTHBEARER get "[UNAVAILABLE]
Temporary authentication failure" (POP3: [SYS/TEMP]). This is the server the
authentication fallback (F-MB-17) is for.

A delegate, `EXAMPLE\\max.mustermann` (a master user in Dovecot's words), may open the
`helpdesk` mailbox by naming it as the SASL authorization identity: seed 002's shared
mailbox `Domain\\User\\SharedAlias` (F-MB-18).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.servers.dovecot import (DovecotServer, MailUser, _config, _mail_ids, dovecot_binary, launch,
                                   prepare_root, private_instance)
from tests.servers.dovecot_oauth import _free_ports

PASSWORD = "Correct-Horse-7"
DELEGATE = "EXAMPLE\\max.mustermann"
DELEGATE_PASSWORD = "Battery-Staple-9"


class HashedDovecot(DovecotServer):
    """The running instance with one account, `user`, whose password is PASSWORD (stored hashed)."""

    user: MailUser


def _hashed_config(root: Path, ports: dict[str, int]) -> str:
    text = _config(root, ports, "")
    text = re.sub(r"(?m)^instance_name = .*$", f"instance_name = mailgate-hashed-{os.getpid()}", text)
    text = text.replace("args = scheme=PLAIN username_format=%u", "args = scheme=SHA512-CRYPT username_format=%u")
    # Logins such as EXAMPLE\max.mustermann: no character filter on user names.
    master = ("auth_username_chars =\npassdb {\n  driver = passwd-file\n  master = yes\n  pass = yes\n"
              f"  args = scheme=SHA512-CRYPT username_format=%u {root}/masters\n}}\n")
    return text.replace("passdb {", master + "passdb {", 1)


def _hashed(password: str) -> str:
    return subprocess.run(["doveadm", "pw", "-s", "SHA512-CRYPT", "-p", password],
                          capture_output=True, text=True, check=True).stdout.strip()


def start_hashed_dovecot(root: Path) -> tuple[HashedDovecot, subprocess.Popen]:
    binary = dovecot_binary("doveadm")
    ports = _free_ports()
    ca_file = prepare_root(root)
    server = HashedDovecot(root, ports, ca_file)
    uid, gid = _mail_ids()
    home = root / "mail" / "helpdesk"
    (root / "users").write_text(f"helpdesk:{_hashed(PASSWORD)}:{uid}:{gid}::{home}::\n")
    # Dovecot folds user names to lower case (auth_username_format = %Lu) and its %u escapes a
    # backslash as two before the passwd-file lookup: the file holds it so.
    key = DELEGATE.lower().replace("\\", "\\\\")
    (root / "masters").write_text(f"{key}:{_hashed(DELEGATE_PASSWORD)}\n")
    # Nothing listens on port 9 of loopback: every token lookup fails for the time being.
    (root / "oauth2.conf.ext").write_text("introspection_mode = post\nintrospection_url = http://127.0.0.1:9/introspect\n"
                                          "username_attribute = username\n")
    (root / "dovecot.conf").write_text(_hashed_config(root, ports))
    proc = launch(binary, root, ports)
    server._pool = [("helpdesk", PASSWORD)]
    server.user = server.add_user()
    return server, proc


@pytest.fixture(scope="session")
def dovecot_hashed() -> Iterator[HashedDovecot]:
    """The hashed-password Dovecot for this test session (skips locally, fails in CI when missing)."""
    with private_instance("mailgate-dovecot-hashed-", start_hashed_dovecot) as server:
        yield server
