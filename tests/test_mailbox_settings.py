"""Mailbox-level settings: inactive mailboxes (F-MB-2), From address fallback (F-MB-6), validate --connect (F-MB-12)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from engine.cli import main
from engine.config.compile import load_ruleset
from engine.evaluate import evaluate
from engine.store.memory_state import from_ruleset
from engine.parse import parse
from tests.polltools import drop, files, maildir_box, make_mail, open_store, write_config

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)


def test_inactive_mailbox_is_defined_but_not_polled_F_MB_2(tmp_path):
    """F-MB-2: `active: false` keeps the mailbox valid, and `poll` leaves its mail alone."""
    config = write_config(tmp_path, [maildir_box("live", "support@example.com", "var/maildir/live"),
                                     maildir_box("parked", "parked@example.com", "var/maildir/parked", active=False)])
    for name in ("live", "parked"):
        drop(config / "var" / "maildir" / name, make_mail(f"Printer broken ({name})", message_id=f"<{name}@acme.test>"), "1.mail")
    assert main(["poll", "--once", "--config", str(config)]) == 0
    assert files(config / "var" / "maildir" / "parked")["new"] == ["1.mail"]
    assert files(config / "var" / "maildir" / "live")["new"] == []
    store = open_store(config)
    try:
        assert [t.subject for t in store.tickets()] == ["Printer broken (live)"]
    finally:
        store.close()


def _auto_reply_sender(config) -> str:
    ruleset = load_ruleset(config)
    mail = parse(make_mail("Laptop will not start", message_id="<from-test@acme.test>"))
    decision = evaluate(mail, ruleset, from_ruleset(ruleset), NOW, "help")
    [auto_reply] = [m for m in decision.outgoing if m.role == "auto_reply"]
    return auto_reply.sender


def test_return_address_and_from_name_per_mailbox_fall_back_to_global_F_MB_6(tmp_path):
    """F-MB-6: the mailbox's own return address and name win; without them settings.* apply."""
    own = maildir_box("help", "help@example.com", "var/maildir/help",
                      return_address="help@example.com", from_name="IT Service Desk")
    other = maildir_box("support", "support@example.com", "var/maildir/support")
    assert _auto_reply_sender(write_config(tmp_path / "own", [own, other])) == "IT Service Desk <help@example.com>"
    fallback = maildir_box("help", "help@example.com", "var/maildir/help")
    # settings.return_address (support@example.com) and settings.from_name of the shipped rules
    assert _auto_reply_sender(write_config(tmp_path / "global", [fallback, other])) == "Example Helpdesk <support@example.com>"


def test_validate_connect_logs_in_to_every_active_mailbox_F_MB_12(tmp_path, capsys):
    """F-MB-12: `validate --connect` tests each active mailbox like saving one does, and fails when one fails."""
    config = write_config(tmp_path, [maildir_box("help", "support@example.com", "var/maildir/help")])
    box = config / "var" / "maildir" / "help"
    box.parent.mkdir(parents=True)
    box.write_text("a file where the maildir should be")
    assert main(["validate", "--connect", "--format", "json", str(config)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == [] and report["ok"] is False
    [connection] = report["connections"]
    assert connection["mailbox"] == "help" and not connection["ok"] and "Maildir" in connection["error"]
    box.unlink()
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    assert main(["validate", "--connect", str(config)]) == 0
    assert "help: OK" in capsys.readouterr().out
