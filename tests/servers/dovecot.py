"""A private Dovecot (IMAP + POP3, plain and TLS) on loopback for the test session."""

from __future__ import annotations

import contextlib
import json
import mailbox
import threading
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator, Optional

import pytest

from tests.secretwatch import secret

DEFAULT_PORTS = {"imap": 14143, "imaps": 14993, "pop3": 14110, "pop3s": 14995}
HOST = "127.0.0.1"
USER_POOL = 300
INSTALL_HINT = "install it with: sudo bash scripts/install.d/dovecot.sh"


@dataclass(frozen=True)
class MailUser:
    """A mailbox account on the test Dovecot, with its Maildir on disk."""

    name: str
    password: str
    maildir: Path


class TokenServer:
    """A tiny OAuth 2.0 introspection endpoint (RFC 7662) that Dovecot asks about bearer tokens."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        tokens = self.tokens

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
                user = tokens.get((form.get("token") or [""])[0])
                body = json.dumps({"active": True, "username": user} if user else {"active": False})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((HOST, 0), Handler)
        self.url = f"http://{HOST}:{self.httpd.server_address[1]}/introspect"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class DovecotServer:
    """Handle on the running instance: ports, CA file, users, seeding and its log."""

    def __init__(self, root: Path, ports: dict[str, int], ca_file: Path,
                 token_server: Optional[TokenServer] = None) -> None:
        self.root, self.ports, self.ca_file = root, ports, ca_file
        self.token_server = token_server
        self.host = HOST
        self.log_file = root / "dovecot.log"
        self.users_file = root / "users"
        self._uid, self._gid = _mail_ids()
        self._pool: list[tuple[str, str]] = []
        self._serial = 0

    def add_user(self, prefix: str = "user", password: Optional[str] = None) -> MailUser:
        """A fresh, empty account: from the pool written before start-up when possible.

        Dovecot notices passwd-file changes by their mtime, in whole seconds, so a user
        appended in the same second as an earlier lookup may stay unknown for a second.
        """
        if self._pool and password is None:
            name, password = self._pool.pop()
        else:
            name = f"{prefix}{secrets.token_hex(4)}"
            password = password or f"pw-{secrets.token_hex(6)}"
            self._write_users([(name, password)])
            time.sleep(1.1)
        home = self.root / "mail" / name
        maildir = home / "Maildir"
        home.mkdir(parents=True, exist_ok=True)
        mailbox.Maildir(str(maildir), create=True)
        self._own(home)
        return MailUser(name, secret(password), maildir)

    def _write_users(self, users: list[tuple[str, str]]) -> None:
        with open(self.users_file, "a", encoding="utf-8") as fh:
            for name, password in users:
                home = self.root / "mail" / name
                fh.write(f"{name}:{{PLAIN}}{password}:{self._uid}:{self._gid}::{home}::\n")

    def fill_pool(self, size: int) -> None:
        """Write `size` ready accounts before Dovecot starts (see add_user)."""
        self._pool = [(f"user{i:04d}x{secrets.token_hex(3)}", f"pw-{secrets.token_hex(6)}")
                      for i in range(size)]
        self._write_users(self._pool)
        self._pool.reverse()

    def seed(self, user: MailUser, messages: Iterable[bytes], folder: Optional[str] = None,
             seen: bool = False) -> list[str]:
        """Drop messages straight into the user's Maildir (new/, or cur/ with S when seen).

        Written by hand rather than with mailbox.Maildir.add, which fsyncs every file:
        test mail need not survive a power cut, and 2,000 fsyncs take seconds.
        """
        box = mailbox.Maildir(str(user.maildir), create=False)
        if folder and folder not in box.list_folders():
            box.add_folder(folder)
            self._own(user.maildir)
        target = user.maildir / f".{folder}" if folder else user.maildir
        keys = []
        for raw in messages:
            self._serial += 1
            key = f"{time.time_ns()}.M{self._serial}P{os.getpid()}.mailgate-test"
            name = f"cur/{key}:2,S" if seen else f"new/{key}"
            with open(target / "tmp" / key, "wb") as fh:
                fh.write(raw)
                if os.geteuid() == 0:
                    os.fchown(fh.fileno(), self._uid, self._gid)
            os.rename(target / "tmp" / key, target / name)
            keys.append(key)
        return keys

    def _own(self, path: Path) -> None:
        """Hand files the test wrote as root to the unprivileged mail user."""
        if os.geteuid() != 0:
            return
        for top, dirs, files in os.walk(path):
            for name in [top, *(os.path.join(top, f) for f in dirs + files)]:
                os.chown(name, self._uid, self._gid)

    def imap(self, user: MailUser):
        """A logged-in IMAPClient on the plain port, for checking what the server holds."""
        from imapclient import IMAPClient

        client = IMAPClient(self.host, port=self.ports["imap"], ssl=False, timeout=30)
        client.login(user.name, user.password)
        return client

    def issue_token(self, user: MailUser) -> str:
        """An OAuth access token the server accepts for `user` (XOAUTH2 / OAUTHBEARER)."""
        token = f"tok-{secrets.token_urlsafe(16)}"
        assert self.token_server is not None
        self.token_server.tokens[token] = user.name
        return token

    def kick(self, user: MailUser) -> None:
        """Make the server drop every session of `user` (doveadm kick) and wait until it has."""
        conf = str(self.root / "dovecot.conf")
        subprocess.run(["doveadm", "-c", conf, "kick", user.name], check=True, capture_output=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            who = subprocess.run(["doveadm", "-c", conf, "who", "-1", user.name],
                                 capture_output=True, text=True)
            if user.name not in who.stdout:
                return
            time.sleep(0.05)
        raise RuntimeError(f"dovecot still has sessions for {user.name}")

    def log(self) -> str:
        """Everything Dovecot logged so far (logins carry `method=`)."""
        return self.log_file.read_text(encoding="utf-8", errors="replace")


def make_message(n: int, size: int = 2000, subject: Optional[str] = None) -> bytes:
    """A plausible plain-text mail of roughly `size` bytes, numbered `n`."""
    date = format_datetime(datetime(2026, 1, 1, tzinfo=timezone.utc))
    head = (
        f"From: Sender {n} <sender{n}@example.com>\r\nTo: help@example.org\r\n"
        f"Subject: {subject or f'Test message {n}'}\r\nDate: {date}\r\n"
        f"Message-ID: <test-{n}-{secrets.token_hex(4)}@example.com>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    line = f"Line of message {n}: the printer on floor {n % 7} is jammed again.\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return (head + body).encode()


def _mail_ids() -> tuple[int, int]:
    """Dovecot refuses UID 0 for mail, so as root the mail belongs to `nobody`."""
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _pick_ports() -> dict[str, int]:
    """The fixed ports when free; otherwise (another session runs) free ones from the OS."""
    if all(_free(p) for p in DEFAULT_PORTS.values()):
        return dict(DEFAULT_PORTS)
    ports = {}
    for name in DEFAULT_PORTS:
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            ports[name] = sock.getsockname()[1]
    return ports


def _make_certificates(root: Path) -> Path:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost signed by it."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=root)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3", "-subj", "/CN=mailgate test CA",
        "-keyout", "ca.key", "-out", "ca.pem",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr")
    (root / "ext.cnf").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "3", "-extfile", "ext.cnf", "-out", "server.pem")
    return root / "ca.pem"


def _config(root: Path, ports: dict[str, int], token_url: str) -> str:
    """dovecot.conf for a private instance: own dirs, passwd-file users, loopback only."""
    if os.geteuid() == 0:
        identity = ""  # defaults: dovenull for logins, dovecot internally, mail as `nobody`
    else:
        me = pwd.getpwuid(os.getuid()).pw_name
        identity = (f"default_login_user = {me}\ndefault_internal_user = {me}\n"
                    "service imap-login {\n  chroot =\n}\nservice pop3-login {\n  chroot =\n}\n"
                    "service anvil {\n  chroot =\n}\n")
    return f"""
instance_name = mailgate-test-{os.getpid()}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap pop3
listen = {HOST}
{identity}
ssl = yes
ssl_cert = <{root}/server.pem
ssl_key = <{root}/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5 scram-sha-1 scram-sha-256 xoauth2 oauthbearer
auth_failure_delay = 0
# No escalating auth penalty (anvil), so wrong-password tests do not slow the rest.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
auth_verbose = yes
mail_location = maildir:~/Maildir
mail_max_userip_connections = 200
pop3_uidl_format = %08Xu%08Xv
namespace inbox {{
  inbox = yes
  separator = .
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
  mechanisms = plain login cram-md5 scram-sha-1 scram-sha-256
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/oauth2.conf.ext
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
}}
service imap-login {{
  inet_listener imap {{
    port = {ports['imap']}
  }}
  inet_listener imaps {{
    port = {ports['imaps']}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {ports['pop3']}
  }}
  inet_listener pop3s {{
    port = {ports['pop3s']}
    ssl = yes
  }}
}}
"""


def _wait_for(ports: dict[str, int], proc: subprocess.Popen, log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(ports)
    while pending:
        if proc.poll() is not None or time.monotonic() > deadline:
            text = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"dovecot did not come up on {pending}: {text[-2000:]}")
        for name, port in list(pending.items()):
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                del pending[name]
            except OSError:
                time.sleep(0.1)


def _unavailable(reason: str) -> None:
    """Skip on a developer machine, but never silently in CI."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must run the Dovecot tests ({INSTALL_HINT})")
    pytest.skip(f"{reason} ({INSTALL_HINT})")


def dovecot_binary(*tools: str) -> str:
    """The dovecot master binary; FileNotFoundError (skip locally, fail in CI) when it or `tools` are missing."""
    binary = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
    if not binary or not all(shutil.which(tool) for tool in ("openssl", *tools)):
        raise FileNotFoundError(f"dovecot or one of {', '.join(('openssl', *tools))} is not installed")
    return binary


def prepare_root(root: Path) -> Path:
    """The instance's directories and throwaway certificates under `root`; returns the CA file."""
    ca_file = _make_certificates(root)
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir(exist_ok=True)
    return ca_file


def launch(binary: str, root: Path, ports: dict[str, int]) -> subprocess.Popen:
    """Start Dovecot on root/dovecot.conf and wait for its ports (stopping it again if they never open)."""
    proc = subprocess.Popen([binary, "-F", "-c", str(root / "dovecot.conf")],
                            stdout=subprocess.DEVNULL, stderr=open(root / "stderr.log", "wb"))
    try:
        _wait_for(ports, proc, root / "dovecot.log")
    except Exception:
        stop_dovecot(proc)
        raise
    return proc


def start_dovecot(root: Path) -> tuple[DovecotServer, subprocess.Popen]:
    """Write the config and certificates under `root`, start Dovecot, wait for its ports."""
    binary = dovecot_binary()
    ports = _pick_ports()
    ca_file = prepare_root(root)
    server = DovecotServer(root, ports, ca_file)
    server.fill_pool(USER_POOL)
    token_server = TokenServer()
    server.token_server = token_server
    (root / "oauth2.conf.ext").write_text(
        f"introspection_mode = post\nintrospection_url = {token_server.url}\n"
        "username_attribute = username\nactive_attribute = active\nactive_value = true\n")
    (root / "dovecot.conf").write_text(_config(root, ports, token_server.url))
    try:
        proc = launch(binary, root, ports)
    except Exception:
        token_server.stop()
        raise
    return server, proc


def stop_dovecot(proc: subprocess.Popen) -> None:
    """SIGTERM the master (it stops its children), SIGKILL if it hangs."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def private_instance(prefix: str, start) -> Iterator:
    """Run `start(root)` -> (server, process) in a fresh temp dir; stop and remove it afterwards.

    A missing Dovecot skips on a developer machine and fails in CI (see _unavailable).
    """
    root = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(root, 0o755)
    try:
        server, proc = start(root)
    except FileNotFoundError as exc:
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(str(exc))
    try:
        yield server
    finally:
        stop_dovecot(proc)
        if getattr(server, "token_server", None):
            server.token_server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """The private Dovecot for this test session (skips locally, fails in CI when missing)."""
    with private_instance("mailgate-dovecot-", start_dovecot) as server:
        yield server


@pytest.fixture
def mail_user(dovecot: DovecotServer) -> MailUser:
    """A fresh, empty account on the test Dovecot, so tests never see each other's mail."""
    return dovecot.add_user()
