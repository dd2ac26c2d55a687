"""Seed 002's shared-mailbox login `Domain\\User\\SharedAlias`, split into the delegate's login and the mailbox it opens.

IMAP and POP3 run against a real Dovecot where the delegate is a master user
(tests/servers/dovecot_hashed.py): the shared mailbox travels as the SASL
authorization identity.

SPEC IDs proved here: F-MB-18.
"""

from __future__ import annotations

import base64

import pytest

from engine.config.compile import load_ruleset
from engine.config.shared_login import split_shared
from engine.sources import sasl
from engine.sources.registry import build_source
from tests.polltools import cli, make_mail, open_store, write_config
from tests.servers.dovecot_hashed import DELEGATE, DELEGATE_PASSWORD, dovecot_hashed  # noqa: F401 (fixture)

pytestmark = pytest.mark.dovecot
PASSWORD_ENV = "MAILGATE_TEST_MAILBOX_PASSWORD"
SEED_LOGIN = "Domain\\Max.Mustermann\\Shared.MailboxAlias"  # as seed 002 writes it


def spec(server, protocol="imap", **auth) -> dict:
    port = server.ports["imaps" if protocol == "imap" else "pop3s"]
    return {"name": "shared", "address": "support@example.com", "protocol": protocol,
            "server": {"host": "127.0.0.1", "port": port, "tls": "implicit", "ca_file": str(server.ca_file)},
            "auth": {"username": f"{DELEGATE}\\helpdesk", "password": {"env": PASSWORD_ENV}, **auth},
            "after_processing": {"action": "delete"}}


def test_the_seed_form_splits_into_login_and_shared_mailbox_F_MB_18():
    shared = split_shared(SEED_LOGIN)
    assert (shared.login, shared.shared) == ("Domain\\Max.Mustermann", "Shared.MailboxAlias")
    assert shared.address("helpdesk@contoso.com") == "Shared.MailboxAlias@contoso.com"
    assert split_shared("Domain\\Max.Mustermann\\shared@contoso.com").address("x@y.test") == "shared@contoso.com"
    assert split_shared("Domain\\Max.Mustermann") is None and split_shared("max@contoso.com") is None


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_the_delegate_reads_the_shared_mailbox_F_MB_18(tmp_path, dovecot_hashed, protocol):  # noqa: F811
    """The delegate's password opens the helpdesk mailbox: a poll makes tickets of its mail and deletes it there."""
    dovecot_hashed.seed(dovecot_hashed.user, [make_mail(f"Shared mailbox request over {protocol}")])
    config = write_config(tmp_path / "config", [spec(dovecot_hashed, protocol, method=["plain"])])
    env = {PASSWORD_ENV: DELEGATE_PASSWORD}
    report = cli(config, "test-connection", "shared", env=env)
    assert report.returncode == 0, report.stdout + report.stderr
    assert "auth PLAIN" in report.stdout
    done = cli(config, "poll", "--once", env=env)
    assert done.returncode == 0, done.stderr
    store = open_store(config)
    try:
        assert [t.subject for t in store.tickets()] == [f"Shared mailbox request over {protocol}"]
    finally:
        store.close()
    with dovecot_hashed.imap(dovecot_hashed.user) as client:  # the shared mailbox itself was emptied
        assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 0


def test_auto_gets_there_too_and_a_wrong_password_is_refused_F_MB_18(tmp_path, monkeypatch, dovecot_hashed):  # noqa: F811
    config = write_config(tmp_path / "config", [spec(dovecot_hashed)])
    monkeypatch.setenv(PASSWORD_ENV, DELEGATE_PASSWORD)
    source = build_source(load_ruleset(config).mailbox("shared"), str(config))
    assert source.settings.username == DELEGATE and source.settings.shared_mailbox == "helpdesk"
    report = source.test_connection()
    assert report.ok and report.auth_mechanism == "PLAIN"  # after SCRAM, which this server cannot check
    assert report.extra["shared_mailbox"] == f"helpdesk (opened by {DELEGATE})"  # test-connection says so
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    report = build_source(load_ruleset(config).mailbox("shared"), str(config)).test_connection()
    assert not report.ok and report.auth_failed


def test_ews_reads_the_alias_as_a_delegate_F_MB_18(tmp_path, monkeypatch):
    box = {"name": "ews", "address": "support@example.com", "protocol": "ews",
           "ews": {"autodiscover": False, "endpoint_url": "https://mail.contoso.com/EWS/Exchange.asmx"},
           "auth": {"username": SEED_LOGIN, "password": {"env": PASSWORD_ENV}}}
    config = write_config(tmp_path / "config", [box])
    monkeypatch.setenv(PASSWORD_ENV, "pw")
    source = build_source(load_ruleset(config).mailbox("ews"), str(config))
    assert source.settings.login == "Domain\\Max.Mustermann"
    assert source.settings.mailbox == "Shared.MailboxAlias@example.com"
    assert source.settings.access_type == "delegate"


def test_sasl_names_the_shared_mailbox_as_authorization_identity_F_MB_18():
    assert sasl.mechanism("PLAIN", "D\\max", "pw", None, "helpdesk")(b"") == b"helpdesk\0D\\max\0pw"
    assert sasl.mechanism("XOAUTH2", "max@x.test", None, "tok", "shared@x.test")(b"").startswith(b"user=shared@x.test\1")
    scram = sasl.mechanism("SCRAM-SHA-256", "max", "pw", None, "helpdesk")
    assert scram(b"").startswith(b"n,a=helpdesk,n=max,r=")
    nonce = scram.nonce
    final = scram(f"r={nonce}srv,s={base64.b64encode(b'salt').decode()},i=4096".encode())
    assert final.startswith(b"c=" + base64.b64encode(b"n,a=helpdesk,"))  # the GS2 header is bound into the proof
    assert sasl.candidates(["CRAM-MD5", "PLAIN"], "auto", tls_active=True, forbid_plaintext=True,
                           have_token=False, shared=True) == ["PLAIN"]


@pytest.mark.parametrize("auth, extra, wanted", [
    ({"username": "Domain\\\\Shared"}, {}, "two backslashes but an empty part"),
    ({"username": "Domain\\Max\\Shared\\Alias"}, {}, "username 'Domain\\Max\\Shared\\Alias' has 3 backslashes"),
    ({"username": SEED_LOGIN}, {"ews": {"shared_mailbox": "other@example.com"}}, "but ews.shared_mailbox names"),
    ({"username": SEED_LOGIN}, {"ews": {"domain": "OTHER"}}, "but ews.domain is 'OTHER'"),
])
def test_validate_reads_the_form_back_and_refuses_contradictions_F_MB_18(tmp_path, auth, extra, wanted):
    box = {"name": "ews", "address": "support@example.com", "protocol": "ews",
           "auth": {**auth, "password": {"env": PASSWORD_ENV}}, **extra}
    done = cli(write_config(tmp_path / "config", [box]), "validate")
    assert done.returncode == 1 and wanted in done.stdout + done.stderr
    assert "mailboxes.d/ews.yaml" in done.stdout + done.stderr


def test_validate_refuses_cram_md5_alone_for_a_shared_mailbox_F_MB_18(tmp_path, dovecot_hashed):  # noqa: F811
    done = cli(write_config(tmp_path / "config", [spec(dovecot_hashed, method=["cram-md5"])]), "validate")
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "CRAM-MD5 cannot name a shared mailbox" in out
    assert "read as login 'EXAMPLE\\max.mustermann' opening shared mailbox 'helpdesk'" in out
