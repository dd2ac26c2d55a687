"""The POP3 source against a real Dovecot: TLS, auth, UIDL keys, leave-on-server, QUIT semantics.

SPEC IDs proved here: F-MB-3, F-MB-4, F-MB-7, F-MB-8, F-MB-9, F-PRE-7.
"""

from __future__ import annotations

import pytest

from engine.errors import AuthError, SourceError
from engine.sources.base import AfterAction
from engine.sources.pop3 import Pop3Settings, Pop3Source
from tests.servers.dovecot import make_message
from tests.servers.plainserver import closed_port, plain_pop3_server  # noqa: F401 (fixture)
from engine.run.fetching import FetchPlan
from tests.polltools import fetch_batches, fetched

pytestmark = pytest.mark.pop3


def settings(dovecot, user, tls="none", **kw) -> Pop3Settings:
    port = dovecot.ports["pop3s" if tls == "implicit" else "pop3"]
    kw.setdefault("ca_file", str(dovecot.ca_file))
    kw.setdefault("password", user.password)
    return Pop3Settings(host=dovecot.host, port=port, tls=tls, username=user.name, **kw)


def on_server(dovecot, user) -> int:
    with dovecot.imap(user) as client:
        return client.select_folder("INBOX", readonly=True)[b"EXISTS"]


@pytest.mark.parametrize("tls", ["none", "starttls", "implicit"])
def test_fetch_over_each_tls_mode_F_MB_3(dovecot, mail_user, tls):
    sent = [make_message(i) for i in range(4)]
    dovecot.seed(mail_user, sent)
    with Pop3Source(settings(dovecot, mail_user, tls)) as source:
        got = fetched(source, batch_size=3)
    assert sorted(m.raw for m in got) == sorted(sent)  # byte-exact, dot-stuffing undone
    assert len({m.key for m in got}) == 4


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_self_signed_certificate_is_refused_by_default_F_MB_3(dovecot, mail_user, tls):
    source = Pop3Source(settings(dovecot, mail_user, tls, ca_file=None))
    with pytest.raises(SourceError) as err:
        fetched(source)
    assert "certificate" in str(err.value) and "ca_file" in err.value.hint
    loose = Pop3Source(settings(dovecot, mail_user, tls, ca_file=None, verify_certificate=False))
    assert loose.test_connection().ok


def test_default_ports_follow_the_tls_mode_F_MB_3():
    assert Pop3Settings("h", "u", tls="implicit").effective_port == 995
    assert Pop3Settings("h", "u", tls="starttls").effective_port == 110


def test_auth_auto_uses_sasl_scram_over_user_pass_F_MB_4(dovecot, mail_user):
    report = Pop3Source(settings(dovecot, mail_user, "implicit")).test_connection()
    assert report.ok and report.auth_mechanism == "SCRAM-SHA-256"
    assert f"pop3-login: Info: Login: user=<{mail_user.name}>, method=SCRAM-SHA-256" in dovecot.log()


@pytest.mark.parametrize("mech", ["scram-sha-1", "cram-md5", "plain", "user"])
def test_each_allowed_mechanism_logs_in_F_MB_4(dovecot, mail_user, mech):
    assert Pop3Source(settings(dovecot, mail_user, "starttls", auth=(mech,))).test_connection().ok


def test_forbid_plaintext_login_refuses_user_pass_without_tls_F_MB_4(dovecot, mail_user):
    s = settings(dovecot, mail_user, "none", auth=("user", "plain"))
    with pytest.raises(SourceError, match="forbid_plaintext_login"):
        fetched(Pop3Source(s))
    assert f"user=<{mail_user.name}>" not in dovecot.log()


def test_wrong_password_raises_auth_error_with_the_servers_words_F_MB_7(dovecot, mail_user):
    s = Pop3Settings(host=dovecot.host, port=dovecot.ports["pop3s"], ca_file=str(dovecot.ca_file),
                     username=mail_user.name, password="wrong")
    with pytest.raises(AuthError) as err:
        fetched(Pop3Source(s))
    assert "Authentication failed" in err.value.server_text
    report = Pop3Source(s).test_connection()
    assert report.auth_failed and "Authentication failed" in report.server_text


def test_test_connection_counts_F_MB_7(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(i) for i in range(3)])
    report = Pop3Source(settings(dovecot, mail_user)).test_connection()
    assert (report.ok, report.message_count) == (True, 3)


def test_uidl_keys_are_stable_across_sessions(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(i) for i in range(3)])
    with Pop3Source(settings(dovecot, mail_user)) as source:
        first = [m.key for m in fetched(source)]
    with Pop3Source(settings(dovecot, mail_user)) as source:
        assert [m.key for m in fetched(source)] == first


def test_max_messages_per_session_F_MB_8(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(i) for i in range(7)])
    with Pop3Source(settings(dovecot, mail_user)) as source:
        batches = list(fetch_batches(source, 5, 2))
    assert [len(b) for b in batches] == [2, 2, 1]


def test_leave_on_server_never_imports_twice_F_MB_9(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(i) for i in range(3)])
    log: set[str] = set()  # stands in for the processing log
    s = settings(dovecot, mail_user, leave_on_server=True)

    def poll() -> int:
        with Pop3Source(s) as source:
            new = fetched(source, skip=log.__contains__)
            log.update(m.key for m in new)
            assert not source.ack([m.key for m in new], AfterAction.delete()).done
        return len(new)

    assert [poll(), poll(), poll()] == [3, 0, 0]
    dovecot.seed(mail_user, [make_message(99)])
    assert [poll(), poll()] == [1, 0]
    assert on_server(dovecot, mail_user) == 4


def test_delete_happens_at_quit_F_MB_9(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(i) for i in range(5)])
    source = Pop3Source(settings(dovecot, mail_user))
    for batch in fetch_batches(source, 100, 2):
        assert source.ack([m.key for m in batch], AfterAction.delete()).ok
    assert on_server(dovecot, mail_user) == 5  # DELE alone removes nothing
    source.close()  # QUIT
    assert on_server(dovecot, mail_user) == 0


def test_a_session_that_dies_before_quit_loses_nothing_and_imports_nothing_twice_F_MB_9(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(i) for i in range(4)])
    log: set[str] = set()
    source = Pop3Source(settings(dovecot, mail_user))
    batch = next(fetch_batches(source, 100, 4))
    log.update(m.key for m in batch)  # the store committed...
    source.ack([m.key for m in batch], AfterAction.delete())
    dovecot.kick(mail_user)  # ...and the session died before QUIT
    source.close()
    assert on_server(dovecot, mail_user) == 4
    with Pop3Source(settings(dovecot, mail_user)) as again:
        found = FetchPlan()
        assert fetched(again, skip=log.__contains__, found=found) == []
        assert sorted(found.logged) == sorted(log)
        assert again.ack(found.logged, AfterAction.delete()).ok  # finish the lost ack
    assert on_server(dovecot, mail_user) == 0


def test_move_is_not_possible_and_says_so_F_MB_9(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(1)])
    with Pop3Source(settings(dovecot, mail_user)) as source:
        keys = [m.key for m in fetched(source)]
        report = source.ack(keys, AfterAction.move("Done"))
    assert report.kept == tuple(keys) and "no folders" in report.problems[0]


def test_long_lines_and_leading_dots_survive(dovecot, mail_user):
    raw = (b"From: a@example.com\r\nSubject: dots\r\n\r\n.starts with a dot\r\n..two\r\n"
           + b"x" * 5000 + b"\r\n")
    dovecot.seed(mail_user, [raw])
    with Pop3Source(settings(dovecot, mail_user)) as source:
        assert [m.raw for m in fetched(source)] == [raw]


@pytest.mark.xoauth2
def test_oauth_token_provider_logs_in_over_pop3_F_MB_4(dovecot, mail_user):
    token = dovecot.issue_token(mail_user)
    s = settings(dovecot, mail_user, "implicit", password=None)
    report = Pop3Source(s, token_provider=lambda: token).test_connection()
    assert report.ok and report.auth_mechanism == "OAUTHBEARER", report.error
    with pytest.raises(AuthError):
        fetched(Pop3Source(s, token_provider=lambda: "expired-token"))


def test_a_server_that_drops_the_connection_mid_fetch(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(i) for i in range(4)])
    log: set[str] = set()
    source = Pop3Source(settings(dovecot, mail_user))
    batches = fetch_batches(source, 100, 2)
    log.update(m.key for m in next(batches))
    dovecot.kick(mail_user)
    with pytest.raises(SourceError):
        list(batches)
    source.close()
    with Pop3Source(settings(dovecot, mail_user)) as again:
        rest = fetched(again, skip=log.__contains__)
    assert len(rest) == 2 and not log & {m.key for m in rest}


def test_oversized_mail_comes_as_its_header_only_F_PRE_7(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(1, size=2_000), make_message(2, size=300_000)])
    with Pop3Source(settings(dovecot, mail_user)) as source:
        small, big = fetched(source, max_size=100_000)
    assert not small.truncated and small.size == len(small.raw)
    assert big.truncated and big.size > 290_000 > 10 * len(big.raw) and b"Subject: Test message 2" in big.raw



def test_stls_never_falls_back_to_plaintext_F_MB_3(plain_pop3_server):
    s = Pop3Settings(host="127.0.0.1", port=plain_pop3_server.server_address[1], tls="starttls",
                     username="u", password="secret", forbid_plaintext_login=False)
    with pytest.raises(SourceError, match="does not offer STLS"):
        fetched(Pop3Source(s))
    assert not {b"USER", b"PASS", b"AUTH"} & set(plain_pop3_server.seen)


def test_nothing_listening_is_a_source_error_with_a_hint_F_MB_7():
    s = Pop3Settings(host="127.0.0.1", port=closed_port(), tls="none", username="u", password="p")
    report = Pop3Source(s).test_connection()
    assert not report.ok and not report.auth_failed and "port" in report.hint
