"""Helpers for the poll end-to-end tests: a config in tmp_path, test mail, the CLI, a real SMTP server."""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import make_msgid
from pathlib import Path

import yaml

from tests.secretwatch import leaked

from engine.run.fetching import FetchPlan, plan
from engine.sources.base import Fetched, Source

REPO = Path(__file__).resolve().parent.parent
MAILGATE = [sys.executable, "-m", "engine.cli"]


def fetch_batches(source: Source, max_messages: int = 9999, batch_size: int = 100, skip=None,
                  max_size: int | None = None, found: FetchPlan | None = None):
    """The batches a poll of `source` would fetch: the poller's own skip, budget and batching.

    Pass an empty FetchPlan as `found` to see which keys were new and which logged.
    """
    from engine.run.fetching import batches

    result = plan(source.list_keys(), max_messages, skip or (lambda key: False))
    if found is not None:
        found.new, found.logged = result.new, result.logged
    yield from batches(source, result.new, batch_size, max_size)


def fetched(source: Source, max_messages: int = 9999, batch_size: int = 100, **kw) -> list[Fetched]:
    """Every message a poll of `source` would fetch, in order."""
    return [m for batch in fetch_batches(source, max_messages, batch_size, **kw) for m in batch]


def write_config(root: Path, mailboxes: list[dict], *, smtp: dict | None = None,
                 store_url: str = "sqlite:///var/mailgate.db") -> Path:
    """The shipped rules with `mailboxes` instead of the shipped ones; SMTP as given (default: not sending)."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "rules", root / "rules", dirs_exist_ok=True)
    settings_file = root / "rules" / "00-settings.yaml"
    settings = yaml.safe_load(settings_file.read_text())
    settings["settings"]["store"] = {"url": store_url}
    settings["settings"]["smtp"] = {**settings["settings"]["smtp"], **(smtp or {})}
    settings_file.write_text(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False))
    boxes = root / "mailboxes.d"
    shutil.rmtree(boxes, ignore_errors=True)
    boxes.mkdir()
    for spec in mailboxes:
        (boxes / f"{spec['name']}.yaml").write_text(yaml.safe_dump({"version": 1, "mailbox": spec}, sort_keys=False))
    return root


def maildir_box(name: str, address: str, path: str, **extra) -> dict:
    """A maildir mailbox spec; `extra` overrides (after_processing, polling, ...)."""
    return {"name": name, "address": address, "protocol": "maildir", "maildir": {"path": path},
            "new_tickets": {"issue_type": "General", "priority": "Normal"},
            "polling": {"interval_seconds": 60, "max_messages": 500, "batch_size": 20}, **extra}


def make_mail(subject: str, sender: str = "Ann Miller <ann.miller@acme.test>", to: str = "support@example.com",
              body: str = "The printer on floor 2 shows a paper jam again.\n", headers: dict | None = None,
              message_id: str | None = None) -> bytes:
    """A small plain-text mail with a fresh Message-ID unless one is given."""
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", "Date: Mon, 12 Jan 2026 09:00:00 +0100",
             f"Message-ID: {message_id or make_msgid(domain='mail.acme.test')}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines += ["MIME-Version: 1.0", 'Content-Type: text/plain; charset="utf-8"', "", body]
    return "\r\n".join(lines).encode()


def drop(maildir: Path, raw: bytes, name: str, arrived: datetime | None = None) -> str:
    """Deliver `raw` into maildir/new the way an MTA does (tmp then rename); returns the key.
    `arrived` backdates the file: the time the MTA would have delivered it."""
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    (maildir / "tmp" / name).write_bytes(raw)
    os.rename(maildir / "tmp" / name, maildir / "new" / name)
    if arrived is not None:
        os.utime(maildir / "new" / name, (arrived.timestamp(), arrived.timestamp()))
    return name


def files(maildir: Path) -> dict[str, list[str]]:
    """The message file names in new/ and cur/ of a maildir (or folder)."""
    return {sub: sorted(os.listdir(maildir / sub)) if (maildir / sub).is_dir() else [] for sub in ("new", "cur")}


def cli(config: Path, *args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """`mailgate ARGS --config CONFIG` in a subprocess, as an admin runs it."""
    done = subprocess.run([*MAILGATE, *args, "--config", str(config)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
    shown = leaked(done.stdout + done.stderr)
    assert not shown, f"`mailgate {' '.join(args)}` printed a test password ({', '.join(shown)})"
    return done


def open_store(config: Path, url: str | None = None):
    """The store the config names (the tests read results straight from it)."""
    from engine.commands.runtime import open_store as runtime_open
    from engine.config.compile import load_ruleset

    return runtime_open(load_ruleset(config), url)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    """One mail the SMTP server accepted."""

    to: list[str]
    raw: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)


@dataclass
class SmtpSink:
    """An aiosmtpd server on loopback that keeps what it accepts; `reply` forces an answer to DATA."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    reply: str | None = None
    rcpt_reply: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd hook
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook
        if self.reply:
            return self.reply
        with self.lock:
            self.received.append(Received(list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"

    def messages(self) -> list[email.message.EmailMessage]:
        with self.lock:
            return [r.message for r in self.received]


def start_smtp(port: int | None = None):
    """Start an SmtpSink; returns (sink, controller). Stop with controller.stop()."""
    from aiosmtpd.controller import Controller

    sink = SmtpSink(port or free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, decode_data=False)
    controller.start()
    return sink, controller


def wait_for(predicate, timeout: float = 10.0, step: float = 0.05) -> bool:
    """Poll `predicate` until it is true or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
