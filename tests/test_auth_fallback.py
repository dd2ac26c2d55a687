"""Authentication fallback: a mechanism refused for a reason other than the credentials gives way to the next.

Against a real Dovecot that stores hashed passwords yet advertises SCRAM and CRAM-MD5
(tests/servers/dovecot_hashed.py), as many do.

SPEC IDs proved here: F-MB-17.
"""

from __future__ import annotations

import pytest

from engine.errors import AuthError
from engine.sources import sasl
from engine.sources.imap import ImapSettings, ImapSource
from engine.sources.pop3 import Pop3Settings, Pop3Source
from tests.polltools import cli, write_config
from tests.servers.dovecot import make_message
from tests.servers.dovecot_hashed import PASSWORD, dovecot_hashed  # noqa: F401 (fixture)

pytestmark = pytest.mark.dovecot
PASSWORD_ENV = "MAILGATE_TEST_MAILBOX_PASSWORD"


def imap(server, password=PASSWORD, tokens=None, **kw) -> ImapSource:
    return ImapSource(ImapSettings(host=server.host, port=server.ports["imaps"], tls="implicit",
                                   username=server.user.name, password=password,
                                   ca_file=str(server.ca_file), **kw), tokens)


def test_scram_the_server_cannot_check_gives_way_to_plain_F_MB_17(dovecot_hashed):  # noqa: F811
    """`auth: auto` starts with SCRAM-SHA-256; Dovecot cannot check it against a SHA512-CRYPT hash and
    says "authentication failed" all the same; the next mechanisms follow until PLAIN gets in."""
    dovecot_hashed.seed(dovecot_hashed.user, [make_message(1)])
    source = imap(dovecot_hashed)
    report = source.test_connection()
    assert report.ok, report.error
    assert report.auth_mechanism == "PLAIN" and report.message_count == 1
    fallback = report.extra["auth_fallback"]
    assert fallback.startswith("SCRAM-SHA-256 refused: [AUTHENTICATIONFAILED] Authentication failed.")
    assert "CRAM-MD5 refused" in fallback and fallback.endswith("logged in with PLAIN (auth.method: [plain] logs in at once)")


def test_a_reconnect_starts_with_the_mechanism_that_worked_F_MB_17(dovecot_hashed):  # noqa: F811
    source = imap(dovecot_hashed)
    source.list_keys()
    assert len(source.fallbacks) == 3
    source.close()
    source.list_keys()  # a new session (as after max_messages_per_session)
    source.close()
    assert source.mechanism == "PLAIN" and source.fallbacks == () and source.sessions == 2


def test_a_wrong_password_still_fails_once_plain_rules_on_it_F_MB_17(dovecot_hashed):  # noqa: F811
    source = imap(dovecot_hashed, password="wrong-password")
    report = source.test_connection()
    assert not report.ok and report.auth_failed
    assert "(SCRAM-SHA-256, then SCRAM-SHA-1, then CRAM-MD5, then PLAIN)" in report.error
    assert report.server_text.startswith("[AUTHENTICATIONFAILED]")


def test_a_verdict_on_a_plain_password_is_final_F_MB_17(dovecot_hashed):  # noqa: F811
    """PLAIN hands the server the password as is: its "authentication failed" is about the password,
    so the LOGIN command, also allowed, is not tried with the same wrong password."""
    with pytest.raises(AuthError) as err:
        imap(dovecot_hashed, password="wrong-password", auth=("PLAIN", "LOGIN-COMMAND")).list_keys()
    assert "refused (PLAIN):" in str(err.value)  # every attempt is named: there was no second one


def test_a_temporary_failure_of_the_token_check_gives_way_to_the_password_F_MB_17(dovecot_hashed):  # noqa: F811
    """The token service is down ([UNAVAILABLE] / POP3 [SYS/TEMP]): with [xoauth2, plain] allowed, PLAIN follows."""
    dovecot_hashed.seed(dovecot_hashed.user, [make_message(2)])
    source = imap(dovecot_hashed, auth=("XOAUTH2", "PLAIN"), tokens=lambda: "a-token")
    report = source.test_connection()
    assert report.ok and report.auth_mechanism == "PLAIN"
    assert report.extra["auth_fallback"].startswith("XOAUTH2 refused: [UNAVAILABLE] Temporary authentication failure")
    pop3 = Pop3Source(Pop3Settings(host=dovecot_hashed.host, port=dovecot_hashed.ports["pop3s"], tls="implicit",
                                   username=dovecot_hashed.user.name, password=PASSWORD,
                                   ca_file=str(dovecot_hashed.ca_file), auth=("XOAUTH2", "PLAIN")),
                      lambda: "a-token")
    report = pop3.test_connection()
    assert report.ok and report.auth_mechanism == "PLAIN"
    assert "XOAUTH2 refused: -ERR [SYS/TEMP] Temporary authentication failure" in report.extra["auth_fallback"]


def test_test_connection_says_which_mechanism_gave_way_F_MB_17(tmp_path, dovecot_hashed):  # noqa: F811
    spec = {"name": "help", "address": "support@example.com", "protocol": "imap",
            "server": {"host": "127.0.0.1", "port": dovecot_hashed.ports["imaps"], "tls": "implicit",
                       "ca_file": str(dovecot_hashed.ca_file)},
            "auth": {"username": dovecot_hashed.user.name, "password": {"env": PASSWORD_ENV}}}
    config = write_config(tmp_path / "config", [spec])
    done = cli(config, "test-connection", "help", env={PASSWORD_ENV: PASSWORD})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "auth PLAIN" in done.stdout
    assert "auth_fallback: SCRAM-SHA-256 refused: [AUTHENTICATIONFAILED]" in done.stdout


@pytest.mark.parametrize("name, words, another", [
    ("SCRAM-SHA-256", "[AUTHENTICATIONFAILED] Authentication failed.", True),  # maybe a hashed store
    ("CRAM-MD5", "-ERR [AUTH] Authentication failed.", True),
    ("PLAIN", "[AUTHENTICATIONFAILED] Authentication failed.", False),  # the password itself was wrong
    (sasl.LOGIN_COMMAND, "-ERR [AUTH] Authentication failed.", False),
    ("XOAUTH2", "[AUTHENTICATIONFAILED] Authentication failed.", False),
    ("XOAUTH2", "[UNAVAILABLE] Temporary authentication failure.", True),
    ("PLAIN", "-ERR [SYS/TEMP] Temporary authentication failure.", True),
    ("PLAIN", "Unsupported authentication mechanism.", True),
    ("PLAIN", "[EXPIRED] Password expired", False),
])
def test_which_refusals_are_worth_another_mechanism_F_MB_17(name, words, another):
    assert sasl.worth_another(name, words) is another


def test_the_service_starts_each_poll_with_the_mechanism_that_worked_until_a_reload_F_MB_17(
        tmp_path, dovecot_hashed, monkeypatch):  # noqa: F811
    """Each poll builds its source afresh: without memory, every poll paid SCRAM-SHA-256, SCRAM-SHA-1 and
    CRAM-MD5 refused again (~1.5 s). The service keeps the mechanism per mailbox until the config is reloaded."""
    from engine.config.compile import load_ruleset
    from engine.run import service as service_module
    from tests.polltools import open_store

    spec = {"name": "help", "address": "support@example.com", "protocol": "imap",
            "server": {"host": "127.0.0.1", "port": dovecot_hashed.ports["imaps"], "tls": "implicit",
                       "ca_file": str(dovecot_hashed.ca_file)},
            "auth": {"username": dovecot_hashed.user.name, "password": {"env": PASSWORD_ENV}}}
    config = write_config(tmp_path / "config", [spec])
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    built = []
    real_build = service_module.build_source
    monkeypatch.setattr(service_module, "build_source", lambda *a: built.append(real_build(*a)) or built[-1])
    store = open_store(config)
    service = service_module.Service(config, load_ruleset(config), store)
    try:
        for _ in range(2):
            service.schedule.due.clear()
            [report] = service.poll_once()
            assert report.reached and not report.error, report.error
        assert service.reload()  # SIGHUP: a new config, secrets and mechanisms learnt afresh
        service.schedule.due.clear()
        service.poll_once()
    finally:
        service.close()
        store.close()
    assert [len(source.fallbacks) for source in built] == [3, 0, 3]
    assert [source.mechanism for source in built] == ["PLAIN"] * 3


def test_the_service_keeps_oauth_tokens_across_polls_and_forgets_a_mailbox_whose_login_was_refused():
    """The token provider (its cached token) goes to the next poll's source too; a refused login makes the
    next poll read the secrets afresh; another config (a reload) starts from nothing."""
    from types import SimpleNamespace

    from engine.run.session_memory import SessionMemory

    memory, config, tokens = SessionMemory(), object(), object()
    memory.restore(config, "help", SimpleNamespace(mechanism="", token_provider=object()))
    memory.keep("help", SimpleNamespace(mechanism="XOAUTH2", token_provider=tokens), auth_failed=False)
    fresh = SimpleNamespace(mechanism="", token_provider=object())
    memory.restore(config, "help", fresh)
    assert fresh.mechanism == "XOAUTH2" and fresh.token_provider is tokens
    memory.keep("help", fresh, auth_failed=True)
    after_refusal = SimpleNamespace(mechanism="", token_provider=object())
    memory.restore(config, "help", after_refusal)
    assert after_refusal.mechanism == "" and after_refusal.token_provider is not tokens
    memory.keep("help", fresh, auth_failed=False)
    reloaded = SimpleNamespace(mechanism="", token_provider=object())
    memory.restore(object(), "help", reloaded)
    assert reloaded.token_provider is not tokens
