"""XOAUTH2 / OAUTHBEARER for IMAP and POP3 against a real Dovecot that validates JWTs locally (oauth2 passdb).

SPEC IDs proved here: F-MB-11, F-MB-4.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from engine.errors import AuthError
from engine.sources.oauth import OAuthSettings, TokenProvider
from engine.sources.imap import ImapSettings, ImapSource
from engine.sources.pop3 import Pop3Settings, Pop3Source
from tests.servers.dovecot import make_message
from tests.servers.dovecot_oauth import dovecot_oauth  # noqa: F401  (fixture)
from tests.servers.msfake import Reply, msfake, msfake_server  # noqa: F401  (fixtures)
from tests.polltools import fetch_batches

pytestmark = pytest.mark.xoauth2


def imap(server, user, tokens, **kw) -> ImapSource:
    return ImapSource(ImapSettings(host=server.host, port=server.ports["imaps"], username=user.name,
                                   ca_file=str(server.ca_file), **kw), token_provider=tokens)


def pop3(server, user, tokens, **kw) -> Pop3Source:
    return Pop3Source(Pop3Settings(host=server.host, port=server.ports["pop3s"], username=user.name,
                                   ca_file=str(server.ca_file), **kw), token_provider=tokens)


@pytest.fixture
def oauth_user(dovecot_oauth):  # noqa: F811
    user = dovecot_oauth.add_user()
    dovecot_oauth.seed(user, [make_message(1), make_message(2)])
    return user


def test_imap_logs_in_with_a_jwt_F_MB_4(dovecot_oauth, oauth_user):  # noqa: F811
    src = imap(dovecot_oauth, oauth_user, lambda: dovecot_oauth.token(oauth_user))
    batches = list(fetch_batches(src, 10, 10))
    src.close()
    assert sum(len(b) for b in batches) == 2
    assert f"user=<{oauth_user.name}>, method=OAUTHBEARER" in dovecot_oauth.log()


def test_imap_xoauth2_when_asked_for_F_MB_4(dovecot_oauth, oauth_user):  # noqa: F811
    report = imap(dovecot_oauth, oauth_user, lambda: dovecot_oauth.token(oauth_user),
                  auth=("xoauth2",)).test_connection()
    assert report.ok and report.auth_mechanism == "XOAUTH2" and report.message_count == 2


def test_pop3_logs_in_with_a_jwt_F_MB_4(dovecot_oauth, oauth_user):  # noqa: F811
    for mechanism in ("oauthbearer", "xoauth2"):
        report = pop3(dovecot_oauth, oauth_user, lambda: dovecot_oauth.token(oauth_user),
                      auth=(mechanism,)).test_connection()
        assert report.ok and report.auth_mechanism == mechanism.upper() and report.message_count == 2


def test_expired_token_fails_cleanly_with_server_words_F_MB_11(dovecot_oauth, oauth_user):  # noqa: F811
    expired = dovecot_oauth.token(oauth_user, lifetime=-600)
    with pytest.raises(AuthError) as err:
        list(fetch_batches(imap(dovecot_oauth, oauth_user, lambda: expired), 10, 10))
    assert "AUTHENTICATIONFAILED" in err.value.server_text
    report = pop3(dovecot_oauth, oauth_user, lambda: expired).test_connection()
    assert not report.ok and report.auth_failed and "-ERR" in report.server_text
    assert "Local validation failed: Token has expired" in dovecot_oauth.log()


def test_token_signed_with_another_key_is_refused_F_MB_11(dovecot_oauth, oauth_user):  # noqa: F811
    forged = dovecot_oauth.token(oauth_user, key=b"not the server's key at all, 32b")
    report = imap(dovecot_oauth, oauth_user, lambda: forged).test_connection()
    assert not report.ok and report.auth_failed


def test_tokens_from_the_provider_code_are_cached_across_logins_F_MB_4(dovecot_oauth, oauth_user, msfake):  # noqa: F811
    """engine.sources.oauth (generic token endpoint) feeds IMAP and POP3; one token serves both logins."""
    grants = []

    def token_endpoint(req):
        if req.path != "/oauth2/token":
            return None
        grants.append({k: v[0] for k, v in parse_qs(req.text).items()})
        return Reply(200, {"access_token": dovecot_oauth.token(oauth_user), "token_type": "Bearer",
                           "expires_in": 3600})

    msfake.on(token_endpoint)
    provider = TokenProvider(OAuthSettings(client_id="mailgate", client_secret="s3cret", provider="generic",
                                           token_url=msfake.url + "/oauth2/token", ca_file=msfake.ca_file,
                                           scopes=("mail",)))
    assert imap(dovecot_oauth, oauth_user, provider).test_connection().ok
    assert pop3(dovecot_oauth, oauth_user, provider).test_connection().ok
    assert provider.fetches == 1 and len(grants) == 1
    assert grants[0]["grant_type"] == "client_credentials" and grants[0]["scope"] == "mail"
    assert provider.token().value not in dovecot_oauth.log() and provider.token().value not in repr(provider)
    assert json.dumps(provider.health())  # test-connection can show it
