"""The IMAP source against a real Dovecot: TLS modes, auth choice, batched fetch and acks.

SPEC IDs proved here: F-MB-3, F-MB-4, F-MB-7, F-MB-8, F-MB-9, F-PRE-7.
"""

from __future__ import annotations

import tracemalloc
from datetime import datetime, timedelta, timezone

import pytest
from imapclient import IMAPClient

from engine.errors import AuthError, SourceError
from engine.sources.base import AfterAction
from engine.sources.imap import ImapSettings, ImapSource
from tests.servers.dovecot import make_message
from tests.servers.plainserver import closed_port, plain_imap_server  # noqa: F401 (fixture)
from engine.run.fetching import FetchPlan
from tests.polltools import fetch_batches, fetched

pytestmark = pytest.mark.imap


def settings(dovecot, user, tls="none", **kw) -> ImapSettings:
    port = dovecot.ports["imaps" if tls == "implicit" else "imap"]
    kw.setdefault("ca_file", str(dovecot.ca_file))
    kw.setdefault("password", user.password)
    return ImapSettings(host=dovecot.host, port=port, tls=tls, username=user.name, **kw)


def flags_by_subject(dovecot, user, folder="INBOX"):
    with dovecot.imap(user) as client:
        client.select_folder(folder, readonly=True)
        data = client.fetch(client.search(["ALL"]), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    return {v[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split(":", 1)[1].strip(): set(v[b"FLAGS"])
            for v in data.values()}


@pytest.mark.parametrize("tls", ["none", "starttls", "implicit"])
def test_fetch_over_each_tls_mode_leaves_mail_unseen_F_MB_3(dovecot, mail_user, tls):
    sent = [make_message(i) for i in range(5)]
    dovecot.seed(mail_user, sent)
    with ImapSource(settings(dovecot, mail_user, tls)) as source:
        got = fetched(source, batch_size=2)
    assert sorted(m.raw for m in got) == sorted(sent)
    assert len({m.key for m in got}) == 5 and all(":" in m.key for m in got)
    # BODY.PEEK[]: fetching never marks anything read; only ack does (F-MB-9).
    assert all(b"\\Seen" not in f for f in flags_by_subject(dovecot, mail_user).values())


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_self_signed_certificate_is_refused_by_default_F_MB_3(dovecot, mail_user, tls):
    dovecot.seed(mail_user, [make_message(1)])
    source = ImapSource(settings(dovecot, mail_user, tls, ca_file=None))
    with pytest.raises(SourceError) as err:
        fetched(source)
    assert "certificate" in str(err.value) and "ca_file" in err.value.hint
    report = source.test_connection()
    assert not report.ok and "ca_file" in report.hint and not report.auth_failed


def test_verify_certificate_false_accepts_the_self_signed_server_F_MB_3(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(1)])
    s = settings(dovecot, mail_user, "implicit", ca_file=None, verify_certificate=False)
    with ImapSource(s) as source:
        assert len(fetched(source)) == 1


def test_default_ports_follow_the_tls_mode_F_MB_3():
    assert ImapSettings("h", "u", tls="implicit").effective_port == 993
    assert ImapSettings("h", "u", tls="starttls").effective_port == 143
    assert ImapSettings("h", "u", tls="none").effective_port == 143


def test_auth_auto_picks_the_strongest_mechanism_offered_F_MB_4(dovecot, mail_user):
    with ImapSource(settings(dovecot, mail_user, "implicit")) as source:
        report = source.test_connection()
    assert report.ok and report.auth_mechanism == "SCRAM-SHA-256"
    assert f"user=<{mail_user.name}>, method=SCRAM-SHA-256" in dovecot.log()


@pytest.mark.parametrize("mech", ["scram-sha-1", "cram-md5", "plain", "login"])
def test_each_allowed_mechanism_logs_in_F_MB_4(dovecot, mail_user, mech):
    with ImapSource(settings(dovecot, mail_user, "starttls", auth=(mech,))) as source:
        report = source.test_connection()
    assert report.ok, report.error


def test_forbid_plaintext_login_refuses_cleartext_without_tls_F_MB_4(dovecot, mail_user):
    s = settings(dovecot, mail_user, "none", auth=("plain", "login"), forbid_plaintext_login=True)
    with pytest.raises(SourceError, match="forbid_plaintext_login") as err:
        fetched(ImapSource(s))
    assert not isinstance(err.value, AuthError)
    assert f"user=<{mail_user.name}>" not in dovecot.log()  # the password never left
    # auto without TLS still works through a challenge-response mechanism.
    with ImapSource(settings(dovecot, mail_user, "none")) as source:
        assert source.test_connection().auth_mechanism == "SCRAM-SHA-256"
    # and with the switch off, clear-text login is the admin's explicit choice.
    allowed = settings(dovecot, mail_user, "none", auth=("login",), forbid_plaintext_login=False)
    assert ImapSource(allowed).test_connection().ok


def test_wrong_password_raises_auth_error_with_the_servers_words_F_MB_7(dovecot, mail_user):
    s = ImapSettings(host=dovecot.host, port=dovecot.ports["imaps"], tls="implicit",
                     ca_file=str(dovecot.ca_file), username=mail_user.name, password="wrong")
    with pytest.raises(AuthError) as err:
        fetched(ImapSource(s))
    assert "Authentication failed" in err.value.server_text
    report = ImapSource(s).test_connection()
    assert not report.ok and report.auth_failed
    assert "Authentication failed" in report.server_text and report.hint


def test_test_connection_reports_counts_F_MB_7(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(i) for i in range(3)])
    dovecot.seed(mail_user, [make_message(9)], seen=True)
    report = ImapSource(settings(dovecot, mail_user, "implicit")).test_connection()
    assert (report.ok, report.message_count, report.unread_count) == (True, 4, 3)
    assert report.folder == "INBOX" and report.tls == "implicit"


def test_a_folder_that_does_not_exist_is_reported_F_MB_7(dovecot, mail_user):
    report = ImapSource(settings(dovecot, mail_user, folder="Nope")).test_connection()
    assert not report.ok and "Nope" in report.error and report.server_text


def test_unread_only_or_all_and_folder_selection(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(1)])
    dovecot.seed(mail_user, [make_message(2)], seen=True)
    dovecot.seed(mail_user, [make_message(3)], folder="Support")
    assert len(fetched(ImapSource(settings(dovecot, mail_user)))) == 1
    assert len(fetched(ImapSource(settings(dovecot, mail_user, unread_only=False)))) == 2
    assert len(fetched(ImapSource(settings(dovecot, mail_user, folder="Support")))) == 1


def test_max_messages_and_skip_F_MB_8(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(i) for i in range(10)])
    with ImapSource(settings(dovecot, mail_user)) as source:
        first = fetched(source, max_messages=3)
        assert len(first) == 3
        done = {m.key for m in first}
        found = FetchPlan()
        rest = fetched(source, max_messages=100, skip=done.__contains__, found=found)
        assert len(rest) == 7 and not done & {m.key for m in rest}
        assert sorted(found.logged) == sorted(done)


class CountingStores:
    """Counts IMAP commands that change mail, to prove one command per batch."""

    def __init__(self, monkeypatch):
        self.calls = []
        for name in ("add_flags", "move", "copy", "uid_expunge", "expunge"):
            original = getattr(IMAPClient, name)
            monkeypatch.setattr(IMAPClient, name, self._wrap(name, original))

    def _wrap(self, name, original):
        def spy(client, *args, **kwargs):
            self.calls.append(name)
            return original(client, *args, **kwargs)
        return spy


def test_mark_read_is_one_store_per_batch_F_MB_9(dovecot, mail_user, monkeypatch):
    dovecot.seed(mail_user, [make_message(i) for i in range(10)])
    spy = CountingStores(monkeypatch)
    with ImapSource(settings(dovecot, mail_user)) as source:
        for batch in fetch_batches(source, 100, 4):
            report = source.ack([m.key for m in batch], AfterAction.mark_read())
            assert report.ok and len(report.done) == len(batch)
    assert spy.calls == ["add_flags"] * 3
    assert all(b"\\Seen" in f for f in flags_by_subject(dovecot, mail_user).values())


def test_delete_expunges_only_the_acked_batch_F_MB_9(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(i) for i in range(6)])
    with ImapSource(settings(dovecot, mail_user)) as source:
        batch = next(fetch_batches(source, 100, 4))
        assert source.ack([m.key for m in batch], AfterAction.delete()).ok
    left = flags_by_subject(dovecot, mail_user)
    assert sorted(left) == ["Test message 4", "Test message 5"]


def test_move_to_an_existing_folder_F_MB_9(dovecot, mail_user, monkeypatch):
    dovecot.seed(mail_user, [make_message(i) for i in range(5)])
    dovecot.seed(mail_user, [], folder="Done")
    spy = CountingStores(monkeypatch)
    with ImapSource(settings(dovecot, mail_user)) as source:
        keys = [m.key for m in fetched(source)]
        assert source.ack(keys, AfterAction.move("Done")).ok
    assert spy.calls == ["move"]
    assert flags_by_subject(dovecot, mail_user) == {}
    assert len(flags_by_subject(dovecot, mail_user, "Done")) == 5


def test_move_to_a_missing_folder_keeps_the_mail_and_says_so_F_MB_9(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(i) for i in range(3)])
    with ImapSource(settings(dovecot, mail_user)) as source:
        keys = [m.key for m in fetched(source)]
        report = source.ack(keys, AfterAction.move("Archive"))
    assert not report.ok and report.kept == tuple(keys) and not report.done
    assert "Archive" in report.problems[0] and "create_folder" in report.problems[0]
    assert len(flags_by_subject(dovecot, mail_user)) == 3


def test_move_creates_the_folder_when_configured_F_MB_9(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(i) for i in range(3)])
    with ImapSource(settings(dovecot, mail_user)) as source:
        keys = [m.key for m in fetched(source)]
        assert source.ack(keys, AfterAction.move("Processed.2026", create_folder=True)).ok
    assert len(flags_by_subject(dovecot, mail_user, "Processed.2026")) == 3
    assert flags_by_subject(dovecot, mail_user) == {}


class NoMoveSource(ImapSource):
    """A client for servers without the MOVE extension (RFC 6851)."""

    def _move(self, uids, folder):
        original = self._conn.has_capability
        self._conn.has_capability = lambda cap: cap != "MOVE" and original(cap)
        try:
            super()._move(uids, folder)
        finally:
            del self._conn.has_capability


def test_move_without_the_move_extension_copies_and_expunges_F_MB_9(dovecot, mail_user, monkeypatch):
    dovecot.seed(mail_user, [make_message(i) for i in range(4)])
    dovecot.seed(mail_user, [], folder="Done")
    spy = CountingStores(monkeypatch)
    with NoMoveSource(settings(dovecot, mail_user)) as source:
        batch = next(fetch_batches(source, 100, 3))
        assert source.ack([m.key for m in batch], AfterAction.move("Done")).ok
    assert spy.calls == ["copy", "add_flags", "uid_expunge"]
    assert list(flags_by_subject(dovecot, mail_user)) == ["Test message 3"]
    assert len(flags_by_subject(dovecot, mail_user, "Done")) == 3


def test_uidvalidity_change_leaves_old_keys_untouched(dovecot, mail_user):
    with dovecot.imap(mail_user) as client:
        client.create_folder("Work")
        for i in range(3):
            client.append("Work", make_message(i))
    with ImapSource(settings(dovecot, mail_user, folder="Work")) as source:
        old = fetched(source)
        source.close()
        with dovecot.imap(mail_user) as client:  # the folder is deleted and made again
            client.delete_folder("Work")
            client.create_folder("Work")
            for i in range(3):
                client.append("Work", make_message(i + 10))
        report = source.ack([m.key for m in old], AfterAction.delete())
        assert report.stale == tuple(m.key for m in old) and not report.done
        assert "UIDVALIDITY" in report.problems[0]
        new = fetched(source)
    assert len(new) == 3 and not {m.key for m in new} & {m.key for m in old}
    assert len(flags_by_subject(dovecot, mail_user, "Work")) == 3


def test_a_server_that_drops_the_connection_mid_fetch(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(i) for i in range(6)])
    source = ImapSource(settings(dovecot, mail_user))
    batches = fetch_batches(source, 100, 2)
    first = next(batches)
    source.ack([m.key for m in first], AfterAction.mark_read())
    dovecot.kick(mail_user)
    with pytest.raises(SourceError):
        list(batches)
    # Nothing was lost: the next poll gets every message not yet acked.
    with source:
        assert len(fetched(source)) == 4


def test_a_big_mailbox_streams_in_bounded_batches(dovecot, mail_user):
    size, count, batch_size = 10_000, 2_000, 50
    dovecot.seed(mail_user, (make_message(i, size=size) for i in range(count)))
    seen, biggest = 0, 0
    tracemalloc.start()
    try:
        with ImapSource(settings(dovecot, mail_user)) as source:
            for batch in fetch_batches(source, 9999, batch_size):
                biggest = max(biggest, len(batch))
                seen += len(batch)
                del batch
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (seen, biggest) == (count, batch_size)
    # The whole mailbox is ~20 MB; a few batches' worth (~0.5 MB each) is all we hold.
    assert peak < 8 * batch_size * size, peak


@pytest.mark.xoauth2
@pytest.mark.parametrize("mech", [("xoauth2",), ("oauthbearer",), "auto"])
def test_oauth_token_provider_logs_in_with_xoauth2_or_oauthbearer_F_MB_4(dovecot, mail_user, mech):
    dovecot.seed(mail_user, [make_message(1)])
    token = dovecot.issue_token(mail_user)
    s = settings(dovecot, mail_user, "implicit", password=None, auth=mech)
    with ImapSource(s, token_provider=lambda: token) as source:
        report = source.test_connection()
    assert report.ok and report.message_count == 1, report.error
    assert report.auth_mechanism == ("OAUTHBEARER" if mech == "auto" else mech[0].upper())


@pytest.mark.xoauth2
def test_a_rejected_oauth_token_is_an_auth_error_F_MB_4(dovecot, mail_user):
    s = settings(dovecot, mail_user, "implicit", password=None)
    with pytest.raises(AuthError):
        fetched(ImapSource(s, token_provider=lambda: "expired-token"))


def test_oversized_mail_comes_as_its_header_only_F_PRE_7(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(1, size=2_000), make_message(2, size=300_000)])
    with ImapSource(settings(dovecot, mail_user)) as source:
        got = {m.raw.split(b"Subject: ")[1].split(b"\r\n")[0]: m for m in fetched(source, max_size=100_000)}
    small, big = got[b"Test message 1"], got[b"Test message 2"]
    assert not small.truncated and small.size == len(small.raw)
    assert big.truncated and big.size > 290_000 > 10 * len(big.raw) and big.raw.endswith(b"\r\n\r\n")
    assert all(b"\\Seen" not in f for f in flags_by_subject(dovecot, mail_user).values())



def test_starttls_never_falls_back_to_plaintext_F_MB_3(plain_imap_server):
    s = ImapSettings(host="127.0.0.1", port=plain_imap_server.server_address[1], tls="starttls",
                     username="u", password="secret", forbid_plaintext_login=False)
    with pytest.raises(SourceError, match="does not offer STARTTLS"):
        fetched(ImapSource(s))
    assert not {b"LOGIN", b"AUTHENTICATE"} & set(plain_imap_server.seen)


def test_nothing_listening_is_a_source_error_with_a_hint_F_MB_7():
    s = ImapSettings(host="127.0.0.1", port=closed_port(), tls="none", username="u", password="p")
    report = ImapSource(s).test_connection()
    assert not report.ok and not report.auth_failed and "port" in report.hint


def test_a_non_ascii_folder_is_created_and_used_F_MB_9(dovecot, mail_user):
    dovecot.seed(mail_user, [make_message(1)])
    with ImapSource(settings(dovecot, mail_user)) as source:
        keys = [m.key for m in fetched(source)]
        assert source.ack(keys, AfterAction.move("Erledigt.Überprüft", create_folder=True)).ok
    assert len(flags_by_subject(dovecot, mail_user, "Erledigt.Überprüft")) == 1


def test_arrival_is_the_servers_internaldate_F_PRE_5(dovecot, mail_user):
    """Loop prevention counts by arrival: the source reports INTERNALDATE, not the time it read the mail."""
    arrived = datetime(2026, 11, 2, 8, 15, 30, tzinfo=timezone(timedelta(hours=1)))
    with dovecot.imap(mail_user) as client:
        client.append("INBOX", make_message(1), msg_time=arrived)
    with ImapSource(settings(dovecot, mail_user)) as source:
        (item,) = fetched(source)
    assert item.arrived == arrived and item.arrived.tzinfo == timezone.utc
