"""Max messages per session: log out and in again within one poll, against the real Dovecot.

SPEC IDs proved here: F-MB-16.
"""

from __future__ import annotations

import re

import pytest

from engine.sources.base import AfterAction
from engine.sources.imap import ImapSettings, ImapSource
from engine.sources.pop3 import Pop3Settings, Pop3Source
from tests.polltools import cli, fetch_batches, make_mail, open_store, write_config
from tests.servers.dovecot import make_message

pytestmark = pytest.mark.dovecot
PASSWORD_ENV = "MAILGATE_TEST_MAILBOX_PASSWORD"


def on_server(dovecot, user) -> int:
    with dovecot.imap(user) as client:
        return client.select_folder("INBOX", readonly=True)[b"EXISTS"]


def logins(dovecot, user, protocol: str) -> int:
    """Logins of `user` over `protocol` that Dovecot logged."""
    return len(re.findall(rf"{protocol}-login: Info: Login: user=<{re.escape(user.name)}>", dovecot.log()))


def pop3(dovecot, user, limit) -> Pop3Source:
    return Pop3Source(Pop3Settings(host=dovecot.host, port=dovecot.ports["pop3"], tls="none", username=user.name,
                                   password=user.password, forbid_plaintext_login=False,
                                   max_messages_per_session=limit))


def test_pop3_quits_after_n_messages_so_their_deletions_happen_mid_poll_F_MB_16(dovecot, mail_user):
    """Seed 003: 'the number of messages that will be deleted ... before disconnecting and reconnecting'."""
    dovecot.seed(mail_user, [make_message(i) for i in range(5)])
    source = pop3(dovecot, mail_user, 2)
    seen, fetched = [], []
    for batch in fetch_batches(source, 100, 1):
        seen.append(on_server(dovecot, mail_user))  # what the server holds when each message arrives
        fetched += batch
        assert source.ack([m.key for m in batch], AfterAction.delete()).ok
    source.close()
    assert len({m.key for m in fetched}) == 5
    # DELE takes effect at QUIT: after every second message the session ends and the two go.
    assert seen == [5, 5, 3, 3, 1]
    assert on_server(dovecot, mail_user) == 0
    assert source.sessions == 3 and logins(dovecot, mail_user, "pop3") == 3


def test_a_batch_larger_than_the_session_is_split_across_sessions_F_MB_16(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(i) for i in range(5)])
    source = pop3(dovecot, mail_user, 2)
    [batch] = list(fetch_batches(source, 100, 10))
    assert len(batch) == 5 and source.sessions == 3
    assert source.ack([m.key for m in batch], AfterAction.delete()).ok  # the keys are UIDLs: any session may DELE them
    source.close()
    assert on_server(dovecot, mail_user) == 0


def test_without_a_limit_one_session_serves_the_poll_F_MB_16(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(i) for i in range(5)])
    source = pop3(dovecot, mail_user, None)
    for batch in fetch_batches(source, 100, 1):
        source.ack([m.key for m in batch], AfterAction.delete())
    source.close()
    assert source.sessions == 1 and on_server(dovecot, mail_user) == 0


def test_imap_logs_in_again_after_n_messages_F_MB_16(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(i) for i in range(5)])
    source = ImapSource(ImapSettings(host=dovecot.host, port=dovecot.ports["imap"], tls="none",
                                     username=mail_user.name, password=mail_user.password,
                                     forbid_plaintext_login=False, max_messages_per_session=2))
    got = []
    for batch in fetch_batches(source, 100, 1):
        got += batch
        assert source.ack([m.key for m in batch], AfterAction.mark_read()).ok
    source.close()
    assert len(got) == 5 and source.sessions == 3
    assert logins(dovecot, mail_user, "imap") == 3


def test_poll_reads_every_message_in_one_poll_across_sessions_F_MB_16(tmp_path, monkeypatch, dovecot, mail_user):
    """The knob ends a session, never the poll: five requests become five tickets in one `poll --once`."""
    spec = {"name": "help", "address": "support@example.com", "protocol": "pop3",
            "server": {"host": "127.0.0.1", "port": dovecot.ports["pop3"], "tls": "none", "timeout_seconds": 10},
            "auth": {"username": mail_user.name, "password": {"env": PASSWORD_ENV}, "forbid_plaintext_login": False},
            "after_processing": {"action": "delete"}, "pop3": {"max_messages_per_session": 2},
            "polling": {"interval_seconds": 60, "max_messages": 500, "batch_size": 1}}
    config = write_config(tmp_path / "config", [spec])
    dovecot.seed(mail_user, [make_mail(f"Request {i}: the scanner is offline", sender=f"U{i} <u{i}@acme.test>")
                             for i in range(5)])
    done = cli(config, "poll", "--once", env={PASSWORD_ENV: mail_user.password})
    assert done.returncode == 0, done.stderr
    store = open_store(config)
    try:
        assert len(store.tickets()) == 5
    finally:
        store.close()
    assert on_server(dovecot, mail_user) == 0
    assert logins(dovecot, mail_user, "pop3") == 3
