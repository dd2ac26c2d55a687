"""A batch's state is read once and kept true by its own writes (issue 10, engine/store/batch.py).

Each test polls a real maildir into SQLite and a private PostgreSQL with the shipped rules and
proves two things: the answer is the one the database gives (mail N+1 sees what mail N wrote,
and what earlier polls committed), and it came from the batch's snapshot, not from a statement
per mail (the store's own per-mail read is spied on and must not run). A stale snapshot fails
the first; a snapshot not used fails the second.

The rows no later statement reads back (log rows, claims, Message-IDs we sent) go in one statement
per table before the commit; a unique key taken meanwhile sends the batch the careful way.

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


def test_the_batchs_log_rows_claims_and_outbox_go_in_one_statement_per_table(tmp_path, store_args, monkeypatch):
    from engine.store import prepared

    config, box = _config(tmp_path)
    mails = [(f"{n}.mail", make_mail(f"Request {n}", f"User {n} <user{n}@acme.test>")) for n in range(4)]
    _deliver(box, mails)
    sent, real = [], prepared.run_many
    monkeypatch.setattr(prepared, "run_many", lambda conn, stmt, rows: (sent.append((stmt.stmt.table.name, len(rows))),
                                                                       real(conn, stmt, rows))[1])
    _poll(config, store_args)
    assert dict(sent) == {"processing_log": 4, "message_keys": 4, "outbox": 4, "outgoing_messages": 4,  # auto-replies
                          "raw_mail": 4}
    assert len(sent) == len(dict(sent))  # one statement per table for the batch
    logged = _log(config, store_args)
    assert {e.reason for e in logged.values()} == {"new_ticket"}
    store = open_store(config, store_args[1] if store_args else None)
    try:  # the raw mail sent in bulk is kept byte for byte (explain reads it)
        kept = {store.raw_mail(e.raw_sha256).content for e in logged.values()}
    finally:
        store.close()
    assert kept == {raw for _, raw in mails}


def test_a_key_claimed_behind_the_snapshots_back_takes_the_careful_path_F_PRE_6(tmp_path, store_args, monkeypatch):
    """Another poller claims a mail's key after the batch read its claims: the batch's one INSERT of
    claims fails on the unique key, the whole batch is applied again mail by mail, and the mail ends
    as a duplicate of that poller's copy, as it did when claims went in one by one."""
    import engine.store.batch as batch
    from engine.store.base import ConnectionSession

    config, box = _config(tmp_path)
    copy = make_mail("Printer jam", ANN, message_id="<jam@acme.test>")
    _deliver(box, [("1.before", make_mail("VPN drops", ANN)), ("2.copy", copy),
                   ("3.after", make_mail("Mail server slow", "Bob Stone <bob.stone@acme.test>"))])
    _poll_other_mailbox_first(tmp_path, config, store_args, copy)
    real = batch._read_claims
    monkeypatch.setattr(batch, "_read_claims", lambda session, snap, wants: (
        real(session, snap, wants), snap.claims.update(dict.fromkeys(snap.claims)))[0])  # blind to the claim
    savepoints, real_savepoint = [], ConnectionSession.savepoint
    monkeypatch.setattr(ConnectionSession, "savepoint", lambda self: (savepoints.append(1), real_savepoint(self))[1])
    _poll(config, store_args)
    log = _log(config, store_args)
    assert [(log[k].outcome, log[k].reason) for k in ("1.before", "2.copy", "3.after")] == [
        ("create_ticket", "new_ticket"), ("ignore", "duplicate"), ("create_ticket", "new_ticket")]
    assert len(savepoints) == 3  # the careful path: a savepoint per mail


def _poll_other_mailbox_first(tmp_path, config, store_args, raw) -> None:
    """The copy, committed through another mailbox of the same store (what another poller would do)."""
    from engine.store.store import Store

    store = open_store(config, store_args[1] if store_args else None)
    try:
        with store.transaction() as tx:
            assert tx.claim_message_key(_key(raw), "other", source_key="elsewhere", outcome="create_ticket",
                                        reason="new_ticket")
    finally:
        store.close()


def _key(raw: bytes) -> str:
    from engine.evaluate.draft import duplicate_key
    from engine.parse import parse

    return duplicate_key(parse(raw))
