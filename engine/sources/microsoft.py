"""Build the EWS or Graph source of a mailbox from its configuration (used by engine.sources.factory)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from engine.config.ruleset import MailboxConfig
from engine.config.secrets import resolve_secret
from engine.errors import SourceError
from engine.sources.oauth import TokenProvider, provider_for


def _tokens(mailbox: MailboxConfig, config_dir: str, subject: Optional[str] = None) -> Optional[TokenProvider]:
    oauth = mailbox.options.get("auth", {}).get("oauth")
    if not oauth:
        return None
    return provider_for(oauth, config_dir, protocol=mailbox.protocol, subject=subject)


def _server(mailbox: MailboxConfig) -> dict:
    return dict(mailbox.options.get("server") or {})


def ews_source(mailbox: MailboxConfig, config_dir: str) -> Any:
    """EwsSource for `mailbox`: OAuth when auth.oauth is set, else the login and password."""
    from engine.sources.ews import EwsSettings, EwsSource

    options, server = mailbox.options, _server(mailbox)
    auth, ews = options.get("auth", {}), options.get("ews", {})
    password = auth.get("password")
    method = auth.get("method", "auto")
    settings = EwsSettings(
        email=mailbox.address, username=auth.get("username"),
        password=resolve_secret(password, config_dir) if password else None,
        auth=method if isinstance(method, str) else tuple(method), allow_ntlm=auth.get("allow_ntlm", False),
        autodiscover=ews.get("autodiscover", True), endpoint_url=ews.get("endpoint_url"),
        server=ews.get("server") or server.get("host"), domain=ews.get("domain"), version=ews.get("version"),
        shared_mailbox=ews.get("shared_mailbox"), access_type=ews.get("access_type", "delegate"),
        autodiscover_url=ews.get("autodiscover_url"), folder=options.get("folder", "INBOX"),
        unread_only=options.get("fetch", "unread") == "unread", ca_file=server.get("ca_file"),
        verify_certificate=server.get("verify_certificate", True),
        timeout=float(server.get("timeout_seconds", 60)))
    return EwsSource(settings, _tokens(mailbox, config_dir))


def graph_source(mailbox: MailboxConfig, config_dir: str) -> Any:
    """GraphSource for `mailbox`; Graph has no login without OAuth."""
    from engine.sources.graph import GraphSettings, GraphSource, graph_base_url

    options, server = mailbox.options, _server(mailbox)
    graph, oauth = options.get("graph", {}), options.get("auth", {}).get("oauth")
    tokens = _tokens(mailbox, config_dir)
    if tokens is None:
        raise SourceError(f"mailbox {mailbox.name}: protocol graph needs auth.oauth (client credentials)")
    settings = GraphSettings(
        user=graph.get("user") or mailbox.address, folder=options.get("folder", "INBOX"),
        unread_only=options.get("fetch", "unread") == "unread", page_size=int(graph.get("page_size", 50)),
        max_retries=int(graph.get("max_retries", 5)),
        base_url=graph.get("base_url") or graph_base_url(oauth.get("cloud", "global")),
        ca_file=server.get("ca_file"), verify_certificate=server.get("verify_certificate", True),
        timeout=float(server.get("timeout_seconds", 60)))
    return GraphSource(settings, tokens)


def build_microsoft_source(mailbox: MailboxConfig, config_dir: str) -> Any:
    """The EWS or Graph source of `mailbox` (protocol `ews` or `graph`)."""
    if mailbox.protocol == "ews":
        return ews_source(mailbox, config_dir)
    if mailbox.protocol == "graph":
        return graph_source(mailbox, config_dir)
    raise SourceError(f"mailbox {mailbox.name}: unknown protocol {mailbox.protocol!r}")


def config_problems(mailbox: Mapping) -> list[tuple[tuple, str, str]]:
    """What `validate` should report about a mailbox's OAuth/EWS/Graph settings: (key path, problem, hint).

    Paths are below `mailbox`, e.g. ("auth", "oauth", "tenant_id"); the caller turns them into file:line.
    """
    auth = mailbox.get("auth") or {}
    oauth = auth.get("oauth")
    protocol = mailbox.get("protocol")
    found: list[tuple[tuple, str, str]] = []
    method = auth.get("method", "auto")
    if protocol == "ews" and not isinstance(method, str) and "ntlm" in method and not auth.get("allow_ntlm"):
        found.append((("auth", "method"), "ntlm is listed but allow_ntlm is false",
                      "remove ntlm, or set auth.allow_ntlm: true if NTLM is really wanted"))
    if protocol == "graph" and not oauth:
        found.append((("auth",), "protocol graph needs auth.oauth (client credentials)",
                      "register an app in Entra ID and add auth.oauth (see docs/exchange-m365.md)"))
    if protocol == "ews" and not oauth and not auth.get("password"):
        found.append((("auth",), "protocol ews needs auth.password or auth.oauth", "add one of them"))
    if oauth:
        found += _oauth_problems(oauth)
    return found


def _oauth_problems(oauth: Mapping) -> list[tuple[tuple, str, str]]:
    base, provider = ("auth", "oauth"), oauth.get("provider", "microsoft")
    cert = oauth.get("certificate") or {}
    found = []
    if not oauth.get("client_id"):
        found.append((base, "oauth needs client_id", "the application (client) id of the app registration"))
    if not oauth.get("client_secret") and not cert.get("private_key"):
        found.append((base, "oauth needs client_secret or certificate.private_key", "give one credential"))
    if provider == "microsoft" and not oauth.get("tenant_id"):
        found.append((base, "provider microsoft needs tenant_id", "the directory (tenant) id or domain"))
    if provider == "microsoft" and cert.get("private_key") and not cert.get("thumbprint"):
        found.append((base + ("certificate",), "a certificate credential needs its thumbprint",
                      "the SHA-1 thumbprint shown under Certificates & secrets"))
    if provider == "generic" and not oauth.get("token_url"):
        found.append((base, "provider generic needs token_url", "the provider's token endpoint"))
    return found
