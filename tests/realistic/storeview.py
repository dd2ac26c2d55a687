"""Read what mailgate stored, straight from its tables (SQLite or PostgreSQL), for facts and the score."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import create_engine, text

from engine.store.log import decode_trace
from tests.realistic.machine import Sent
from tests.realistic.truth import Facts


@dataclass(frozen=True)
class LogRow:
    """One processing-log row: what became of one fetched copy."""

    key: str
    outcome: str
    reason: str
    ticket: int | None
    note: int | None
    sender: str | None
    message_id: str | None
    created_at: datetime

    @property
    def uid(self) -> int:
        return int(self.key.rpartition(":")[2])


@dataclass(frozen=True)
class OutRow:
    """One outbox row: a mail mailgate queued."""

    id: int
    kind: str
    to: str
    headers: dict
    body: str
    ticket: int | None
    message_id: str
    created_at: datetime


class StoreView:
    """Read-only queries on a store URL; the engine is created on first use (the poll makes the schema)."""

    def __init__(self, url: str):
        self.url = url
        self._engine = None

    @property
    def dialect(self) -> str:
        return "postgresql" if self.url.startswith("postgresql") else "sqlite"

    def _rows(self, sql: str, **params) -> list:
        if self._engine is None:
            self._engine = create_engine(self.url)
        with self._engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def logged_keys(self, mailbox: str) -> set[str]:
        try:
            return {r[0] for r in self._rows("SELECT message_key FROM processing_log WHERE mailbox = :m", m=mailbox)}
        except Exception:  # noqa: BLE001 - no schema yet: nothing logged
            return set()

    def log(self, mailbox: str) -> list[LogRow]:
        rows = self._rows("SELECT message_key, outcome, reason, ticket_number, note_id, sender, message_id, created_at "
                          "FROM processing_log WHERE mailbox = :m ORDER BY id", m=mailbox)
        return [LogRow(r[0], r[1], r[2] or "", r[3], r[4], r[5], r[6], _utc(r[7])) for r in rows]

    def trace(self, mailbox: str, key: str) -> list[dict]:
        """The logged trace steps as dicts; [] when the log keeps them in a form unknown here (they only explain)."""
        rows = self._rows("SELECT trace FROM processing_log WHERE mailbox = :m AND message_key = :k", m=mailbox, k=key)
        try:
            steps = decode_trace(rows[0][0]) if rows else []
            return [s for s in steps if isinstance(s, dict)]
        except (TypeError, ValueError):
            return []

    def outbox(self) -> list[OutRow]:
        rows = self._rows("SELECT id, kind, to_key, headers, body, ticket_number, message_id, created_at FROM outbox ORDER BY id")
        return [OutRow(r[0], r[1], r[2], {k.lower(): v for k, v in json.loads(r[3])}, r[4], r[5], r[6], _utc(r[7]))
                for r in rows]

    def stored_message_ids(self) -> dict[str, int]:
        """Every Message-ID mailgate stored (notes) or sent (outgoing mail) -> its ticket: the thread keys."""
        found = {r[0]: r[1] for r in self._rows("SELECT message_id, ticket_number FROM notes WHERE message_id IS NOT NULL")}
        found.update({r[0]: r[1] for r in self._rows("SELECT message_id, ticket_number FROM outgoing_messages")})
        return found

    def tickets(self) -> dict[int, dict]:
        rows = self._rows("SELECT t.*, r.email AS requester, au.login AS assignee_user, g.name AS assignee_group "
                          "FROM tickets t LEFT JOIN users r ON r.id = t.requester_id "
                          "LEFT JOIN users au ON au.id = t.assignee_user_id LEFT JOIN groups g ON g.id = t.assignee_group_id")
        return {r._mapping["number"]: dict(r._mapping) for r in rows}

    def notes(self, ticket: int) -> list[dict]:
        return [dict(r._mapping) for r in self._rows("SELECT * FROM notes WHERE ticket_number = :t ORDER BY id", t=ticket)]

    def attachments(self, note: int) -> list[tuple[str, str]]:
        return sorted((r[0], r[1]) for r in self._rows("SELECT filename, sha256 FROM attachments WHERE note_id = :n", n=note))

    def custom_fields(self, ticket: int) -> dict[str, str]:
        return {r[0]: r[1] for r in self._rows("SELECT name, value FROM ticket_fields WHERE ticket_number = :t", t=ticket)}

    def distribution(self, ticket: int) -> set[str]:
        return {r[0] for r in self._rows("SELECT address_key FROM distribution WHERE ticket_number = :t", t=ticket)}

    def user_emails(self) -> set[str]:
        return {r[0] for r in self._rows("SELECT email_key FROM users WHERE email_key IS NOT NULL")}

    def facts(self, mailbox: str) -> Facts:
        """Ticket numbers of the mails that opened tickets, and our auto-reply on each ticket."""
        facts = Facts()
        for row in self.log(mailbox):
            if row.outcome == "create_ticket" and row.message_id and row.ticket is not None:
                facts.ticket_of.setdefault(row.message_id.strip("<>"), row.ticket)
        for out in self.outbox():
            if out.kind == "auto_reply" and out.ticket is not None and out.ticket not in facts.auto_reply:
                facts.auto_reply[out.ticket] = Sent(out.message_id.strip("<>"), out.headers.get("subject", ""),
                                                    out.headers.get("from", "support@example.com"), out.to, out.created_at)
                facts.auto_reply_text[out.ticket] = out.body
        return facts


def _utc(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
