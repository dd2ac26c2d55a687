"""Crash safety: SIGKILL `mailgate poll --once` at random points, again and again; nothing is lost or doubled."""

from __future__ import annotations

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
from tests.polltools import MAILGATE, REPO, drop, files, maildir_box, make_mail, open_store, start_smtp, write_config

pytestmark = [pytest.mark.crash, pytest.mark.smtp]

SEED = 20261123
KILLS = 50
NEW, REPLIES, AUTO = 40, 14, 6


def mailbox_of(box: Path) -> dict[str, tuple[str, str]]:
    """60 mails, oldest first: new requests (each gets an auto-reply), replies to them, auto-replies to ignore."""
    mails, stamp = {}, 1_700_000_000
    for n in range(NEW):
        mails[f"{n:03d}.new"] = ("new", make_mail(f"Request {n}: the scanner on floor {n % 5} is offline",
                                                  sender=f"User {n} <user{n}@acme.test>",
                                                  message_id=f"<new-{n}@mail.acme.test>"))
    for n in range(REPLIES):
        mails[f"{NEW + n:03d}.reply"] = ("reply", make_mail(
            f"Re: Request {n}", sender=f"User {n} <user{n}@acme.test>", body=f"More detail {n}.\n",
            message_id=f"<reply-{n}@mail.acme.test>", headers={"In-Reply-To": f"<new-{n}@mail.acme.test>"}))
    for n in range(AUTO):
        mails[f"{NEW + REPLIES + n:03d}.auto"] = ("auto", make_mail(
            "Automatic reply: away", sender=f"Away {n} <away{n}@acme.test>", message_id=f"<auto-{n}@acme.test>",
            headers={"Auto-Submitted": "auto-replied"}))
    for index, (key, (_, raw)) in enumerate(mails.items()):
        drop(box, raw, key)
        os.utime(box / "new" / key, (stamp + index, stamp + index))  # the poller takes the oldest first
    return {key: (kind, f"{kind}-{key.split('.')[0].lstrip('0') or '0'}") for key, (kind, _) in mails.items()}


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
        self.jitter = rng.uniform(0.0, 0.03)
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


def test_sigkill_at_random_points_loses_and_doubles_nothing(tmp_path):
    rng = random.Random(SEED)
    sink, controller = start_smtp()
    config = write_config(tmp_path / "config", [maildir_box(
        "help", "support@example.com", "var/maildir/help", after_processing={"action": "delete"},
        polling={"interval_seconds": 60, "max_messages": 3, "batch_size": 1})],
        smtp={"send": True, "host": "127.0.0.1", "port": sink.port, "tls": "none"})
    box = config / "var" / "maildir" / "help"
    expected = mailbox_of(box)
    store = open_store(config)  # migrates the schema before the first poller starts
    started = time.monotonic()
    try:
        startup = min(_timed_empty_run(tmp_path) for _ in range(2))
        kills = completed = 0
        suspects: set[str] = set()
        while kills < KILLS and (files(box)["new"] or store.outbox_messages(status="pending", limit=1)):
            if run_once(config, KillPlan(rng, startup, store, sink)):
                kills += 1
            else:
                completed += 1
            _nothing_gone_unstored(box, expected, store)
            suspects |= in_flight(store, sink)
        assert kills >= KILLS, f"the mailbox was done after {kills} kills: kill sooner"
        left = len(files(box)["new"])
        finals = _drain(config, store, box)
        _nothing_gone_unstored(box, expected, store)
        report = _check_results(store, sink, expected, suspects)
        print(f"\ncrash test: {kills} kills with work pending, {completed} runs completed, "
              f"{left} mails left, {finals} final runs, {report}, {time.monotonic() - started:.0f}s")
    finally:
        store.close()
        controller.stop()


def _timed_empty_run(tmp_path: Path) -> float:
    """How long a poll of an empty mailbox takes here: the kills are spread around it."""
    empty = write_config(tmp_path / "empty", [maildir_box("e", "support@example.com", "var/maildir/e")])
    drop(empty / "var/maildir/e", make_mail("warm-up"), "0.warm")
    begin = time.monotonic()
    subprocess.run([*MAILGATE, "poll", "--once", "--config", str(empty)], cwd=REPO, capture_output=True, timeout=120)
    return time.monotonic() - begin


def _nothing_gone_unstored(box: Path, expected: dict, store) -> None:
    gone = set(expected) - set(files(box)["new"]) - set(files(box)["cur"])
    logged = {e.message_key for e in store.processing_log(limit=10_000)}
    assert gone <= logged, f"deleted without being stored: {sorted(gone - logged)}"


def _drain(config: Path, store, box: Path) -> int:
    """Run to the end; mail claimed by a killed poller is held 10 minutes, so let that time pass."""
    spec = config / "mailboxes.d" / "help.yaml"
    spec.write_text(spec.read_text().replace("max_messages: 3", "max_messages: 100"))
    for runs in range(1, 60):
        with store.transaction() as tx:
            tx._exec(update(outbox).where(outbox.c.status == "pending")
                     .values(next_attempt_at=datetime(2000, 1, 1, tzinfo=timezone.utc)))
        assert not run_once(config)
        if not files(box)["new"] and not store.outbox_messages(status="pending", limit=10_000):
            return runs
    raise AssertionError(f"the poller never finished the mailbox: {files(box)}, "
                         f"{store.outbox_messages(status='pending', limit=10_000)}")


def _check_results(store, sink, expected: dict, suspects: set[str]) -> str:
    log = store.processing_log(limit=10_000)
    assert Counter(e.message_key for e in log) == Counter(list(expected))  # every message exactly once
    outcomes = {e.message_key: e.outcome for e in log}
    for key, (kind, _) in expected.items():
        assert outcomes[key] == {"new": "create_ticket", "reply": "add_note", "auto": "ignore"}[kind], key
    tickets = store.tickets(limit=10_000)
    assert len(tickets) == NEW
    notes = Counter(n.message_id for t in tickets for n in store.notes(t.number))
    for n in range(NEW):
        assert notes[f"new-{n}@mail.acme.test"] == 1
    for n in range(REPLIES):
        assert notes[f"reply-{n}@mail.acme.test"] == 1
    rows = store.outbox_messages(limit=10_000)
    assert len(rows) == NEW and all(r.status == "sent" for r in rows)  # no outgoing mail lost
    received = Counter(m["Message-ID"].strip("<>") for m in sink.messages())
    assert set(received) == {r.message_id for r in rows}
    duplicates = {mid: count - 1 for mid, count in received.items() if count > 1}
    # A resend only happens when a kill fell between the server's 250 and the outbox update.
    assert set(duplicates) <= suspects, f"duplicates not explained by a kill: {set(duplicates) - suspects}"
    return (f"{len(log)} messages, {len(tickets)} tickets, {sum(received.values())} mails at the SMTP server, "
            f"{sum(duplicates.values())} duplicate(s), {len(suspects)} kill(s) between SMTP acceptance and outbox update")
