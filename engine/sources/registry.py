"""Every mail protocol mailgate speaks: the module that builds its source, imported only when used."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from engine.config.ruleset import MailboxConfig
from engine.errors import SourceError
from engine.sources.base import Source


@dataclass(frozen=True)
class Protocol:
    """One protocol: its name in `mailbox.protocol` and the module holding `build(mailbox, config_dir)`."""

    name: str
    module: str

    def build(self, mailbox: MailboxConfig, config_dir: str) -> Source:
        """The protocol's Source for `mailbox`; network sources connect lazily on first use."""
        return import_module(self.module).build(mailbox, config_dir)


# Adding a protocol: its module (a Source class and build()), one line here, and its
# name and options in schema/mailbox.schema.json. See docs/contributing.md.
PROTOCOLS = {p.name: p for p in (
    Protocol("maildir", "engine.sources.maildir"),
    Protocol("imap", "engine.sources.imap"),
    Protocol("pop3", "engine.sources.pop3"),
    Protocol("ews", "engine.sources.ews"),
    Protocol("graph", "engine.sources.graph"),
)}


def build_source(mailbox: MailboxConfig, config_dir: str) -> Source:
    """The Source of `mailbox` (secrets resolved now, never stored in the config)."""
    protocol = PROTOCOLS.get(mailbox.protocol)
    if protocol is None:
        raise SourceError(f"mailbox {mailbox.name}: unknown protocol {mailbox.protocol!r}",
                          hint=f"use one of: {', '.join(PROTOCOLS)}")
    return protocol.build(mailbox, config_dir)
