"""Pinning the TLS protocol version per server, incoming and outgoing, against real Dovecot and aiosmtpd.

SPEC IDs proved here: F-MB-15.
"""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

from engine.apply.smtp import SmtpConnection, SmtpSettings
from engine.errors import DeliveryError
from engine.sources.graph import GraphSettings, GraphSource
from engine.sources.imap import ImapSettings, ImapSource
from engine.sources.oauth import OAuthSettings, TokenProvider
from engine.sources.pop3 import Pop3Settings, Pop3Source
from tests.polltools import cli, maildir_box, write_config
from tests.servers.graphfake import CLIENT_ID, GOOD_SECRET, TENANT, Entra, Graph
from tests.servers.msfake import MsFake
from tests.servers.smtpauth import server_context, start_tls_smtp


def imap(dovecot, user, **kw) -> ImapSource:
    return ImapSource(ImapSettings(host=dovecot.host, port=dovecot.ports["imaps"], tls="implicit",
                                   username=user.name, password=user.password, ca_file=str(dovecot.ca_file), **kw))


def test_imap_speaks_the_pinned_version_and_says_which_F_MB_15(dovecot, mail_user):
    """Dovecot speaks 1.2 and 1.3: a max of 1.2 gets 1.2, a min of 1.3 gets 1.3, and test-connection tells."""
    assert imap(dovecot, mail_user, tls_max_version="1.2").test_connection().extra["tls_version"] == "TLSv1.2"
    assert imap(dovecot, mail_user, tls_min_version="1.3").test_connection().extra["tls_version"] == "TLSv1.3"
    assert imap(dovecot, mail_user).test_connection().extra["tls_version"] == "TLSv1.3"  # default: the newest


def test_pop3_starttls_speaks_the_pinned_version_F_MB_15(dovecot, mail_user):
    source = Pop3Source(Pop3Settings(host=dovecot.host, port=dovecot.ports["pop3"], tls="starttls",
                                     username=mail_user.name, password=mail_user.password,
                                     ca_file=str(dovecot.ca_file), tls_max_version="1.2"))
    report = source.test_connection()
    assert report.ok and report.extra["tls_version"] == "TLSv1.2"


@pytest.fixture
def tls12_only_server(tmp_path):
    """A loopback TLS server that speaks TLS 1.2 at most (an old appliance), for the handshake alone."""
    ctx, ca_file = server_context(tmp_path / "tls", max_version=ssl.TLSVersion.TLSv1_2)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"* OK IMAP4rev1 ready\r\n")
                    tls.recv(100)
            except (OSError, ssl.SSLError):
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1], ca_file
    stop.set()
    listener.close()


def test_a_server_below_the_minimum_is_refused_with_a_hint_F_MB_15(tls12_only_server):
    port, ca_file = tls12_only_server
    source = ImapSource(ImapSettings(host="127.0.0.1", port=port, tls="implicit", username="u", password="p",
                                     ca_file=str(ca_file), tls_min_version="1.3"))
    report = source.test_connection()
    assert not report.ok and not report.auth_failed
    assert "no TLS version both sides accept" in report.error and "tls_min_version" in report.hint


@pytest.fixture
def smtp12(tmp_path):
    server = start_tls_smtp(tmp_path / "smtp", max_version=ssl.TLSVersion.TLSv1_2)
    yield server
    server.stop()


def test_smtp_pins_the_version_for_starttls_F_MB_15(smtp12):
    base = dict(host="127.0.0.1", port=smtp12.port, tls="starttls", ca_file=str(smtp12.ca_file))
    with SmtpConnection(SmtpSettings(**base)) as connection:
        assert connection.tls_version == "TLSv1.2"
    with pytest.raises(DeliveryError) as err:
        SmtpConnection(SmtpSettings(**base, tls_min_version="1.3")).__enter__()
    assert "no TLS version both sides accept" in str(err.value) and "tls_min_version" in str(err.value)


def test_test_smtp_reports_the_version_from_the_config_F_MB_15(tmp_path, smtp12):
    config = write_config(tmp_path / "config", [maildir_box("help", "support@example.com", "var/maildir/help")],
                          smtp={"send": True, "host": "127.0.0.1", "port": smtp12.port, "tls": "starttls",
                                "ca_file": str(smtp12.ca_file), "tls_max_version": 1.2})
    done = cli(config, "test-smtp", "admin@acme.test")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(starttls, TLSv1.2)" in done.stdout
    assert len(smtp12.sink.received) == 1


def test_validate_refuses_old_versions_and_a_min_above_the_max_F_MB_15(tmp_path):
    box = maildir_box("help", "support@example.com", "var/maildir/help")
    imap_box = {"name": "imap", "address": "imap@example.com", "protocol": "imap",
                "server": {"host": "imap.example.com", "tls_min_version": 1.3, "tls_max_version": 1.2},
                "auth": {"password": {"env": "PW"}}}
    config = write_config(tmp_path / "config", [box, imap_box], smtp={"tls_min_version": "1.1"})
    done = cli(config, "validate")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "mailboxes.d/imap.yaml" in out and "tls_max_version 1.2 is older than tls_min_version 1.3" in out
    assert "rules/00-settings.yaml" in out and "tls_min_version" in out and "1.3" in out


@pytest.fixture
def old_https(tmp_path):
    """Recorded Entra ID and Graph answers from a server that speaks TLS 1.2 at most."""
    (tmp_path / "https").mkdir()
    server = MsFake(tmp_path / "https", max_version=ssl.TLSVersion.TLSv1_2).start()
    graph = Graph(server, Entra(server))
    graph.mailbox("helpdesk@contoso.example").add(1)
    yield server, graph
    server.stop()


def graph_source(server, graph, **kw) -> GraphSource:
    tokens = TokenProvider(OAuthSettings(client_id=CLIENT_ID, tenant_id=TENANT, client_secret=GOOD_SECRET,
                                         authority_host=server.url, ca_file=server.ca_file), protocol="graph")
    return GraphSource(GraphSettings(user="helpdesk@contoso.example", base_url=graph.base_url,
                                     ca_file=server.ca_file, **kw), tokens)


def test_graph_requests_keep_the_pinned_versions_F_MB_15(old_https):
    server, graph = old_https
    assert graph_source(server, graph, tls_max_version="1.2").test_connection().ok
    report = graph_source(server, graph, tls_min_version="1.3").test_connection()
    assert not report.ok and "no TLS version both sides accept" in report.error and "tls_min_version" in report.hint
