"""`mailgate poll --once` against the real Dovecot: IMAP in every TLS mode, POP3, acks checked on the server.

SPEC IDs proved here: F-MB-11, F-MB-3, F-MB-7, F-MB-8, F-MB-9.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from tests.polltools import cli, make_mail, open_store, write_config

pytestmark = pytest.mark.dovecot
PASSWORD_ENV = "MAILGATE_TEST_MAILBOX_PASSWORD"
PORTS = {("imap", "none"): "imap", ("imap", "starttls"): "imap", ("imap", "implicit"): "imaps",
         ("pop3", "none"): "pop3", ("pop3", "starttls"): "pop3", ("pop3", "implicit"): "pop3s"}


def box_spec(dovecot, user, protocol: str = "imap", tls: str = "starttls", **extra) -> dict:
    spec = {"name": "help", "address": "support@example.com", "protocol": protocol,
            "server": {"host": "127.0.0.1", "port": dovecot.ports[PORTS[protocol, tls]], "tls": tls,
                       "ca_file": str(dovecot.ca_file), "timeout_seconds": 10},
            "auth": {"username": user.name, "password": {"env": PASSWORD_ENV},
                     "forbid_plaintext_login": tls != "none"},
            "new_tickets": {"issue_type": "General"},
            "polling": {"interval_seconds": 60, "max_messages": 500, "batch_size": 2}}
    spec.update(extra)
    return spec


def setup(tmp_path: Path, monkeypatch, dovecot, user, **spec) -> Path:
    monkeypatch.setenv(PASSWORD_ENV, user.password)
    return write_config(tmp_path / "config", [box_spec(dovecot, user, **spec)])


def poll(config: Path) -> int:
    return main(["poll", "--once", "--config", str(config)])


def mails(n: int) -> list[bytes]:
    return [make_mail(f"Request {i}: the scanner is offline", sender=f"User {i} <user{i}@acme.test>") for i in range(n)]


def inbox(dovecot, user, folder: str = "INBOX") -> dict[int, tuple]:
    """UID -> flags of every message in `folder`, read with a client of our own."""
    client = dovecot.imap(user)
    try:
        client.select_folder(folder)
        uids = client.search(["ALL"])
        return dict(client.get_flags(uids)) if uids else {}
    finally:
        client.logout()


def folders(dovecot, user) -> set[str]:
    client = dovecot.imap(user)
    try:
        return {name for _, _, name in client.list_folders()}
    finally:
        client.logout()


def subjects(config: Path) -> list[str]:
    store = open_store(config)
    try:
        return sorted(t.subject for t in store.tickets())
    finally:
        store.close()


@pytest.mark.imap
@pytest.mark.parametrize("tls", ["none", "starttls", "implicit"])
def test_imap_poll_in_each_tls_mode_marks_the_mail_read_on_the_server_F_MB_3_F_MB_9(
        tmp_path, monkeypatch, dovecot, mail_user, tls):
    config = setup(tmp_path, monkeypatch, dovecot, mail_user, tls=tls)
    dovecot.seed(mail_user, mails(3) + [make_mail("Out of office", headers={"Auto-Submitted": "auto-replied"})])
    done = cli(config, "poll", "--once", env={PASSWORD_ENV: mail_user.password})
    assert done.returncode == 0, done.stderr
    assert "3 create_ticket" in done.stdout and "1 ignore" in done.stdout and "4 acknowledged" in done.stdout
    assert len(subjects(config)) == 3
    flags = inbox(dovecot, mail_user)
    assert len(flags) == 4 and all(b"\\Seen" in f for f in flags.values())
    again = cli(config, "poll", "--once", env={PASSWORD_ENV: mail_user.password})
    assert "no new mail" in again.stdout and len(subjects(config)) == 3


@pytest.mark.imap
def test_imap_move_puts_the_mail_in_the_folder_on_the_server_F_MB_9(tmp_path, monkeypatch, dovecot, mail_user):
    config = setup(tmp_path, monkeypatch, dovecot, mail_user,
                   after_processing={"action": "move", "folder": "Processed", "create_folder": True})
    dovecot.seed(mail_user, mails(3))
    assert poll(config) == 0
    assert inbox(dovecot, mail_user) == {}
    assert len(inbox(dovecot, mail_user, "Processed")) == 3


@pytest.mark.imap
def test_imap_delete_removes_the_mail_from_the_server_F_MB_9(tmp_path, monkeypatch, dovecot, mail_user):
    config = setup(tmp_path, monkeypatch, dovecot, mail_user, after_processing={"action": "delete"})
    dovecot.seed(mail_user, mails(3))
    assert poll(config) == 0
    assert inbox(dovecot, mail_user) == {} and len(subjects(config)) == 3


@pytest.mark.imap
def test_a_missing_move_folder_keeps_the_mail_and_says_why_F_MB_9(tmp_path, monkeypatch, dovecot, mail_user, caplog):
    config = setup(tmp_path, monkeypatch, dovecot, mail_user,
                   after_processing={"action": "move", "folder": "Archive", "create_folder": False})
    dovecot.seed(mail_user, mails(2))
    assert poll(config) == 0
    assert len(inbox(dovecot, mail_user)) == 2 and "Archive" not in folders(dovecot, mail_user)
    assert "Archive" in caplog.text
    assert poll(config) == 0  # the mail is still there, but it is never imported twice
    assert len(subjects(config)) == 2


@pytest.mark.imap
def test_a_dropped_connection_mid_fetch_loses_nothing_and_the_next_poll_completes(
        tmp_path, monkeypatch, dovecot, mail_user):
    from engine.sources.imap import ImapSource

    config = setup(tmp_path, monkeypatch, dovecot, mail_user)
    dovecot.seed(mail_user, mails(7))
    real, calls = ImapSource.fetch, []

    def kicked_on_the_second_batch(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            dovecot.kick(mail_user)  # the server drops us between two FETCHes
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ImapSource, "fetch", kicked_on_the_second_batch)
    first = poll(config)
    after_first = subjects(config)
    monkeypatch.setattr(ImapSource, "fetch", real)
    assert poll(config) == 0
    assert first == 1 and 2 <= len(after_first) < 7  # the first batch was stored, then the poll failed
    assert len(subjects(config)) == 7 and len(set(subjects(config))) == 7
    assert all(b"\\Seen" in f for f in inbox(dovecot, mail_user).values())


@pytest.mark.imap
def test_auth_failures_open_one_monitor_ticket_until_recovery_F_MB_11(tmp_path, monkeypatch, dovecot, mail_user):
    config = setup(tmp_path, monkeypatch, dovecot, mail_user, tls="starttls")

    def monitor_tickets() -> list:
        store = open_store(config)
        try:
            return [t for t in store.tickets() if t.source == "System - Email Monitor"]
        finally:
            store.close()

    monkeypatch.setenv(PASSWORD_ENV, "wrong-password")
    for attempt in range(1, 6):
        assert poll(config) == 1
        assert len(monitor_tickets()) == (0 if attempt < 3 else 1)
    [ticket] = monitor_tickets()
    assert "help" in ticket.subject and "cannot log in" in ticket.subject
    monkeypatch.setenv(PASSWORD_ENV, mail_user.password)
    assert poll(config) == 0  # recovered: the outage is over
    monkeypatch.setenv(PASSWORD_ENV, "wrong-again")
    for _ in range(3):
        assert poll(config) == 1
    assert len(monitor_tickets()) == 2  # a new outage, a new ticket


@pytest.mark.imap
def test_test_connection_reports_the_servers_words_on_a_wrong_password_F_MB_7(tmp_path, monkeypatch, dovecot, mail_user):
    config = setup(tmp_path, monkeypatch, dovecot, mail_user)
    good = cli(config, "test-connection", "help", env={PASSWORD_ENV: mail_user.password})
    assert good.returncode == 0, good.stdout + good.stderr
    bad = cli(config, "test-connection", "help", env={PASSWORD_ENV: "nope"})
    assert bad.returncode != 0 and "authentication failed" in (bad.stdout + bad.stderr).lower()


@pytest.mark.pop3
@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_pop3_poll_deletes_on_the_server_after_commit_F_MB_9(tmp_path, monkeypatch, dovecot, mail_user, tls):
    config = setup(tmp_path, monkeypatch, dovecot, mail_user, protocol="pop3", tls=tls,
                   after_processing={"action": "delete"})
    dovecot.seed(mail_user, mails(3))
    done = cli(config, "poll", "--once", env={PASSWORD_ENV: mail_user.password})
    assert done.returncode == 0, done.stderr
    assert len(subjects(config)) == 3
    assert inbox(dovecot, mail_user) == {}


@pytest.mark.pop3
def test_pop3_leave_on_server_never_imports_twice_F_MB_8(tmp_path, monkeypatch, dovecot, mail_user):
    config = setup(tmp_path, monkeypatch, dovecot, mail_user, protocol="pop3",
                   pop3={"leave_on_server": True})
    dovecot.seed(mail_user, mails(3))
    assert poll(config) == 0
    assert len(subjects(config)) == 3
    dovecot.seed(mail_user, [make_mail("A fourth request", sender="Dora <dora@acme.test>")])
    assert poll(config) == 0
    assert poll(config) == 0
    assert len(subjects(config)) == 4
    assert len(inbox(dovecot, mail_user)) == 4  # all still on the server
    store = open_store(config)
    try:
        assert len(store.processing_log()) == 4
    finally:
        store.close()


@pytest.mark.imap
def test_quarantined_mail_moves_to_the_quarantine_folder_saying_why_F_FAIL_1(tmp_path, monkeypatch, dovecot, mail_user):
    config = setup(tmp_path, monkeypatch, dovecot, mail_user, quarantine_folder="Quarantine")
    garbage = b"\x00\x01\x02 not a mail \xff\xfe\r\n" * 10
    dovecot.seed(mail_user, [garbage, *mails(1)])
    assert poll(config) == 0
    assert len(inbox(dovecot, mail_user)) == 1  # the good mail stays, marked read
    client = dovecot.imap(mail_user)
    try:
        client.select_folder("Quarantine")
        [uid] = client.search(["ALL"])
        moved = client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
    finally:
        client.logout()
    store = open_store(config)
    try:
        [item] = store.quarantined(mailbox="help")
        kept = store.quarantine_item(item.id).raw  # as the server gave it (Dovecot stores NUL as 0x80)
    finally:
        store.close()
    assert moved == b"X-Mailgate-Quarantine: unreadable\r\n" + kept  # the copy says why; the store keeps it exact
