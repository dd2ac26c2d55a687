"""A mailbox's YAML options turned into what a source needs; secrets are resolved here, at use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

from engine.config.ruleset import MailboxConfig
from engine.config.secrets import resolve_secret
from engine.config.shared_login import split_shared
from engine.sources import tls
from engine.sources.base import AfterAction, TokenProvider


def after_action(mailbox: MailboxConfig) -> AfterAction:
    """The mailbox's after-processing action (F-MB-9)."""
    spec = mailbox.options["after_processing"]
    if spec["action"] == "move":
        return AfterAction.move(spec["folder"], spec["create_folder"])
    return AfterAction(spec["action"])


def password(mailbox: MailboxConfig, config_dir: str) -> Optional[str]:
    """The login password from its {env:}/{file:} reference, or None."""
    secret = (mailbox.options.get("auth") or {}).get("password")
    return resolve_secret(secret, config_dir) if secret else None


def token_provider(mailbox: MailboxConfig, config_dir: str, subject: Optional[str] = None) -> Optional[TokenProvider]:
    """The OAuth token source of a mailbox with auth.oauth, else None (msal is imported only then)."""
    oauth = (mailbox.options.get("auth") or {}).get("oauth")
    if not oauth:
        return None
    from engine.sources.oauth import provider_for

    return provider_for(oauth, config_dir, protocol=mailbox.protocol, subject=subject)


def server_options(mailbox: MailboxConfig, config_dir: str) -> dict:
    """The ServerSettings fields of an IMAP or POP3 mailbox."""
    options = mailbox.options
    server, auth = options["server"], options["auth"]
    method = auth["method"]
    username, shared = login_of(auth.get("username") or mailbox.address)
    return dict(host=server["host"], username=username, shared_mailbox=shared,
                password=password(mailbox, config_dir), port=server.get("port"), tls=server["tls"],
                verify_certificate=server["verify_certificate"], ca_file=server.get("ca_file"),
                auth=method if isinstance(method, str) else tuple(method),
                forbid_plaintext_login=auth["forbid_plaintext_login"], timeout=float(server["timeout_seconds"]),
                **tls_versions(server))


def login_of(username: str) -> tuple[str, Optional[str]]:
    """The login and the shared mailbox it opens: seed 002's `Domain\\User\\SharedAlias` is
    `Domain\\User` opening `SharedAlias` (F-MB-18); any other username opens its own mailbox."""
    shared = split_shared(username)
    return (shared.login, shared.shared) if shared else (username, None)


def tls_versions(server: Mapping) -> dict:
    """`tls_min_version` / `tls_max_version` of a server section, as '1.2'/'1.3' (F-MB-15)."""
    return dict(tls_min_version=tls.version_name(server.get("tls_min_version")) or tls.DEFAULT_MIN_VERSION,
                tls_max_version=tls.version_name(server.get("tls_max_version")))


def login_token_provider(mailbox: MailboxConfig, config_dir: str) -> Optional[TokenProvider]:
    """XOAUTH2 for IMAP/POP3; a Google service account acts for the mailbox's own login (domain-wide delegation)."""
    oauth = (mailbox.options.get("auth") or {}).get("oauth") or {}
    google = oauth.get("provider") == "google"
    subject = (mailbox.options["auth"].get("username") or mailbox.address) if google else None
    return token_provider(mailbox, config_dir, subject)
