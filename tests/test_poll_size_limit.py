"""Mail over the mailbox's size limit is fetched as its header only and rejected with a notice (F-PRE-7).

SPEC IDs proved here: F-PRE-7.
"""

from __future__ import annotations

import pytest

from engine.cli import main
from tests.polltools import drop, maildir_box, make_mail, open_store, write_config

BIG = make_mail("Scans of the whole archive", body="x" * 76 + "\r\n") + (b"y" * 76 + b"\r\n") * 30_000  # ~2.3 MB


def check_rejected(config) -> None:
    store = open_store(config)
    try:
        [entry] = store.processing_log()
        assert (entry.outcome, entry.reason) == ("reject", "too_large")
        assert any(step["rule"] == "size_limit" and step["hit"] and str(len(BIG)) in step["detail"]
                   for step in entry.trace)  # the real size, not the header's
        assert store.tickets() == []
        assert {row.kind for row in store.outbox_messages()} & {"rejected", "error_notice"}
    finally:
        store.close()


def test_an_oversized_mail_in_a_maildir_is_rejected_from_its_header_F_PRE_7(tmp_path, monkeypatch):
    import engine.run.poll

    handed, real = [], engine.run.poll.apply
    # apply(tx, decision, message, raw, key, ...): remember how many bytes it was handed
    monkeypatch.setattr(engine.run.poll, "apply", lambda *a, **k: handed.append(len(a[3])) or real(*a, **k))
    config = write_config(tmp_path / "config", [maildir_box(
        "help", "support@example.com", "var/maildir/help", size_limits={"max_message_mb": 1},
        after_processing={"action": "delete"})])
    drop(config / "var/maildir/help", BIG, "1.big")
    assert main(["poll", "--once", "--config", str(config)]) == 0
    check_rejected(config)
    assert handed and handed[0] < 10_000  # the poller never held the 2 MB body
    assert list((config / "var/maildir/help/new").iterdir()) == []  # acked: it is not refetched every poll


@pytest.mark.dovecot
@pytest.mark.imap
def test_an_oversized_mail_over_imap_is_rejected_from_its_header_F_PRE_7(tmp_path, monkeypatch, dovecot, mail_user):
    monkeypatch.setenv("MAILGATE_TEST_MAILBOX_PASSWORD", mail_user.password)
    config = write_config(tmp_path / "config", [{
        "name": "help", "address": "support@example.com", "protocol": "imap",
        "server": {"host": "127.0.0.1", "port": dovecot.ports["imap"], "tls": "none"},
        "auth": {"username": mail_user.name, "password": {"env": "MAILGATE_TEST_MAILBOX_PASSWORD"},
                 "forbid_plaintext_login": False},
        "size_limits": {"max_message_mb": 1}}])
    dovecot.seed(mail_user, [BIG])
    assert main(["poll", "--once", "--config", str(config)]) == 0
    check_rejected(config)
