"""The outbox (mail waiting for SMTP, with retries) and the Message-IDs of mail we sent."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import bindparam, delete, func, select, update

from engine.errors import StoreError
from engine.store.base import Session, bare_message_id, bounded, fold_address
from engine.store.prepared import Prepared
from engine.store.records import OutboxMessage, from_row
from engine.store.schema import outbox, outgoing_messages

# Seconds to wait after the 1st, 2nd, ... failed attempt; later attempts wait the
# last delay again, until settings.smtp.max_attempts (default 8: ~22 h) are spent.
RETRY_DELAYS = (60, 300, 900, 3600, 3 * 3600, 6 * 3600)


_LAST_NOTICE = Prepared(select(func.max(outbox.c.created_at)).where(
    outbox.c.kind == bindparam("kind"), outbox.c.cause == bindparam("cause"), outbox.c.about == bindparam("about")))
_AUTO_REPLIES = Prepared(select(func.count()).select_from(outbox).where(
    outbox.c.kind == "auto_reply", outbox.c.to_key == bindparam("to"), outbox.c.created_at >= bindparam("since")))


def retry_delay(attempts: int, max_attempts: int) -> timedelta | None:
    """The wait after `attempts` failed attempts, or None once `max_attempts` are spent."""
    if attempts < 1 or attempts >= max_attempts:
        return None
    return timedelta(seconds=RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1])


def _message(row: Any) -> OutboxMessage:
    headers = tuple(tuple(pair) for pair in json.loads(row.headers))
    return from_row(OutboxMessage, row, headers=headers)


class OutboxReads(Session):
    """Read side: what is due, and how many auto-replies an address got."""

    def outbox_message(self, outbox_id: int) -> OutboxMessage | None:
        """One outbox row by its id, or None."""
        rows = self._rows(select(outbox).where(outbox.c.id == outbox_id))
        return _message(rows[0]) if rows else None

    def due_outbox(self, now: datetime | None = None, limit: int = 100) -> list[OutboxMessage]:
        """Pending messages whose next attempt is due, oldest first."""
        when = now or self.now()
        stmt = (
            select(outbox)
            .where(outbox.c.status == "pending", outbox.c.next_attempt_at <= when)
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
        )
        return [_message(r) for r in self._rows(stmt)]

    def outbox_messages(self, *, status: str | None = None, kind: str | None = None, mailbox: str | None = None,
                        message_key: str | None = None, limit: int = 100) -> list[OutboxMessage]:
        """Outbox rows, newest first, optionally by status, kind, mailbox and the mail that caused them."""
        stmt = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
        for column, value in (("status", status), ("kind", kind), ("mailbox", mailbox), ("message_key", message_key)):
            if value is not None:
                stmt = stmt.where(outbox.c[column] == value)
        return [_message(r) for r in self._rows(stmt)]

    def outbox_depth(self) -> dict[str, int]:
        """How many outbox rows are in each status."""
        stmt = select(outbox.c.status, func.count()).group_by(outbox.c.status)
        return {status: int(n) for status, n in self._rows(stmt)}

    def auto_replies_sent(self, address: str, since: datetime) -> int:
        """F-OUT-1: auto-replies queued for this address since `since` (sent or not)."""
        return int(self._scalar(_AUTO_REPLIES, {"to": fold_address(address), "since": since}) or 0)

    def last_notice(self, kind: str, cause: str, about: str) -> datetime | None:
        """When the last `kind` notice for `cause` about sender `about` was queued, or None."""
        return self._scalar(_LAST_NOTICE, {"kind": kind, "cause": cause, "about": fold_address(about)})


class OutboxWrites(Session):
    """Write side: queueing in the ticket's transaction, then recording delivery."""

    def enqueue_outbox(
        self,
        to_addr: str,
        headers: Iterable[tuple[str, str]],
        body: str,
        message_id: str,
        *,
        ticket_number: int | None = None,
        kind: str = "notice",
        mailbox: str | None = None,
        html: str | None = None,
        cause: str | None = None,
        about: str | None = None,
        status: str = "pending",
        reason: str | None = None,
        message_key: str | None = None,
    ) -> int | None:
        """Queue a mail (F-OUT-5) and return its outbox id; None when a mail with this
        Message-ID is queued already (the same mail: it is not queued twice, and never
        fails the message's transaction).

        Its Message-ID is recorded against the ticket at once, so a reply
        threads back (F-REF-1) even if it arrives before we log the send.
        `cause` and `about` (the reason code and the sender a notice is about)
        let flood control find the last notice of its kind (`last_notice`).
        `status` held (automatic mail switched off, F-OUT-9) or blocked (a
        never-send-to recipient, F-OUT-8) keeps it from being sent; `reason`
        says why, where the outbox shows its last error. `message_key` names
        the incoming mail (in `mailbox`) that caused it.
        """
        pairs = [[str(name), str(value)] for name, value in headers]
        for name, value in pairs:
            if "\r" in name + value or "\n" in name + value:
                raise StoreError(f"header {name!r} contains a line break")
        now = self.now()
        bare = bare_message_id(message_id)
        values = dict(kind=kind, mailbox=mailbox, to_addr=to_addr.strip(), to_key=fold_address(to_addr),
                      headers=json.dumps(pairs),
                      body=body, html=html, message_id=bare, ticket_number=ticket_number,
                      cause=cause, about=fold_address(about),
                      status=status, last_error=reason, attempts=0, next_attempt_at=now, created_at=now,
                      message_key=bounded(message_key) if message_key else None)
        outbox_id = self._add_outbox_row(values)
        if outbox_id is not None and ticket_number is not None:
            self.record_outgoing_message_id(bare, ticket_number)
        return outbox_id

    def _add_outbox_row(self, values: dict[str, Any]) -> int | None:
        """Insert an outbox row unless its Message-ID is queued; its id, or None (a batch defers it)."""
        return self._insert_new(outbox, values)

    def record_outgoing_message_id(self, message_id: str, ticket_number: int) -> None:
        """Remember that mail with this Message-ID was about this ticket."""
        bare = bare_message_id(message_id)
        values = dict(message_id=bare, ticket_number=ticket_number, created_at=self.now())
        self._insert_new(outgoing_messages, values)  # recorded already: fine

    def claim_outbox(self, outbox_id: int, hold: timedelta = timedelta(minutes=10)) -> bool:
        """Push a due message's next attempt `hold` ahead; False if another sender got it first.

        Lets several pollers drain one outbox without sending a message twice
        in the common case (SMTP itself cannot be exactly-once).
        """
        now = self.now()
        due = (outbox.c.id == outbox_id) & (outbox.c.status == "pending") & (outbox.c.next_attempt_at <= now)
        result = self._exec(update(outbox).where(due).values(next_attempt_at=now + hold))
        return result.rowcount == 1

    def mark_outbox_sent(self, outbox_id: int) -> None:
        """The SMTP server accepted the message."""
        now = self.now()
        stmt = update(outbox).where(outbox.c.id == outbox_id)
        self._exec(stmt.values(status="sent", sent_at=now, attempts=outbox.c.attempts + 1, last_error=None))

    def mark_outbox_failed(self, outbox_id: int, error: str, *, max_attempts: int,
                           permanent: bool = False) -> datetime | None:
        """Record a failed attempt; return when to retry, or None once given up.

        A permanent failure (an SMTP 5xx) gives up at once; otherwise the
        delays of RETRY_DELAYS apply until `max_attempts` attempts have failed.
        """
        attempts = self._scalar(select(outbox.c.attempts).where(outbox.c.id == outbox_id))
        if attempts is None:
            raise StoreError(f"outbox message {outbox_id} does not exist")
        delay = None if permanent else retry_delay(attempts + 1, max_attempts)
        values: dict[str, Any] = dict(attempts=attempts + 1, last_error=error)
        if delay is None:
            values["status"] = "failed"
        else:
            values["next_attempt_at"] = self.now() + delay
        self._exec(update(outbox).where(outbox.c.id == outbox_id).values(**values))
        return values.get("next_attempt_at")

    def expire_outbox(self, kind: str | None, older_than: datetime,
                      statuses: tuple[str, ...] = ("pending",)) -> list[OutboxMessage]:
        """Mark mail of `kind` (None: any) in `statuses` created before `older_than` expired, never to be sent.

        Returns the rows expired, for the log line that names each one. The poller expires
        pending mail only: held mail waits for an operator, who may expire it too.
        """
        stale = outbox.c.status.in_(statuses) & (outbox.c.created_at < older_than)
        if kind is not None:
            stale &= outbox.c.kind == kind
        rows = [_message(r) for r in self._rows(select(outbox).where(stale))]
        if rows:
            self._exec(update(outbox).where(outbox.c.id.in_([r.id for r in rows]))
                       .values(status="expired", last_error=f"older than its maximum age at {self.now():%Y-%m-%d %H:%M} UTC"))
        return rows

    def set_outbox_status(self, outbox_id: int, status: str, *, allowed_from: tuple[str, ...],
                          due_now: bool = False, reset_attempts: bool = False) -> bool:
        """Move one row to `status` if it is in one of `allowed_from`; False otherwise.

        `due_now` makes it due at once (release, retry); `reset_attempts` gives it
        the whole retry schedule again (retry of a failed or expired mail).
        """
        values: dict[str, Any] = {"status": status}
        if due_now:
            values["next_attempt_at"] = self.now()
        if reset_attempts:
            values.update(attempts=0, last_error=None)
        stmt = update(outbox).where(outbox.c.id == outbox_id, outbox.c.status.in_(allowed_from))
        return self._exec(stmt.values(**values)).rowcount == 1

    def purge_outbox(self, *, statuses: tuple[str, ...], kind: str | None = None,
                     older_than: datetime | None = None) -> int:
        """Delete outbox rows in `statuses` (optionally of `kind`, created before `older_than`); return how many."""
        stmt = delete(outbox).where(outbox.c.status.in_(statuses))
        if kind is not None:
            stmt = stmt.where(outbox.c.kind == kind)
        if older_than is not None:
            stmt = stmt.where(outbox.c.created_at < older_than)
        return self._exec(stmt).rowcount
