"""Seed 002's shared-mailbox login, `Domain\\User\\SharedAlias`: whose credentials, and which mailbox they open (F-MB-18)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class SharedLogin:
    """`Domain\\User\\SharedAlias` in three: the delegate logs in as `Domain\\User` and opens `shared`."""

    domain: str
    user: str
    shared: str

    @property
    def login(self) -> str:
        """The delegate's own Windows login, `Domain\\User`."""
        return f"{self.domain}\\{self.user}"

    @property
    def written(self) -> str:
        """The three parts as the admin wrote them (Exchange's own IMAP/POP3 login syntax)."""
        return f"{self.domain}\\{self.user}\\{self.shared}"

    def address(self, mailbox_address: str) -> str:
        """The shared mailbox's address: the alias, on the mailbox address's domain when it has none."""
        return self.shared if "@" in self.shared else f"{self.shared}@{mailbox_address.rpartition('@')[2]}"


def looks_shared(username: Optional[str]) -> bool:
    """True for a username written with two backslashes or more, well formed or not."""
    return bool(username) and username.count("\\") >= 2


def split_shared(username: Optional[str]) -> Optional[SharedLogin]:
    """`Domain\\User\\SharedAlias` split in three; None for any other username (or an empty part)."""
    if not looks_shared(username) or username.count("\\") != 2:
        return None
    domain, user, shared = (part.strip() for part in username.split("\\"))
    return SharedLogin(domain, user, shared) if domain and user and shared else None
