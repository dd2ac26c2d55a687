"""Quarantine while polling: raw bytes kept, the error user told, the mail moved to the quarantine folder (F-FAIL-1)."""

from __future__ import annotations

import engine.run.poll
from engine.cli import main
from engine.decision import Outcome
from engine.errors import StoreError
from tests.polltools import drop, files, maildir_box, make_mail, open_store, write_config

GARBAGE = b"\x00\x01\x02\xff\xfe not a mail at all \x00\x00\x89PNG\r\n\x1a\n" * 20


def _config(tmp_path):
    box = maildir_box("help", "support@example.com", "var/maildir/help", quarantine_folder="Quarantine")
    config = write_config(tmp_path, [box])
    return config, config / "var" / "maildir" / "help"


def test_unreadable_mail_is_kept_reported_and_moved_to_the_quarantine_folder_F_FAIL_1(tmp_path):
    config, box = _config(tmp_path)
    drop(box, GARBAGE, "1.junk")
    drop(box, make_mail("Printer broken", message_id="<next@acme.test>"), "2.next")
    assert main(["poll", "--once", "--config", str(config)]) == 0
    assert files(box / ".Quarantine")["new"] == ["1.junk"]  # moved aside, not marked read in the inbox
    moved = next((box / ".Quarantine" / "new").iterdir()).read_bytes()  # says why it is there; the store keeps it exact
    assert moved == b"X-Mailgate-Quarantine: unreadable\r\n" + GARBAGE
    inbox = files(box)
    assert inbox["new"] == [] and [name.split(":")[0] for name in inbox["cur"]] == ["2.next"]  # marked read
    store = open_store(config)
    try:
        [item] = store.quarantined(mailbox="help")
        assert store.quarantine_item(item.id).raw == GARBAGE
        assert [t.subject for t in store.tickets()] == ["Printer broken"]  # the next message went on
        notices = [m for m in store.outbox_messages() if m.kind == "error_notice"]
        assert [m.to_addr for m in notices] == ["helpdesk-admin@example.com"]
    finally:
        store.close()


def test_a_message_that_fails_to_apply_is_quarantined_and_the_error_user_told_F_FAIL_1(tmp_path, monkeypatch):
    config, box = _config(tmp_path)
    drop(box, make_mail("Laptop broken", message_id="<fails@acme.test>"), "1.fails")

    real_apply = engine.run.poll.apply

    def broken_apply(tx, decision, *args, **kwargs):
        if decision.outcome is not Outcome.QUARANTINE:  # the ticket change fails; keeping the mail works
            raise StoreError("disk I/O error")
        return real_apply(tx, decision, *args, **kwargs)

    monkeypatch.setattr(engine.run.poll, "apply", broken_apply)
    assert main(["poll", "--once", "--config", str(config)]) == 0
    assert files(box / ".Quarantine")["new"] == ["1.fails"]
    store = open_store(config)
    try:
        [item] = store.quarantined(mailbox="help")
        assert "disk I/O error" in item.error
        [notice] = [m for m in store.outbox_messages() if m.kind == "error_notice"]
        assert "disk I/O error" in notice.body and "Laptop broken" in notice.body
        assert dict(notice.headers)["Auto-Submitted"] == "auto-generated"
    finally:
        store.close()


def test_a_mail_over_the_time_budget_is_quarantined_and_the_mail_behind_it_goes_on_F_FAIL_1(tmp_path, monkeypatch):
    """limits.message_seconds: a mail whose parse would take 60 s is given up after 2 s (issue 16)."""
    import yaml

    import engine.run.parse_ahead as ahead
    from tests import slow_parse

    config, box = _config(tmp_path)
    settings = config / "rules" / "00-settings.yaml"
    data = yaml.safe_load(settings.read_text())
    data["limits"]["message_seconds"] = 2
    settings.write_text(yaml.safe_dump(data, sort_keys=False))
    drop(box, make_mail("First", message_id="<first@acme.test>"), "1.first")
    drop(box, make_mail("Stuck", message_id="<stuck@acme.test>", headers={"X-Test-Parse": "sleep 60"}), "2.stuck")
    drop(box, make_mail("Behind it", message_id="<behind@acme.test>"), "3.behind")
    ahead.shutdown()
    monkeypatch.setattr(ahead, "WORKER_INITIALIZER", slow_parse.NAME)
    try:
        assert main(["poll", "--once", "--config", str(config)]) == 0
    finally:
        ahead.shutdown()
    assert files(box / ".Quarantine")["new"] == ["2.stuck"]  # acknowledged the quarantine way
    assert files(box)["new"] == []
    store = open_store(config)
    try:
        [item] = store.quarantined(mailbox="help")
        assert item.error == "unreadable: over budget: parsing took more than 2 s (limits.message_seconds)"
        assert sorted(t.subject for t in store.tickets()) == ["Behind it", "First"]
    finally:
        store.close()
