"""Notices that cannot flood, against a real store (SQLite and PostgreSQL): one per cause and sender
per window with the rest counted into the next, and a dumb auto-responder answered once.

SPEC IDs proved here: F-OUT-2, F-OUT-3, F-REF-4.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from engine.apply.apply import apply
from engine.commands.golden import with_mailbox_options
from engine.config.compile import load_ruleset
from engine.evaluate import evaluate
from engine.parse import parse
from engine.store import Store
from engine.store.directory_import import sync_config_directory
from engine.store.state_view import StoreStateView
from tests.fakeclock import FakeClock

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def store_and_clock(store_url: str):
    clock = FakeClock(T0)
    store = Store.open(store_url, clock=clock)
    yield store, clock
    store.close()


def _mail(n: int, sender: str, subject: str, body: str = "Hello.\n") -> bytes:
    return (f"From: {sender}\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
            f"Message-ID: <m{n}.{sender.split('<')[-1].strip('>')}>\r\nDate: Thu, 15 Jan 2026 09:00:00 +0000\r\n\r\n"
            f"{body}").encode()


def _deliver(store, ruleset, raw: bytes, key: str, now: datetime):
    message = parse(raw)
    with store.transaction() as tx:
        decision = evaluate(message, ruleset, StoreStateView(tx), now, "demo", arrived=now)
        apply(tx, decision, message, raw, key)
    return decision


def test_one_error_notice_per_cause_and_sender_per_window_the_rest_counted_F_OUT_2(store_and_clock):
    store, clock = store_and_clock
    ruleset = with_mailbox_options(load_ruleset(REPO), "demo", {"unknown_senders": {"policy": "reject"},
                                                                "loop_prevention": {"enabled": False}})
    sync_config_directory(store, ruleset.directory)
    for i in range(10):  # one every three minutes: ten refusals, one notice
        clock.now = T0 + timedelta(minutes=3 * i)
        _deliver(store, ruleset, _mail(i, "Sam <sam@unknown.test>", f"Access {i}"), f"k{i}", clock.now)
    clock.now = T0 + timedelta(minutes=95)  # outside the window of the first notice
    _deliver(store, ruleset, _mail(99, "Sam <sam@unknown.test>", "Access again"), "k99", clock.now)
    notices = [m for m in store.outbox_messages(limit=100) if m.kind == "error_notice"]
    assert [(m.cause, m.about) for m in notices] == [("unknown_sender", "sam@unknown.test")] * 2
    assert "9 more mail(s) from sam@unknown.test were refused for the same reason" in notices[0].body
    assert [e.outcome for e in store.processing_log(limit=100)] == ["reject"] * 11  # every mail still logged


def test_a_dumb_auto_responder_on_a_closed_ticket_is_answered_once_F_OUT_3_F_REF_4(store_and_clock):
    """It answers every mail we send it a minute later and carries no auto-generated marker."""
    store, clock = store_and_clock
    ruleset = with_mailbox_options(load_ruleset(REPO), "demo", {"replies": {"closed_tickets": "ignore"}})
    sync_config_directory(store, ruleset.directory)
    _deliver(store, ruleset, _mail(0, "Olga <olga@acme.test>", "Printer broken"), "k0", clock.now)
    [ticket] = store.tickets()
    with store.transaction() as tx:
        tx.set_ticket_fields(ticket.number, status="closed")
    responder, answered = "Olga <olga@acme.test>", 0
    pending = [clock.now + timedelta(minutes=1)]  # she writes once; then it answers whatever we send
    for n in range(1, 200):
        if not pending:
            break
        clock.now = pending.pop(0)
        before = len(store.outbox_messages(limit=1000))
        _deliver(store, ruleset, _mail(n, responder, f"RE: Printer broken [Ticket#{ticket.number}]",
                                       "I am out until Monday.\n"), f"k{n}", clock.now)
        if len(store.outbox_messages(limit=1000)) > before:
            answered += 1
            pending.append(clock.now + timedelta(minutes=1))
    closed_replies = [m for m in store.outbox_messages(limit=1000) if m.kind == "closed_not_updated"]
    assert (answered, len(closed_replies)) == (1, 1)
    assert store.ticket(ticket.number).status == "closed"
