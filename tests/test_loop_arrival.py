"""Loop prevention by ARRIVAL on a real poll: a backlog read in one poll is judged by when its mails
arrived; a refused person's mail keeps its bytes and `mailgate replay` processes it (SQLite, PostgreSQL).

Auto-bundling judges by arrival too: the same subject sent days apart is two problems.

SPEC IDs proved here: F-PRE-5, F-FAIL-2, F-REF-7.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from engine.cli import main
from tests.polltools import drop, maildir_box, make_mail, open_store, write_config

START = datetime(2026, 1, 12, 8, 0, tzinfo=timezone.utc)


def _arrived(subject: str, sender: str, when: datetime) -> bytes:
    """A mail as the MTA delivered it at `when`: its Received: header says so (Date: a minute before)."""
    raw = make_mail(subject, sender=sender)
    date = format_datetime(when - timedelta(minutes=1))
    raw = raw.replace(b"Date: Mon, 12 Jan 2026 09:00:00 +0100", f"Date: {date}".encode())
    return f"Received: from relay.acme.test by mx.example.com; {format_datetime(when)}\r\n".encode() + raw


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_args(request) -> tuple[str, ...]:
    return () if request.param == "sqlite" else ("--store", request.getfixturevalue("postgres_url"))


def test_a_three_day_backlog_read_in_one_poll_is_no_loop_but_a_real_burst_is_F_PRE_5(tmp_path, store_args):
    config = write_config(tmp_path, [maildir_box("help", "support@example.com", "var/maildir/help")])
    box = config / "var" / "maildir" / "help"
    for i in range(12):  # one customer, every six hours for three days: read after a long downtime
        when = START + timedelta(hours=6 * i)
        drop(box, _arrived(f"Question {i}", "Ann Miller <ann@acme.test>", when), f"a{i:02}", arrived=when)
    for i in range(7):  # a script gone wild: seven mails within two minutes
        when = START + timedelta(days=3, seconds=20 * i)
        drop(box, _arrived(f"Job {i} failed", "Cron <cron@build.acme.test>", when), f"b{i:02}", arrived=when)
    assert main(["poll", "--once", "--config", str(config), *store_args]) == 0
    store = open_store(config, store_args[1] if store_args else None)
    try:
        log = {e.message_key: e for e in store.processing_log(mailbox="help", limit=100)}
        assert {log[f"a{i:02}"].outcome for i in range(12)} == {"create_ticket"}
        assert [log[f"b{i:02}"].reason for i in range(7)] == ["new_ticket"] * 5 + ["mail_loop"] * 2
        assert log["b05"].arrived_at == START + timedelta(days=3, seconds=100)  # the file's delivery time
        kept = store.quarantined(mailbox="help")
        assert sorted(item.message_key for item in kept) == ["b05", "b06"]  # a person's mail is never destroyed
        assert all(item.error.startswith("mail_loop") for item in kept)
    finally:
        store.close()


def test_a_backlog_bundles_only_what_arrived_close_together_F_REF_7(tmp_path, store_args):
    """Read in one poll after downtime: "Printer problem" on Monday and again on Thursday are two
    tickets; the double send a minute later is bundled onto the first (polling every 60 s: 2 min)."""
    config = write_config(tmp_path, [maildir_box("help", "support@example.com", "var/maildir/help")])
    box = config / "var" / "maildir" / "help"
    for key, when in (("mon", START), ("mon-again", START + timedelta(minutes=1)), ("thu", START + timedelta(days=3))):
        drop(box, _arrived("Printer problem", "Ann Miller <ann@acme.test>", when), key, arrived=when)
    assert main(["poll", "--once", "--config", str(config), *store_args]) == 0
    store = open_store(config, store_args[1] if store_args else None)
    try:
        log = {e.message_key: e for e in store.processing_log(mailbox="help", limit=10)}
        assert [log[k].reason for k in ("mon", "mon-again", "thu")] == ["new_ticket", "auto_bundled", "new_ticket"]
        assert log["mon-again"].ticket_number == log["mon"].ticket_number != log["thu"].ticket_number
    finally:
        store.close()


def test_a_refused_mail_is_replayed_once_the_loop_is_over_F_FAIL_2(tmp_path):
    box_spec = maildir_box("help", "support@example.com", "var/maildir/help",
                           loop_prevention={"max_messages": 2, "window_minutes": 10})
    config = write_config(tmp_path, [box_spec])
    box = config / "var" / "maildir" / "help"
    for i in range(3):
        when = START + timedelta(minutes=i)
        drop(box, _arrived(f"Printer {i}", "Ann Miller <ann@acme.test>", when), f"m{i}", arrived=when)
    assert main(["poll", "--once", "--config", str(config)]) == 0
    store = open_store(config)
    [held] = store.quarantined(mailbox="help")
    store.close()
    assert held.message_key == "m2"
    # Still judged as it arrived then: a replay alone does not get around the loop.
    assert main(["replay", str(held.id), "--config", str(config)]) == 1
    # The admin raises the limit (it was a colleague's busy morning, not a loop) and replays.
    (config / "mailboxes.d" / "help.yaml").write_text(
        (config / "mailboxes.d" / "help.yaml").read_text().replace("max_messages: 2", "max_messages: 5"))
    assert main(["replay", "--config", str(config)]) == 0
    store = open_store(config)
    try:
        entry = store.processed("help", "m2")
        assert (entry.outcome, entry.arrived_at) == ("create_ticket", START + timedelta(minutes=2))
        assert sorted(t.subject for t in store.tickets()) == ["Printer 0", "Printer 1", "Printer 2"]
        assert store.quarantined(mailbox="help") == []
    finally:
        store.close()
