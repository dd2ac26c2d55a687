"""Google accounts: IMAP, POP3 and SMTP with XOAUTH2 from a service account with domain-wide delegation,
or from an installed app's refresh token.

The token endpoint plays Google's recorded answers on loopback HTTPS
(tests/servers/googlefake.py, checking the JWT the way Google does); the tokens it issues
are what the real Dovecot's token check and an aiosmtpd with AUTH XOAUTH2 accept.

SPEC IDs proved here: F-MB-13.
"""

from __future__ import annotations

import pytest

from engine.apply.smtp import SmtpConnection, SmtpSettings, build_mime
from engine.commands.test_connection import check_connections
from engine.config.compile import load_ruleset
from engine.sources.registry import build_source
from tests.polltools import cli, write_config
from tests.servers.dovecot import make_message
from tests.servers.googlefake import APP_CLIENT_ID, APP_CLIENT_SECRET, SERVICE_ACCOUNT, GoogleOAuth
from tests.servers.msfake import msfake, msfake_server  # noqa: F401  (fixtures)
from tests.servers.smtpauth import start_tls_smtp

pytestmark = pytest.mark.xoauth2
KEY_ENV, SECRET_ENV, REFRESH_ENV = "MAILGATE_TEST_GOOGLE_KEY", "MAILGATE_TEST_GOOGLE_SECRET", "MAILGATE_TEST_GOOGLE_REFRESH"


@pytest.fixture
def google(msfake, dovecot):  # noqa: F811
    """Google's token endpoint; what it issues, the test Dovecot accepts for the same user."""
    return GoogleOAuth(msfake, on_issue=lambda user, token: dovecot.token_server.tokens.__setitem__(token, user))


def service_account(google, msfake) -> dict:  # noqa: F811
    return {"provider": "google", "service_account_key": {"env": KEY_ENV},
            "token_url": google.token_url, "ca_file": msfake.ca_file}


def installed_app(google, msfake) -> dict:  # noqa: F811
    return {"provider": "google", "client_id": APP_CLIENT_ID, "client_secret": {"env": SECRET_ENV},
            "refresh_token": {"env": REFRESH_ENV}, "token_url": google.token_url, "ca_file": msfake.ca_file}


def box(dovecot, user, oauth: dict, protocol: str = "imap") -> dict:
    return {"name": "gmail", "address": "support@example.com", "protocol": protocol,
            "server": {"host": "127.0.0.1", "port": dovecot.ports[f"{protocol}s"], "tls": "implicit",
                       "ca_file": str(dovecot.ca_file)},
            "auth": {"username": user.name, "oauth": oauth}}


def source(tmp_path, spec):
    config = write_config(tmp_path / "config", [spec])
    return build_source(load_ruleset(config).mailbox(spec["name"]), str(config))


def test_imap_with_a_service_account_acting_for_the_mailbox_F_MB_13(tmp_path, monkeypatch, google, msfake,  # noqa: F811
                                                                    dovecot, mail_user):
    """The JSON key signs an RFC 7523 grant for the Gmail scope with the mailbox login as `sub`."""
    monkeypatch.setenv(KEY_ENV, google.key_json())
    google.delegated.add(mail_user.name)
    dovecot.seed(mail_user, [make_message(1), make_message(2)])
    config = write_config(tmp_path / "config", [box(dovecot, mail_user, service_account(google, msfake))])
    [report] = check_connections(load_ruleset(config), "gmail")  # what `mailgate test-connection` reports
    assert report.ok, report.error
    assert report.auth_mechanism in ("OAUTHBEARER", "XOAUTH2") and report.message_count == 2
    [claims] = google.grants
    assert (claims["iss"], claims["sub"], claims["scope"]) == (SERVICE_ACCOUNT, mail_user.name, "https://mail.google.com/")
    assert report.extra["oauth_client_id"] == SERVICE_ACCOUNT and "token_expires_at" in report.extra


def test_pop3_with_an_installed_apps_refresh_token_F_MB_13(tmp_path, monkeypatch, google, msfake, dovecot, mail_user):  # noqa: F811
    monkeypatch.setenv(SECRET_ENV, APP_CLIENT_SECRET)
    monkeypatch.setenv(REFRESH_ENV, google.consent(mail_user.name))
    dovecot.seed(mail_user, [make_message(3)])
    spec = box(dovecot, mail_user, installed_app(google, msfake), "pop3")
    spec["auth"]["method"] = ["xoauth2"]
    report = source(tmp_path, spec).test_connection()
    assert report.ok and report.auth_mechanism == "XOAUTH2" and report.message_count == 1
    assert google.grants[0]["grant_type"] == "refresh_token" and google.grants[0]["client_id"] == APP_CLIENT_ID


def test_a_service_account_without_delegation_says_where_to_grant_it_F_MB_13(tmp_path, monkeypatch, google,  # noqa: F811
                                                                             msfake, dovecot, mail_user):
    monkeypatch.setenv(KEY_ENV, google.key_json())
    report = source(tmp_path, box(dovecot, mail_user, service_account(google, msfake))).test_connection()
    assert not report.ok and report.auth_failed
    assert report.server_text.startswith("Client is unauthorized to retrieve access tokens")
    assert "Domain-wide delegation" in report.hint


def test_a_revoked_refresh_token_says_to_consent_again_F_MB_13(tmp_path, monkeypatch, google, msfake,  # noqa: F811
                                                               dovecot, mail_user):
    monkeypatch.setenv(SECRET_ENV, APP_CLIENT_SECRET)
    monkeypatch.setenv(REFRESH_ENV, "1//0g-revoked-long-ago")
    report = source(tmp_path, box(dovecot, mail_user, installed_app(google, msfake))).test_connection()
    assert not report.ok and report.auth_failed
    assert report.server_text == "Token has been expired or revoked."
    assert "consent again" in report.hint


def test_smtp_xoauth2_as_the_sending_account_F_MB_13(tmp_path, monkeypatch, google, msfake, dovecot, mail_user):  # noqa: F811
    """Outgoing mail through smtp.gmail.com-style SMTP: the service account acts for the sending account."""
    sender = "support@example.com"
    google.delegated.add(sender)
    monkeypatch.setenv(KEY_ENV, google.key_json())
    smtp = start_tls_smtp(tmp_path / "smtp", provider="google")
    google.on_issue = lambda user, token: smtp.sink.tokens.__setitem__(token, user)
    try:
        config = write_config(tmp_path / "config", [box(dovecot, mail_user, service_account(google, msfake))],
                              smtp={"host": "127.0.0.1", "port": smtp.port, "tls": "starttls",
                                    "ca_file": str(smtp.ca_file), "username": sender, "oauth": {"mailbox": "gmail"}})
        settings = SmtpSettings.from_ruleset(load_ruleset(config))
        with SmtpConnection(settings) as connection:
            connection.send(build_mime(sender, "ann@acme.test", "hello", "body\n", "<g1@example.com>"), "ann@acme.test")
        assert smtp.sink.logins == [("XOAUTH2", sender, True)] and len(smtp.sink.received) == 1
        assert google.grants[-1]["sub"] == sender
    finally:
        smtp.stop()


@pytest.mark.parametrize("oauth, wanted", [
    ({"provider": "google", "client_id": APP_CLIENT_ID, "client_secret": {"env": SECRET_ENV}},
     "provider google needs a service account"),
    ({"provider": "google", "refresh_token": {"env": REFRESH_ENV}},
     "an installed app's refresh_token needs its client_id and client_secret"),
    ({"provider": "google", "client_id": "reader", "certificate": {"private_key": {"env": KEY_ENV}}},
     "a service account's client_id is its e-mail"),
    ({"provider": "google", "service_account_key": {"env": KEY_ENV}, "refresh_token": {"env": REFRESH_ENV}},
     "not both"),
    ({"provider": "google", "service_account_key": {"env": KEY_ENV}, "scopes": ["https://www.googleapis.com/auth/gmail.readonly"]},
     "need the scope https://mail.google.com/"),
    ({"provider": "microsoft", "tenant_id": "t", "client_id": "c", "client_secret": {"env": SECRET_ENV},
      "refresh_token": {"env": REFRESH_ENV}}, "are for provider google"),
])
def test_validate_checks_the_shape_of_a_google_account_F_MB_13(tmp_path, dovecot, mail_user, oauth, wanted):
    done = cli(write_config(tmp_path / "config", [box(dovecot, mail_user, oauth)]), "validate")
    out = done.stdout + done.stderr
    assert done.returncode == 1 and wanted in out and "mailboxes.d/gmail.yaml" in out


def test_validate_accepts_both_google_shapes_F_MB_13(tmp_path, dovecot, mail_user):
    for n, oauth in enumerate(({"provider": "google", "service_account_key": {"file": "/run/secrets/key.json"}},
                               {"provider": "google", "client_id": APP_CLIENT_ID, "client_secret": {"env": SECRET_ENV},
                                "refresh_token": {"env": REFRESH_ENV}})):
        done = cli(write_config(tmp_path / f"config{n}", [box(dovecot, mail_user, oauth)]), "validate")
        assert done.returncode == 0, done.stdout + done.stderr
