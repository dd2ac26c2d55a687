"""Build a mail source from a mailbox's configuration (secrets resolved only here, at use)."""

from __future__ import annotations

from pathlib import Path

from engine.config.ruleset import MailboxConfig
from engine.config.secrets import resolve_secret
from engine.sources.base import AfterAction


def after_action(mailbox: MailboxConfig) -> AfterAction:
    """The mailbox's after-processing action (F-MB-9)."""
    spec = mailbox.options["after_processing"]
    if spec["action"] == "move":
        return AfterAction.move(spec["folder"], spec["create_folder"])
    return AfterAction(spec["action"])


def _password(mailbox: MailboxConfig, config_dir: str) -> str | None:
    secret = mailbox.options.get("auth", {}).get("password")
    return resolve_secret(secret, config_dir) if secret else None


def _token_provider(mailbox: MailboxConfig, config_dir: str):
    oauth = mailbox.options.get("auth", {}).get("oauth")
    if not oauth:
        return None
    from engine.sources.oauth import provider_for  # only OAuth mailboxes need msal

    # A Google service account acts for the mailbox's own login (domain-wide delegation).
    subject = (mailbox.options["auth"].get("username") or mailbox.address) if oauth.get("provider") == "google" else None
    return provider_for(oauth, config_dir, protocol=mailbox.protocol, subject=subject)


def _common(mailbox: MailboxConfig, config_dir: str) -> dict:
    options = mailbox.options
    server, auth = options["server"], options["auth"]
    return dict(host=server["host"], username=auth.get("username") or mailbox.address,
                password=_password(mailbox, config_dir), port=server.get("port"), tls=server["tls"],
                verify_certificate=server["verify_certificate"], ca_file=server.get("ca_file"),
                auth=auth["method"] if isinstance(auth["method"], str) else tuple(auth["method"]),
                forbid_plaintext_login=auth["forbid_plaintext_login"], timeout=float(server["timeout_seconds"]))


def build_source(mailbox: MailboxConfig, config_dir: str):
    """A Source for `mailbox`; network sources connect lazily on first use."""
    options = mailbox.options
    if mailbox.protocol == "maildir":
        from engine.sources.maildir import MaildirSettings, MaildirSource

        path = Path(options["maildir"]["path"])
        path = path if path.is_absolute() else Path(config_dir) / path
        return MaildirSource(MaildirSettings(str(path), unread_only=options["fetch"] == "unread", create=True))
    if mailbox.protocol == "imap":
        from engine.sources.imap import ImapSettings, ImapSource

        settings = ImapSettings(**_common(mailbox, config_dir), folder=options["folder"],
                                unread_only=options["fetch"] == "unread")
        return ImapSource(settings, _token_provider(mailbox, config_dir))
    if mailbox.protocol == "pop3":
        from engine.sources.pop3 import Pop3Settings, Pop3Source

        settings = Pop3Settings(**_common(mailbox, config_dir), leave_on_server=options["pop3"]["leave_on_server"])
        return Pop3Source(settings, _token_provider(mailbox, config_dir))
    from engine.sources.microsoft import build_microsoft_source  # ews / graph

    return build_microsoft_source(mailbox, config_dir)
