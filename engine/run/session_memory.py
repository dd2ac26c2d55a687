"""What the poll service keeps of a mailbox's source from one poll to the next: the login mechanism that
worked and the OAuth token provider (with its cached token).

Each poll builds its source afresh (secrets are read then, never kept in the config). So an
`auth: auto` mailbox on a server that stores hashed passwords paid its refused SCRAM and CRAM-MD5
logins (~1.5 s with Dovecot's delay) on every poll, and an OAuth mailbox fetched a token every poll.
The memory is per config: a reload (SIGHUP) starts it afresh, and a poll whose login was refused
forgets its mailbox, so a changed password or client secret is read at the next poll.
"""

from __future__ import annotations

from typing import Any

# Where sources keep them: ServerSession (IMAP, POP3) and the Graph and EWS sources.
KEPT = ("mechanism", "token_provider", "access_tokens")


class SessionMemory:
    """Per mailbox, what the last poll's source learnt, handed to the next poll's source of the same config."""

    def __init__(self) -> None:
        self._config: object | None = None
        self._kept: dict[str, dict[str, Any]] = {}

    def restore(self, config: object, mailbox: str, source: Any) -> None:
        """Give `source` what the last poll of `mailbox` under this `config` (a Ruleset) learnt."""
        if config is not self._config:
            self.forget()
            self._config = config
        for name, value in self._kept.get(mailbox, {}).items():
            setattr(source, name, value)

    def keep(self, mailbox: str, source: Any, auth_failed: bool) -> None:
        """Remember what `source` learnt, unless its login was refused (then read the secrets afresh)."""
        if auth_failed:
            self._kept.pop(mailbox, None)
            return
        self._kept[mailbox] = {name: value for name in KEPT if (value := getattr(source, name, None))}

    def forget(self) -> None:
        self._kept.clear()
