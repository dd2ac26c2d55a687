"""Crash safety: SIGKILL `mailgate poll --once` at random points, again and again; nothing is lost or doubled.

SPEC IDs proved here: F-MB-9, F-PRE-6, F-OUT-5.
"""

from __future__ import annotations

import email
import os
import random
import subprocess
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import update

from engine.store.schema import outbox
from tests.polltools import MAILGATE, REPO, drop, maildir_box, make_mail, open_store, start_smtp, write_config

pytestmark = [pytest.mark.crash, pytest.mark.smtp]

SEED = 20261123
KILLS = 50
NEW, REPLIES, AUTO = 40, 14, 6
PASSWORD_ENV = "MAILGATE_CRASH_PASSWORD"


def mails() -> list[tuple[str, str, bytes]]:
    """60 mails, oldest first: (kind, bare Message-ID, bytes). New requests get auto-replies."""
    out = []
    for n in range(NEW):
        out.append(("new", f"new-{n}@mail.acme.test", make_mail(
            f"Request {n}: the scanner on floor {n % 5} is offline", sender=f"User {n} <user{n}@acme.test>",
            message_id=f"<new-{n}@mail.acme.test>")))
    for n in range(REPLIES):
        out.append(("reply", f"reply-{n}@mail.acme.test", make_mail(
            f"Re: Request {n}", sender=f"User {n} <user{n}@acme.test>", body=f"More detail {n}.\n",
            message_id=f"<reply-{n}@mail.acme.test>", headers={"In-Reply-To": f"<new-{n}@mail.acme.test>"})))
    for n in range(AUTO):
        out.append(("auto", f"auto-{n}@acme.test", make_mail(
            "Automatic reply: away", sender=f"Away {n} <away{n}@acme.test>", message_id=f"<auto-{n}@acme.test>",
            headers={"Auto-Submitted": "auto-replied"})))
    return out


class MaildirBox:
    """The mailbox as a local maildir."""

    def __init__(self, config_root: Path):
        self.path = config_root / "var" / "maildir" / "help"

    def spec(self, polling: dict) -> dict:
        return maildir_box("help", "support@example.com", "var/maildir/help", polling=polling,
                           after_processing={"action": "delete"})

    def load(self, items) -> None:
        for index, (_, _, raw) in enumerate(items):
            drop(self.path, raw, f"{index:03d}.mail")
            os.utime(self.path / "new" / f"{index:03d}.mail", (1_700_000_000 + index,) * 2)  # oldest first

    def present(self) -> set[str]:
        """Bare Message-IDs of the mail still in the mailbox."""
        return {_bare_id((self.path / sub / name).read_bytes())
                for sub in ("new", "cur") for name in os.listdir(self.path / sub)}


class ImapBox:
    """The mailbox on the test Dovecot, read over IMAP."""

    def __init__(self, dovecot, user):
        self.dovecot, self.user = dovecot, user

    def spec(self, polling: dict) -> dict:
        return {"name": "help", "address": "support@example.com", "protocol": "imap",
                "server": {"host": "127.0.0.1", "port": self.dovecot.ports["imap"], "tls": "none",
                           "timeout_seconds": 10},
                "auth": {"username": self.user.name, "password": {"env": PASSWORD_ENV},
                         "forbid_plaintext_login": False},
                "new_tickets": {"issue_type": "General"}, "polling": polling,
                "after_processing": {"action": "delete"}}

    def load(self, items) -> None:
        for _, _, raw in items:  # one at a time: the UIDs follow the order
            self.dovecot.seed(self.user, [raw])

    def present(self) -> set[str]:
        client = self.dovecot.imap(self.user)
        try:
            client.select_folder("INBOX", readonly=True)
            uids = client.search(["UNDELETED"])
            data = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
            return {_bare_id(item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"]) for item in data.values()}
        finally:
            client.logout()


def _bare_id(raw: bytes) -> str:
    return (email.message_from_bytes(raw)["Message-ID"] or "").strip().strip("<>")


@pytest.fixture(params=["maildir", pytest.param("imap", marks=pytest.mark.dovecot)])
def box(request, tmp_path, monkeypatch):
    if request.param == "maildir":
        return MaildirBox(tmp_path / "config")
    dovecot = request.getfixturevalue("dovecot")
    user = dovecot.add_user("crash")
    monkeypatch.setenv(PASSWORD_ENV, user.password)
    return ImapBox(dovecot, user)


def run_once(config: Path, kill_when=None) -> bool:
    """One `mailgate poll --once`, SIGKILLed as soon as `kill_when(elapsed)` says so. True if it was killed."""
    proc = subprocess.Popen([*MAILGATE, "poll", "--once", "--config", str(config)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    begin = time.monotonic()
    while proc.poll() is None:
        if kill_when is not None and kill_when(time.monotonic() - begin):
            proc.kill()
            proc.wait()
            return True
        time.sleep(0.003)
    assert kill_when is not None or proc.returncode == 0
    return False


class KillPlan:
    """When to kill one run: at a random moment of start-up, or just after it stored or sent something."""

    def __init__(self, rng: random.Random, startup: float, store, sink):
        self.store, self.sink = store, sink
        self.rows, self.mails = self._progress()
        self.at_time = rng.uniform(0.3 * startup, 1.2 * startup) if rng.random() < 0.2 else None
        self.jitter = rng.uniform(0.0, 0.015)
        self.seen_at: float | None = None

    def _progress(self) -> tuple[int, int]:
        return len(self.store.processing_log(limit=10_000)), len(self.sink.received)

    def __call__(self, elapsed: float) -> bool:
        if self.at_time is not None:
            return elapsed >= self.at_time
        if self.seen_at is None and self._progress() != (self.rows, self.mails):
            self.seen_at = elapsed  # it committed a message or the SMTP server accepted a mail
        return self.seen_at is not None and elapsed >= self.seen_at + self.jitter


def in_flight(store, sink) -> set[str]:
    """Message-IDs the SMTP server accepted whose outbox row is not marked sent: a kill fell in between."""
    accepted = {m["Message-ID"].strip("<>") for m in sink.messages()}
    sent = {r.message_id for r in store.outbox_messages(status="sent", limit=10_000)}
    return accepted - sent


def test_sigkill_at_random_points_loses_and_doubles_nothing(tmp_path, box):
    rng = random.Random(SEED)
    sink, controller = start_smtp()
    polling = {"interval_seconds": 60, "max_messages": 1, "batch_size": 1}  # so 60 mails outlast 50 kills
    config = write_config(tmp_path / "config", [box.spec(polling)],
                          smtp={"send": True, "host": "127.0.0.1", "port": sink.port, "tls": "none"})
    items = mails()
    box.load(items)
    expected = {mid: kind for kind, mid, _ in items}
    store = open_store(config)  # migrates the schema before the first poller starts
    started = time.monotonic()
    try:
        startup = min(_timed_empty_run(tmp_path) for _ in range(2))
        kills = completed = 0
        suspects: set[str] = set()
        while kills < KILLS and (box.present() or store.outbox_messages(status="pending", limit=1)):
            if not box.present():
                _let_claims_expire(store)  # only mail held by killed pollers is left: go on killing its sends
            if run_once(config, KillPlan(rng, startup, store, sink)):
                kills += 1
            else:
                completed += 1
            _nothing_gone_unstored(box, expected, store)
            suspects |= in_flight(store, sink)
        assert kills >= KILLS, f"the mailbox was done after {kills} kills: kill sooner"
        left = len(box.present())
        finals = _drain(config, store, box)
        _nothing_gone_unstored(box, expected, store)
        report = _check_results(store, sink, expected, suspects)
        print(f"\ncrash test ({type(box).__name__}): {kills} kills with work pending, {completed} runs completed, "
              f"{left} mails left, {finals} final runs, {report}, {time.monotonic() - started:.0f}s")
    finally:
        store.close()
        controller.stop()


def _timed_empty_run(tmp_path: Path) -> float:
    """How long a poll of one mail takes here: the start-up kills are spread around it."""
    empty = write_config(tmp_path / "empty", [maildir_box("e", "support@example.com", "var/maildir/e")])
    drop(empty / "var/maildir/e", make_mail("warm-up"), "0.warm")
    begin = time.monotonic()
    subprocess.run([*MAILGATE, "poll", "--once", "--config", str(empty)], cwd=REPO, capture_output=True, timeout=120)
    return time.monotonic() - begin


def _nothing_gone_unstored(box, expected: dict, store) -> None:
    gone = set(expected) - box.present()
    logged = {e.message_id for e in store.processing_log(limit=10_000)}
    assert gone <= logged, f"removed from the mailbox without being stored: {sorted(gone - logged)}"


def _let_claims_expire(store) -> None:
    """A killed poller's claim on an outbox row holds it for 10 minutes: let that time pass."""
    with store.transaction() as tx:
        tx._exec(update(outbox).where(outbox.c.status == "pending")
                 .values(next_attempt_at=datetime(2000, 1, 1, tzinfo=timezone.utc)))


def _drain(config: Path, store, box) -> int:
    """Run to the end (many mails per run now)."""
    spec = config / "mailboxes.d" / "help.yaml"
    spec.write_text(spec.read_text().replace("max_messages: 1", "max_messages: 100"))
    for runs in range(1, 60):
        _let_claims_expire(store)
        assert not run_once(config)
        if not box.present() and not store.outbox_messages(status="pending", limit=10_000):
            return runs
    raise AssertionError(f"the poller never finished the mailbox: {box.present()}, "
                         f"{store.outbox_messages(status='pending', limit=10_000)}")


def _check_results(store, sink, expected: dict, suspects: set[str]) -> str:
    log = store.processing_log(limit=10_000)
    assert Counter(e.message_id for e in log) == Counter(list(expected))  # every message exactly once
    for entry in log:
        wanted = {"new": "create_ticket", "reply": "add_note", "auto": "ignore"}[expected[entry.message_id]]
        assert entry.outcome == wanted, entry
    tickets = store.tickets(limit=10_000)
    assert len(tickets) == NEW
    notes = Counter(n.message_id for t in tickets for n in store.notes(t.number))
    assert all(notes[mid] == 1 for mid, kind in expected.items() if kind != "auto")  # one note per mail
    rows = store.outbox_messages(limit=10_000)
    assert len(rows) == NEW and all(r.status == "sent" for r in rows)  # no outgoing mail lost
    received = Counter(m["Message-ID"].strip("<>") for m in sink.messages())
    assert set(received) == {r.message_id for r in rows}
    duplicates = {mid: count - 1 for mid, count in received.items() if count > 1}
    # A resend only happens when a kill fell between the server's 250 and the outbox update.
    assert set(duplicates) <= suspects, f"duplicates not explained by a kill: {set(duplicates) - suspects}"
    return (f"{len(log)} messages, {len(tickets)} tickets, {sum(received.values())} mails at the SMTP server, "
            f"{sum(duplicates.values())} duplicate(s), {len(suspects)} kill(s) between SMTP acceptance and outbox update")
