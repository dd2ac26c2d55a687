"""Microsoft 365 national clouds per mailbox: the authority, the token scopes and the Graph/EWS/SMTP hosts of each.

The token requests go through msal to the recorded Entra ID endpoint on loopback
(tests/servers/graphfake.py), which keeps the scope each one asked for.

SPEC IDs proved here: F-MB-14.
"""

from __future__ import annotations

import pytest

from engine.apply.outgoing_auth import outgoing_tokens
from engine.config.compile import load_ruleset
from engine.sources.registry import build_source
from tests.polltools import write_config
from tests.servers.graphfake import CLIENT_ID, GOOD_SECRET, TENANT, Entra
from tests.servers.msfake import msfake, msfake_server  # noqa: F401  (fixtures)

SECRET_ENV = "MAILGATE_TEST_CLIENT_SECRET"
# Published per cloud: login host, Graph, Exchange Online (EWS and the token audience of IMAP/POP/SMTP).
HOSTS = {
    "global": ("https://login.microsoftonline.com", "https://graph.microsoft.com", "https://outlook.office365.com"),
    "usgov": ("https://login.microsoftonline.us", "https://graph.microsoft.us", "https://outlook.office365.us"),
    "usgov-dod": ("https://login.microsoftonline.us", "https://dod-graph.microsoft.us", "https://outlook-dod.office365.us"),
    "china": ("https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn", "https://partner.outlook.cn"),
}


def oauth(cloud: str, **extra) -> dict:
    return {"tenant_id": TENANT, "client_id": CLIENT_ID, "client_secret": {"env": SECRET_ENV}, "cloud": cloud, **extra}


def ruleset(tmp_path, monkeypatch, cloud: str, **extra):
    monkeypatch.setenv(SECRET_ENV, GOOD_SECRET)
    boxes = [{"name": "graph", "address": "support@example.com", "protocol": "graph",
              "auth": {"oauth": oauth(cloud, **extra)}},
             {"name": "ews", "address": "ews@example.com", "protocol": "ews", "auth": {"oauth": oauth(cloud, **extra)}}]
    config = write_config(tmp_path / cloud, boxes, smtp={"oauth": {"mailbox": "graph"}})
    return load_ruleset(config), str(config)


@pytest.mark.parametrize("cloud", sorted(HOSTS))
def test_each_cloud_has_its_authority_graph_and_exchange_hosts_F_MB_14(tmp_path, monkeypatch, cloud):
    login, graph, outlook = HOSTS[cloud]
    rules, config = ruleset(tmp_path, monkeypatch, cloud)
    graph_source = build_source(rules.mailbox("graph"), config)
    assert graph_source.settings.base_url == f"{graph}/v1.0"
    assert graph_source.access_tokens.settings.authority == f"{login}/{TENANT}"
    assert graph_source.access_tokens._scopes() == [f"{graph}/.default"]
    ews = build_source(rules.mailbox("ews"), config)
    assert ews.access_tokens._scopes() == [f"{outlook}/.default"]
    # A national tenant is always Exchange Online at its cloud's host; the public cloud keeps autodiscover.
    assert ews.settings.endpoint_url == (None if cloud == "global" else f"{outlook}/EWS/Exchange.asmx")
    assert outgoing_tokens(rules)._scopes() == [f"{outlook}/.default"]  # SMTP AUTH XOAUTH2


def test_tokens_are_asked_for_with_the_national_scope_F_MB_14(tmp_path, monkeypatch, msfake):  # noqa: F811
    """Through msal to the token endpoint: Graph, EWS and SMTP each ask for their US Government resource."""
    entra = Entra(msfake)
    rules, config = ruleset(tmp_path, monkeypatch, "usgov", authority_host=msfake.url, ca_file=msfake.ca_file)
    build_source(rules.mailbox("graph"), config).access_tokens()
    build_source(rules.mailbox("ews"), config).access_tokens()
    outgoing_tokens(rules)()
    assert [scope.split()[0] for scope in entra.scopes] == [
        "https://graph.microsoft.us/.default", "https://outlook.office365.us/.default",
        "https://outlook.office365.us/.default"]


def test_an_explicit_endpoint_wins_over_the_clouds_F_MB_14(tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, GOOD_SECRET)
    box = {"name": "ews", "address": "support@example.com", "protocol": "ews", "auth": {"oauth": oauth("china")},
           "ews": {"autodiscover": False, "endpoint_url": "https://mail.contoso.cn/EWS/Exchange.asmx"}}
    config = write_config(tmp_path / "config", [box])
    source = build_source(load_ruleset(config).mailbox("ews"), str(config))
    assert source.settings.endpoint_url == "https://mail.contoso.cn/EWS/Exchange.asmx"
