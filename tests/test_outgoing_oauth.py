"""Outgoing mail through Microsoft 365 with OAuth: SMTP AUTH XOAUTH2 and Graph sendMail, one app registration for reading and sending.

The token endpoint and Graph are recorded Entra ID / Graph responses on loopback HTTPS
(tests/servers/msfake.py, graphfake.py); SMTP is a real aiosmtpd with STARTTLS whose AUTH
XOAUTH2 follows the published exchange (tests/servers/smtpauth.py).

SPEC IDs proved here: F-OUT-7.
"""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from engine.cli import main
from tests.polltools import open_store, write_config
from tests.servers.graphfake import CLIENT_ID, GOOD_SECRET, TENANT, Entra, Graph
from tests.servers.msfake import msfake, msfake_server  # noqa: F401  (fixtures)
from tests.servers.smtpauth import start_tls_smtp

pytestmark = pytest.mark.graph
SECRET_ENV = "MAILGATE_TEST_CLIENT_SECRET"
ADDRESS = "support@example.com"


@pytest.fixture
def entra(msfake):  # noqa: F811
    return Entra(msfake)


@pytest.fixture
def graph(msfake, entra):  # noqa: F811
    g = Graph(msfake, entra)
    g.mailbox(ADDRESS).add(1, subject="VPN drops every ten minutes")
    return g


@pytest.fixture
def smtp(tmp_path, entra):
    server = start_tls_smtp(tmp_path / "smtp", provider="microsoft")
    server.sink.accept = lambda user, token: user == ADDRESS and entra.valid(token)
    yield server
    server.stop()


def graph_box(msfake, graph) -> dict:  # noqa: F811
    """The helpdesk mailbox, read through Graph with the app registration that also sends."""
    return {"name": "help", "address": ADDRESS, "protocol": "graph",
            "server": {"ca_file": msfake.ca_file},
            "graph": {"base_url": graph.base_url},
            "auth": {"oauth": {"tenant_id": TENANT, "client_id": CLIENT_ID,
                               "client_secret": {"env": SECRET_ENV},
                               "authority_host": msfake.url, "ca_file": msfake.ca_file}},
            "after_processing": {"action": "mark_read"}}


def configure(tmp_path: Path, monkeypatch, msfake, graph, **smtp) -> Path:  # noqa: F811
    monkeypatch.setenv(SECRET_ENV, GOOD_SECRET)
    return write_config(tmp_path / "config", [graph_box(msfake, graph)],
                        smtp={"send": True, "oauth": {"mailbox": "help"}, **smtp})


def outbox(config: Path) -> list:
    store = open_store(config)
    try:
        return store.outbox_messages()
    finally:
        store.close()


def smtp_settings(smtp) -> dict:
    return {"host": "127.0.0.1", "port": smtp.port, "tls": "starttls", "ca_file": str(smtp.ca_file)}


def test_smtp_xoauth2_with_the_mailboxs_app_registration_F_OUT_7(tmp_path, monkeypatch, msfake, graph, entra, smtp):  # noqa: F811
    """The mailbox's own auth.oauth serves sending: a token for Exchange Online's scope, AUTH XOAUTH2 over STARTTLS."""
    config = configure(tmp_path, monkeypatch, msfake, graph, **smtp_settings(smtp))
    assert main(["poll", "--once", "--config", str(config)]) == 0
    [mail] = smtp.sink.messages()
    assert mail["Auto-Submitted"] == "auto-replied" and "VPN drops every ten minutes" in mail["Subject"]
    assert smtp.sink.logins == [("XOAUTH2", ADDRESS, True)]
    assert smtp.sink.tls_versions[0] in ("TLSv1.2", "TLSv1.3")
    assert any(scope.startswith("https://outlook.office365.com/.default") for scope in entra.scopes)
    assert any(scope.startswith("https://graph.microsoft.com/.default") for scope in entra.scopes)  # reading
    assert [row.status for row in outbox(config)] == ["sent"]


def test_a_refused_token_is_replaced_once_F_OUT_7(tmp_path, monkeypatch, msfake, graph, entra, smtp):  # noqa: F811
    from engine.apply.smtp import SmtpConnection, SmtpSettings, build_mime
    from engine.config.compile import load_ruleset

    config = configure(tmp_path, monkeypatch, msfake, graph, **smtp_settings(smtp))
    settings = SmtpSettings.from_ruleset(load_ruleset(config))
    entra.revoked.add(settings.tokens())  # cached, then revoked at the server (a rotated secret)
    mail = build_mime(ADDRESS, "ann@acme.test", "hello", "body\n", "<t1@example.com>")
    with SmtpConnection(settings) as connection:
        connection.send(mail, "ann@acme.test")
    assert [accepted for _, _, accepted in smtp.sink.logins] == [False, True]
    assert len(smtp.sink.received) == 1


def test_test_smtp_shows_token_health_F_OUT_7(tmp_path, monkeypatch, msfake, graph, smtp, capsys):  # noqa: F811
    config = configure(tmp_path, monkeypatch, msfake, graph, **smtp_settings(smtp))
    assert main(["test-smtp", "admin@acme.test", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"OK — sent to admin@acme.test through 127.0.0.1:{smtp.port} (starttls, XOAUTH2 as {ADDRESS}" in out
    assert "token_expires_at:" in out and "token_valid_seconds:" in out and "oauth_client_id: " + CLIENT_ID in out
    assert "secret_expiry:" in out  # the token endpoint never says; the report says where to look


def test_graph_sendmail_sends_our_mime_as_the_mailbox_F_OUT_7(tmp_path, monkeypatch, msfake, graph, entra):  # noqa: F811
    config = configure(tmp_path, monkeypatch, msfake, graph, transport="graph", graph_base_url=graph.base_url,
                       ca_file=msfake.ca_file)
    assert main(["poll", "--once", "--config", str(config)]) == 0
    [raw] = graph.mailbox(ADDRESS).sent
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    # Sent as MIME, so every header we wrote survives: threading, the tag, RFC 3834.
    assert mail["Auto-Submitted"] == "auto-replied" and "[Ticket#1]" in mail["Subject"]
    assert mail["In-Reply-To"] and mail["Message-ID"] == f"<{outbox(config)[0].message_id}>"
    assert any(scope.startswith("https://graph.microsoft.com/.default") for scope in entra.scopes)
    assert [r.method for r in msfake.seen(contains="/sendMail")] == ["POST"]
    assert msfake.seen(contains="/sendMail")[0].headers["content-type"] == "text/plain"
    assert [row.status for row in outbox(config)] == ["sent"]


def test_graph_refusals_fail_the_mail_with_graphs_words_F_OUT_7(tmp_path, monkeypatch, msfake, graph):  # noqa: F811
    graph.mailbox(ADDRESS).send_denied = True
    config = configure(tmp_path, monkeypatch, msfake, graph, transport="graph", graph_base_url=graph.base_url,
                       ca_file=msfake.ca_file)
    assert main(["poll", "--once", "--config", str(config)]) == 0
    [row] = outbox(config)
    assert row.status == "failed" and "HTTP 403 ErrorAccessDenied" in row.last_error
    assert "AppOnly AccessPolicy" in row.last_error


def test_graph_throttling_leaves_the_mail_for_a_retry_F_OUT_7(tmp_path, monkeypatch, msfake, graph):  # noqa: F811
    config = configure(tmp_path, monkeypatch, msfake, graph, transport="graph", graph_base_url=graph.base_url,
                       ca_file=msfake.ca_file)
    from engine.apply.smtp import SmtpSettings, deliver_due
    from engine.config.compile import load_ruleset

    settings = SmtpSettings.from_ruleset(load_ruleset(config))
    # Queue a mail without sending (send off), then throttle the one sendMail.
    monkeypatch.setattr("engine.run.service.Service.sends_mail", lambda self: False)
    assert main(["poll", "--once", "--config", str(config)]) == 0
    graph.mailbox(ADDRESS).throttle = 1
    store = open_store(config)
    try:
        report = deliver_due(store, settings)
        [row] = store.outbox_messages()
    finally:
        store.close()
    assert report.retrying == 1 and row.status == "pending" and "429 ApplicationThrottled" in row.last_error


def test_validate_checks_the_outgoing_oauth_F_OUT_7(tmp_path, monkeypatch, msfake, graph):  # noqa: F811
    from tests.polltools import cli

    config = write_config(tmp_path / "config", [graph_box(msfake, graph)],
                          smtp={"oauth": {"mailbox": "nope"}, "transport": "graph"})
    out = cli(config, "validate")
    assert out.returncode == 1
    assert "settings.smtp.oauth names mailbox 'nope'" in out.stdout
    config = write_config(tmp_path / "config2", [graph_box(msfake, graph)], smtp={"transport": "graph"})
    out = cli(config, "validate")
    assert out.returncode == 1 and "transport graph needs settings.smtp.oauth" in out.stdout
    config = write_config(tmp_path / "config3", [graph_box(msfake, graph)],
                          smtp={"oauth": {"mailbox": "help", "client_id": "x"}})
    out = cli(config, "validate")
    assert out.returncode == 1 and "either mailbox or the client settings" in out.stdout


def test_outgoing_oauth_takes_the_same_fields_as_a_mailboxs_F_OUT_7():
    """settings.smtp.oauth is a mailbox's auth.oauth plus `mailbox:`: one app registration, one shape."""
    from engine.config.schemas import schema_for

    mailbox = schema_for("mailbox")["$defs"]["mailbox"]["properties"]["auth"]["properties"]["oauth"]["properties"]
    smtp = schema_for("rules")["properties"]["settings"]["properties"]["smtp"]["properties"]["oauth"]["properties"]
    assert {k: v for k, v in smtp.items() if k != "mailbox"} == mailbox
