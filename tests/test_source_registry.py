"""The mailbox configuration reaches the EWS, Graph and OAuth settings as written (engine.sources.registry, each protocol's build()).

SPEC IDs proved here: F-MB-1, F-MB-5.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config.defaults import fill_defaults
from engine.config.freeze import freeze
from engine.config.ruleset import MailboxConfig
from engine.config.schemas import schema_for, validator_for
from engine.errors import SourceError
from engine.sources.ews import EwsSource
from engine.sources.registry import build_source
from engine.sources.graph import GraphSource
from tests.servers.ewsfake import Exchange
from tests.servers.msfake import msfake, msfake_server  # noqa: F401  (fixtures)
from tests.polltools import fetch_batches

pytestmark = pytest.mark.ews


def mailbox(**fields) -> MailboxConfig:
    data = {"version": 1, "mailbox": {"name": "helpdesk", "address": "help@contoso.example", **fields}}
    errors = list(validator_for("mailbox").iter_errors(data))
    assert not errors, errors[0].message
    options = fill_defaults(data, schema_for("mailbox"), "mailbox")["mailbox"]
    return MailboxConfig(options["name"], options["address"], options["protocol"], True, freeze(options), "test")


def test_ews_mailbox_from_config_reads_the_server_F_MB_5(msfake, monkeypatch, tmp_path):  # noqa: F811
    exchange = Exchange(msfake)
    box = exchange.mailbox("help@contoso.example", "CONTOSO\\helpdesk", "pw-from-env")
    ids = box.add(2)
    monkeypatch.setenv("MAILGATE_TEST_EWS_PASSWORD", "pw-from-env")
    config = mailbox(protocol="ews", server={"ca_file": msfake.ca_file},
                     auth={"username": "helpdesk", "password": {"env": "MAILGATE_TEST_EWS_PASSWORD"}},
                     ews={"autodiscover": False, "endpoint_url": exchange.ews_url, "domain": "CONTOSO"},
                     after_processing={"action": "move", "folder": "Processed", "create_folder": True})
    src = build_source(config, str(tmp_path))
    assert isinstance(src, EwsSource) and src.settings.login == "CONTOSO\\helpdesk"
    assert not src.settings.allow_ntlm and src.settings.verify_certificate
    assert [f.key for b in fetch_batches(src, 10, 10) for f in b] == ids
    assert exchange.operations[0] == "ConvertId"  # no version configured: exchangelib asks the server


def test_shared_mailbox_and_version_from_config_seed_002(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILGATE_TEST_EWS_PASSWORD", "x")
    config = mailbox(protocol="ews", auth={"username": "Max.Mustermann", "password":
                                           {"env": "MAILGATE_TEST_EWS_PASSWORD"}},
                     ews={"server": "mail.example.com", "domain": "Domain", "version": "Exchange2016",
                          "shared_mailbox": "shared.mailboxalias@example.com", "autodiscover": False})
    s = build_source(config, str(tmp_path)).settings
    assert (s.login, s.mailbox, s.version) == ("Domain\\Max.Mustermann", "shared.mailboxalias@example.com",
                                               "Exchange2016")


def test_graph_mailbox_from_config_uses_the_national_cloud_F_MB_1(tmp_path):
    (tmp_path / "secret").write_text("s3cret\n")
    config = mailbox(protocol="graph", graph={"user": "support@contoso.us", "page_size": 25},
                     auth={"oauth": {"tenant_id": "t", "client_id": "c", "cloud": "usgov",
                                     "client_secret": {"file": "secret"}}})
    src = build_source(config, str(tmp_path))
    assert isinstance(src, GraphSource)
    assert src.settings.base_url == "https://graph.microsoft.us/v1.0" and src.settings.page_size == 25
    tokens = src.access_tokens
    assert tokens.settings.client_secret == "s3cret" and "s3cret" not in repr(tokens.settings)
    assert tokens.settings.authority == "https://login.microsoftonline.us/t"
    assert tokens._scopes() == ["https://graph.microsoft.us/.default"]


def test_graph_without_oauth_is_refused(tmp_path):
    with pytest.raises(SourceError, match="needs auth.oauth"):
        build_source(mailbox(protocol="graph", auth={"username": "x"}), str(tmp_path))


def test_config_problems_for_validate_seed_002():
    from engine.config.protocols import config_problems

    assert config_problems({"protocol": "ews", "auth": {"password": {"env": "X"}}}) == []
    ntlm = config_problems({"protocol": "ews", "auth": {"method": ["ntlm"], "password": {"env": "X"}}})
    assert [p[0] for p in ntlm] == [("auth", "method")]
    assert config_problems({"protocol": "graph", "auth": {}})[0][1].startswith("protocol graph needs")
    oauth = config_problems({"protocol": "graph", "auth": {"oauth": {"provider": "microsoft",
                                                                      "certificate": {"private_key": {"env": "K"}}}}})
    messages = " | ".join(p[1] for p in oauth)
    assert "client_id" in messages and "tenant_id" in messages and "thumbprint" in messages
    assert "client_secret" not in messages


def test_every_protocol_of_the_schema_is_registered_and_builds_F_MB_1():
    """The schema's protocol enum and the registry list the same protocols, each module with its build()."""
    import importlib
    import json

    from engine.sources.registry import PROTOCOLS

    schema = json.loads((Path(__file__).resolve().parent.parent / "schema" / "mailbox.schema.json").read_text())
    assert sorted(schema["$defs"]["mailbox"]["properties"]["protocol"]["enum"]) == sorted(PROTOCOLS)
    for protocol in PROTOCOLS.values():
        assert callable(importlib.import_module(protocol.module).build), protocol.name
