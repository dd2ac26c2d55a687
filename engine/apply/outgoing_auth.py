"""OAuth for outgoing mail (F-OUT-7): settings.smtp.oauth, written there or borrowed from a mailbox's auth.oauth."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

from engine.config.ruleset import Ruleset


def oauth_settings(ruleset: Ruleset) -> Optional[Mapping]:
    """The client settings outgoing mail uses: a mailbox's auth.oauth when `mailbox:` names one, else its own."""
    oauth = ruleset.settings.smtp.oauth
    if not oauth:
        return None
    if oauth.get("mailbox"):
        return ruleset.mailbox(oauth["mailbox"]).options["auth"]["oauth"]
    return oauth


def sending_account(ruleset: Ruleset) -> str:
    """Who logs in to send: settings.smtp.username, else the global return address, else the first mailbox's."""
    smtp = ruleset.settings.smtp
    return smtp.username or ruleset.settings.return_address or ruleset.mailboxes[0].address


def outgoing_tokens(ruleset: Ruleset):
    """The TokenProvider of outgoing mail, or None without settings.smtp.oauth.

    SMTP asks for the mail server's scope (Exchange Online: `https://outlook.office365.com/.default`,
    the app needs SMTP.SendAsApp; Google: `https://mail.google.com/`), Graph for Graph's (Mail.Send).
    A Google service account acts for the sending account (domain-wide delegation).
    """
    oauth = oauth_settings(ruleset)
    if oauth is None:
        return None
    from engine.sources.oauth import provider_for

    protocol = "graph" if ruleset.settings.smtp.transport == "graph" else "smtp"
    subject = sending_account(ruleset) if oauth.get("provider") == "google" else None
    return provider_for(oauth, ruleset.config_dir, protocol=protocol, subject=subject)


def graph_base(ruleset: Ruleset) -> str:
    """Where transport: graph sends: settings.smtp.graph_base_url, else the OAuth cloud's Graph v1.0."""
    from engine.sources.graph import graph_base_url

    oauth = oauth_settings(ruleset) or {}
    return ruleset.settings.smtp.graph_base_url or graph_base_url(oauth.get("cloud", "global"))
