"""A batch's state is read once and kept true by its own writes (issue 10, engine/store/batch.py).

Each test polls a real maildir into SQLite and a private PostgreSQL with the shipped rules and
proves two things: the answer is the one the database gives (mail N+1 sees what mail N wrote,
and what earlier polls committed), and it came from the batch's snapshot, not from a statement
per mail (the store's own per-mail read is spied on and must not run). A stale snapshot fails
the first; a snapshot not used fails the second.

SPEC IDs proved here: F-REF-1, F-PRE-5, F-REF-7, F-PRE-6, F-OUT-1.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

import pytest

from engine.cli import main
from engine.store.log import LogReads
from engine.store.outbox import OutboxReads
from engine.store.tickets import TicketReads
from tests.polltools import drop, maildir_box, make_mail, open_store, write_config

ANN = "Ann Miller <ann.miller@acme.test>"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_args(request) -> tuple[str, ...]:
    return () if request.param == "sqlite" else ("--store", request.getfixturevalue("postgres_url"))


def _config(tmp_path, **extra):
    config = write_config(tmp_path, [maildir_box("help", "support@example.com", "var/maildir/help", **extra)])
    return config, config / "var" / "maildir" / "help"


def _deliver(box, mails, start: datetime | None = None) -> None:
    """Mails a second apart, oldest first (the maildir source lists by file time)."""
    start = start or datetime.now(timezone.utc) - timedelta(minutes=5)
    for i, (name, raw) in enumerate(mails):
        drop(box, raw, name, arrived=start + timedelta(seconds=i))


def _poll(config, store_args) -> None:
    assert main(["poll", "--once", "--config", str(config), *store_args]) == 0


def _log(config, store_args) -> dict:
    store = open_store(config, store_args[1] if store_args else None)
    try:
        return {e.message_key: e for e in store.processing_log(mailbox="help", limit=100)}
    finally:
        store.close()


def _asked(monkeypatch, cls, name) -> list:
    """Calls of the store's own per-mail read `cls.name` (a snapshot miss falls through to it)."""
    calls, real = [], getattr(cls, name)

    def spy(self, *args, **kwargs):
        calls.append(args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, spy)
    return calls


def test_a_reply_in_the_batch_of_its_request_lands_on_its_ticket_F_REF_1(tmp_path, store_args, monkeypatch):
    config, box = _config(tmp_path)
    _deliver(box, [
        ("1.request", make_mail("VPN drops every hour", ANN, message_id="<vpn@acme.test>")),
        ("2.reply", make_mail("Still broken", ANN, headers={"In-Reply-To": "<vpn@acme.test>"},
                              body="It happened again at 10:00.\n")),
    ])
    asked = _asked(monkeypatch, TicketReads, "ticket_by_message_id")
    _poll(config, store_args)
    log = _log(config, store_args)
    assert (log["1.request"].reason, log["2.reply"].outcome) == ("new_ticket", "add_note")
    assert log["2.reply"].ticket_number == log["1.request"].ticket_number  # the note the request stored, seen
    assert asked == []


def test_the_loop_count_spans_the_store_and_the_batch_F_PRE_5(tmp_path, store_args, monkeypatch):
    config, box = _config(tmp_path, loop_prevention={"max_messages": 5, "window_minutes": 10})
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    cron = "Cron <cron@build.acme.test>"
    _deliver(box, [(f"a{i}", make_mail(f"Job {i} failed", cron)) for i in range(3)], start)
    _poll(config, store_args)  # three committed by an earlier poll
    _deliver(box, [(f"b{i}", make_mail(f"Job {i + 3} failed", cron)) for i in range(3)], start + timedelta(seconds=3))
    asked = _asked(monkeypatch, LogReads, "sender_message_count")
    _poll(config, store_args)
    log = _log(config, store_args)
    assert [log[f"b{i}"].reason for i in range(3)] == ["new_ticket", "new_ticket", "mail_loop"]  # 3 + 2 earlier
    assert asked == []


def test_the_same_subject_twice_in_one_batch_is_bundled_F_REF_7(tmp_path, store_args, monkeypatch):
    config, box = _config(tmp_path)
    _deliver(box, [
        ("1.first", make_mail("Printer problem", ANN)),
        ("2.again", make_mail("Printer problem", ANN)),
        ("3.colleague", make_mail("Printer problem", "Bob Stone <bob.stone@acme.test>")),
    ])
    asked = _asked(monkeypatch, LogReads, "recent_ticket_by_sender_subject")
    _poll(config, store_args)
    log = _log(config, store_args)
    assert [log[k].reason for k in ("1.first", "2.again", "3.colleague")] == ["new_ticket", "auto_bundled", "new_ticket"]
    assert log["2.again"].ticket_number == log["1.first"].ticket_number != log["3.colleague"].ticket_number
    assert asked == []


def test_a_copy_later_in_the_same_batch_is_a_duplicate_F_PRE_6(tmp_path, store_args, monkeypatch):
    config, box = _config(tmp_path)
    mail = make_mail("Printer jam", ANN, message_id="<jam@acme.test>")
    _deliver(box, [("1.copy", mail), ("2.other", make_mail("VPN drops", ANN)), ("3.copy", mail)])
    asked = _asked(monkeypatch, LogReads, "duplicate_key_seen")
    _poll(config, store_args)
    log = _log(config, store_args)
    assert [(log[k].outcome, log[k].reason) for k in ("1.copy", "3.copy")] == [
        ("create_ticket", "new_ticket"), ("ignore", "duplicate")]
    assert asked == []


def test_one_auto_reply_per_window_counts_the_batchs_own_F_OUT_1(tmp_path, store_args, monkeypatch):
    config, box = _config(tmp_path)
    _deliver(box, [("1.first", make_mail("Printer jam", ANN)), ("2.second", make_mail("VPN drops every hour", ANN))])
    asked = _asked(monkeypatch, OutboxReads, "auto_replies_sent")
    _poll(config, store_args)
    store = open_store(config, store_args[1] if store_args else None)
    try:
        replies = store.outbox_messages(kind="auto_reply")
    finally:
        store.close()
    assert [m.to_addr for m in replies] == ["ann.miller@acme.test"]  # two tickets, one auto-reply
    assert asked == []
