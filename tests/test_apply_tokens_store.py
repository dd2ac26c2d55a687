"""What apply stores for token effects equals what evaluate decided, on SQLite and PostgreSQL.

SPEC IDs proved here: F-TOK-1, F-TOK-3.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from engine.apply.apply import apply
from engine.config.compile import load_ruleset
from engine.evaluate import evaluate
from engine.parse import parse
from engine.store.directory_import import sync_config_directory
from engine.store.state_view import StoreStateView
from tests.fakeclock import FakeClock

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
NEW_MAIL_CLOSED = (b"Authentication-Results: mx.example.com; dkim=pass header.d=example.com;"
                   b" dmarc=pass header.from=example.com\r\n"  # a technician's tokens need it (F-TOK-3)
                   b"From: Rob Smith <rob.smith@example.com>\r\nTo: support@example.com\r\n"
                   b"Subject: Replaced the toner on floor 3\r\nMessage-ID: <rob-toner@example.com>\r\n"
                   b"Date: Thu, 15 Jan 2026 11:50:00 +0000\r\n\r\nDone while I was there, just for the record.\r\n"
                   b"#close\r\n")


@pytest.fixture
def clock() -> FakeClock:
    """The store's clock (conftest's `store` opens on it), standing at NOW."""
    return FakeClock(NOW)


def test_technician_close_token_on_a_new_ticket_is_stored_closed_F_TOK_1_F_TOK_3(store):
    """A technician logs a done job by mail with #close: dry-run says closed, so the store must too."""
    ruleset = load_ruleset(REPO)
    sync_config_directory(store, ruleset.directory)
    message = parse(NEW_MAIL_CLOSED)
    with store.transaction() as tx:
        decision = evaluate(message, ruleset, StoreStateView(tx), NOW, "demo")
        applied = apply(tx, decision, message, NEW_MAIL_CLOSED, "1.toner")
    assert (decision.outcome.value, decision.ticket.new, decision.ticket.status) == ("create_ticket", True, "closed")
    ticket = store.ticket(applied.ticket)
    assert (ticket.number, ticket.status, ticket.closed_at) == (decision.ticket.number, "closed", NOW)
