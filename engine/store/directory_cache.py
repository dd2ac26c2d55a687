"""Users, organisations and groups remembered for one poll: each looked up once, kept true by the writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# What a look-up is keyed by; a write names the kinds and keys it makes stale.
USER_ID, USER_EMAIL, USER_LOGIN = "user", "user_email", "user_login"
ORG_ID, ORG_NAME, ORG_DOMAIN = "org", "org_name", "org_domain"
GROUP_ID, GROUP_NAME = "group", "group_name"


class DirectoryCache:
    """Directory records by look-up, found or not, for the transactions of one poll.

    A poll asked the store for the same few people, organisations and groups for every
    message (the requester, the assignee group and its members, the organisation of each):
    ~8 of the ~24 statements per message. The store's own write methods keep the cache
    true (a created user is no longer "missing"); a rolled-back savepoint or transaction
    clears it, since what it learnt inside may be gone. Records are frozen, so sharing
    them is safe. What another process changes in the directory meanwhile is seen from
    the next poll on; a user another poller created first is found by create_user itself.
    """

    def __init__(self) -> None:
        self._found: dict[tuple[str, Any], Any] = {}

    def get(self, kind: str, key: Any, load: Callable[[], Any]) -> Any:
        """The record for (kind, key), loaded once; None (not found) is remembered too."""
        entry = (kind, key)
        try:
            return self._found[entry]
        except KeyError:
            record = self._found[entry] = load()
            return record

    def knows(self, kind: str, key: Any) -> bool:
        """Whether (kind, key) was looked up (found or not) and is still remembered."""
        return (kind, key) in self._found

    def put(self, kind: str, key: Any, record: Any) -> None:
        """Remember what a write made the answer (a created user: no read-back needed)."""
        self._found[(kind, key)] = record

    def fill(self, kind: str, key: Any, record: Any) -> None:
        """Remember `record` where a look-up found nothing; otherwise (not looked up, or another
        record answers) forget the look-up, so the next asks the store."""
        entry = (kind, key)
        if entry in self._found and self._found[entry] is None:
            self._found[entry] = record
        else:
            self._found.pop(entry, None)

    def forget(self, kind: str, key: Any) -> None:
        """Drop one look-up (a write changed its answer)."""
        self._found.pop((kind, key), None)

    def forget_kinds(self, *kinds: str) -> None:
        """Drop every look-up of these kinds (a write whose reach is wider than one key)."""
        for entry in [entry for entry in self._found if entry[0] in kinds]:
            del self._found[entry]

    def clear(self) -> None:
        """Forget everything: what a rolled-back transaction wrote is gone."""
        self._found.clear()
