"""Tickets, notes, attachments and distribution lists."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, update

from engine.errors import StoreError
from engine.store.base import Session, bare_message_id, fold_address
from engine.store.prepared import Prepared
from engine.errors import TransientStoreError
from engine.store.records import Attachment, DistributionEntry, Note, Ticket, from_row
from engine.store.schema import (
    TICKET_NUMBERS,
    attachments, blobs, distribution, notes, organisations, outgoing_messages, ticket_fields, ticket_tags, tickets, users,
)

# What create_ticket / set_ticket_fields accept; number and timestamps are the store's.
TICKET_FIELDS = (
    "subject", "status", "type", "subtype", "ticket_class", "category", "priority",
    "assignee_user_id", "assignee_group_id", "requester_id", "organisation_id",
    "template", "source_mailbox", "source", "logging_technician_id", "hidden",
    "hidden_from_portal",
)


_NEXT_NUMBER = Prepared(select(func.coalesce(func.max(tickets.c.number), 0) + 1))
# PostgreSQL: numbers come from a sequence (engine/store/migrate.py), so pollers sharing
# the store never wait for each other's uncommitted tickets or retry for a number.
_TAKE_NUMBER = Prepared(text(f"SELECT nextval('{TICKET_NUMBERS}')"))
_PEEK_NUMBER = Prepared(text(f"SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM {TICKET_NUMBERS}"))
_INSERT_NOTE = Prepared(insert(notes).returning(notes.c.id))
_TOUCH = Prepared(update(tickets).where(tickets.c.number == bindparam("b_number")).values(updated_at=bindparam("b_now")))
_INSERT_ATTACHMENT = Prepared(insert(attachments).returning(attachments.c.id))
_SENT_ID = Prepared(select(outgoing_messages.c.ticket_number).where(outgoing_messages.c.message_id == bindparam("mid")))
_NOTE_ID = Prepared(select(notes.c.ticket_number).where(notes.c.message_id == bindparam("mid"))
                    .order_by(notes.c.id).limit(1))
_TICKET = Prepared(select(tickets).where(tickets.c.number == bindparam("number")))
_USER_ROW = Prepared(select(users).where(users.c.id == bindparam("id")))
_SHARES = Prepared(select(organisations.c.shares_tickets).where(organisations.c.id == bindparam("id")))
# A ticket with its distribution list in one statement: evaluate reads both for every reply.
_TICKET_AND_LIST = Prepared(
    select(tickets, distribution.c.address.label("list_address"), distribution.c.user_id.label("list_user_id"))
    .select_from(tickets.outerjoin(distribution, distribution.c.ticket_number == tickets.c.number))
    .where(tickets.c.number == bindparam("number")).order_by(distribution.c.id))
_DISTRIBUTION = Prepared(select(distribution.c.address, distribution.c.user_id)
                         .where(distribution.c.ticket_number == bindparam("number")).order_by(distribution.c.id))


def _check_fields(fields: dict[str, Any]) -> None:
    unknown = set(fields) - set(TICKET_FIELDS)
    if unknown:
        raise StoreError(f"unknown ticket fields: {', '.join(sorted(unknown))}")


class TicketReads(Session):
    """Read side: tickets and what hangs off them."""

    def next_ticket_number(self) -> int:
        """The number the next ticket gets.

        On PostgreSQL a write transaction takes it from a sequence: taken once, never
        given again, even when the transaction rolls back (numbers increase, with a gap
        where that happened); a read view only peeks at it (dry-run). On SQLite a writer
        holds the database's one write lock from BEGIN, so one above the highest is safe.
        """
        if self._dialect() == "postgresql":
            return int(self._scalar(_TAKE_NUMBER if self._writing() else _PEEK_NUMBER))
        return int(self._scalar(_NEXT_NUMBER))

    def tags(self, number: int) -> list[str]:
        """The ticket's tags, sorted."""
        return [row[0] for row in self._rows(select(ticket_tags.c.tag).where(ticket_tags.c.ticket_number == number)
                                             .order_by(ticket_tags.c.tag))]

    def custom_fields(self, number: int) -> dict[str, str]:
        """The ticket's custom fields by name."""
        stmt = select(ticket_fields.c.name, ticket_fields.c.value).where(ticket_fields.c.ticket_number == number)
        return {name: value for name, value in self._rows(stmt.order_by(ticket_fields.c.name))}

    def ticket(self, number: int) -> Ticket | None:
        """The ticket with this number, or None."""
        rows = self._rows(_TICKET, {"number": number})
        return from_row(Ticket, rows[0]) if rows else None

    def tickets(
        self, *, status: str | None = None, mailbox: str | None = None, requester_id: int | None = None,
        limit: int = 100, offset: int = 0,
    ) -> list[Ticket]:
        """Tickets, newest first, optionally only those with this status / from this mailbox / requester."""
        stmt = select(tickets).order_by(tickets.c.number.desc()).limit(limit).offset(offset)
        for column, value in (("status", status), ("source_mailbox", mailbox), ("requester_id", requester_id)):
            if value is not None:
                stmt = stmt.where(tickets.c[column] == value)
        return [from_row(Ticket, r) for r in self._rows(stmt)]

    def can_see_ticket(self, number: int, user_id: int) -> bool:
        """F-REF-3: technicians, the requester, distribution list members (by user or
        address), and members of the ticket's organisation when it shares tickets."""
        ticket, user = self.ticket(number), self._user_row(user_id)
        if ticket is None or user is None:
            return False
        if user.role == "technician" or ticket.requester_id == user_id:
            return True
        if any(e.user_id == user_id or (user.email_key and fold_address(e.address) == user.email_key)
               for e in self.distribution_list(number)):
            return True
        org_id = ticket.organisation_id
        if org_id is None and ticket.requester_id is not None:
            requester = self._user_row(ticket.requester_id)
            org_id = requester.organisation_id if requester else None
        if org_id is None or org_id != user.organisation_id:
            return False
        return bool(self._scalar(_SHARES, {"id": org_id}))

    def _user_row(self, user_id: int) -> Any:
        rows = self._rows(_USER_ROW, {"id": user_id})
        return rows[0] if rows else None

    def notes(self, number: int) -> list[Note]:
        """The ticket's notes, oldest first."""
        stmt = select(notes).where(notes.c.ticket_number == number).order_by(notes.c.id)
        return [from_row(Note, r) for r in self._rows(stmt)]

    def attachments(self, number: int) -> list[Attachment]:
        """The ticket's attachments (metadata only), in the order stored."""
        table = attachments
        stmt = select(table).where(table.c.ticket_number == number).order_by(table.c.id)
        return [from_row(Attachment, r) for r in self._rows(stmt)]

    def blob(self, sha256: str) -> bytes | None:
        """The stored content with this SHA-256 (hex), or None."""
        value = self._scalar(select(blobs.c.content).where(blobs.c.sha256 == sha256.lower()))
        return None if value is None else bytes(value)

    def ticket_and_distribution(self, number: int) -> tuple[Ticket | None, tuple[DistributionEntry, ...]]:
        """ticket(number) and distribution_list(number), read together."""
        rows = self._rows(_TICKET_AND_LIST, {"number": number})
        if not rows:
            return None, ()
        entries = tuple(DistributionEntry(address=r.list_address, user_id=r.list_user_id)
                        for r in rows if r.list_address is not None)
        return from_row(Ticket, rows[0]), entries

    def distribution_list(self, number: int) -> tuple[DistributionEntry, ...]:
        """Addresses (as first given) and user ids on the ticket's distribution list."""
        rows = self._rows(_DISTRIBUTION, {"number": number})
        return tuple(DistributionEntry(address=r.address, user_id=r.user_id) for r in rows)

    def ticket_by_message_id(self, message_id: str) -> int | None:
        """F-REF-1: the ticket a Message-ID belongs to, from mail we sent or notes we stored."""
        bare = bare_message_id(message_id)
        if bare is None:
            return None
        found = self._scalar(_SENT_ID, {"mid": bare})
        return found if found is not None else self._scalar(_NOTE_ID, {"mid": bare})

    def ticket_by_sent_message_id(self, message_id: str) -> int | None:
        """F-REF-9: the ticket of mail WE sent with this Message-ID (never a stored note's)."""
        bare = bare_message_id(message_id)
        return None if bare is None else self._scalar(_SENT_ID, {"mid": bare})


class TicketWrites(Session):
    """Write side: what apply does to tickets."""

    _stamped_tickets: set[int]  # tickets whose updated_at is this transaction's time (ConnectionSession)

    def _stamped(self, number: int) -> bool:
        """Note that the ticket's updated_at is now this transaction's time; True if it was already.

        A transaction writes everything at one time, so a note on a ticket the same
        transaction created or changed needs no second update (one statement per new ticket).
        """
        known = number in self._stamped_tickets
        self._stamped_tickets.add(number)
        return known

    def create_ticket(self, subject: str, *, number: int | None = None, **fields: Any) -> int:
        """Create a ticket (status open unless given) and return its number.

        The engine names the number it took (next_ticket_number) so the mail it
        rendered says the right one. Should the number be in use anyway (a ticket
        inserted with an explicit number past the sequence), TransientStoreError:
        evaluate the message again and retry.
        """
        _check_fields(fields)
        now = self.now()
        wanted = self.next_ticket_number() if number is None else number
        values = {"status": "open", "hidden": False, "hidden_from_portal": False, **fields}
        if values["status"] == "closed":  # closed at birth (a technician's #close), as set_ticket_fields does
            values["closed_at"] = now
        row = dict(number=wanted, subject=subject, created_at=now, updated_at=now, **values)
        if self._insert_new(tickets, row) is None:
            raise TransientStoreError(f"ticket number {wanted} was taken meanwhile; evaluate the message again")
        self._stamped(wanted)
        return wanted

    def set_custom_field(self, number: int, name: str, value: str) -> None:
        """Set one custom field of a ticket (F-TOK-1), replacing its earlier value."""
        here = (ticket_fields.c.ticket_number == number) & (ticket_fields.c.name == name)
        if self._exec(update(ticket_fields).where(here).values(value=value)).rowcount == 0:
            self._exec(insert(ticket_fields).values(ticket_number=number, name=name, value=value))

    def add_tags(self, number: int, tags) -> None:
        """Tag a ticket; a tag it has already stays once."""
        for tag in tags:
            self._insert_new(ticket_tags, dict(ticket_number=number, tag=tag))

    def set_ticket_fields(self, number: int, **fields: Any) -> None:
        """Change ticket fields; setting status closed/open also sets closed_at."""
        _check_fields(fields)
        values: dict[str, Any] = {**fields, "updated_at": self.now()}
        if fields.get("status") == "closed":
            values["closed_at"] = values["updated_at"]
        elif "status" in fields:
            values["closed_at"] = None
        result = self._exec(update(tickets).where(tickets.c.number == number).values(**values))
        if result.rowcount != 1:
            raise StoreError(f"ticket {number} does not exist")
        self._stamped(number)

    def close_ticket(self, number: int) -> None:
        """Close the ticket."""
        self.set_ticket_fields(number, status="closed")

    def reopen_ticket(self, number: int, **fields: Any) -> None:
        """Reopen the ticket, optionally reassigning it at the same time (F-REF-4)."""
        self.set_ticket_fields(number, status="open", **fields)

    def add_note(
        self,
        number: int,
        text: str,
        *,
        html: str | None = None,
        author_id: int | None = None,
        author_address: str | None = None,
        hidden_from_portal: bool = False,
        message_id: str | None = None,
    ) -> int:
        """Add a note (html must already be sanitised) and return its id."""
        now = self.now()
        values = dict(ticket_number=number, text=text, html=html, author_id=author_id,
                      author_address=author_address, hidden_from_portal=hidden_from_portal,
                      message_id=bare_message_id(message_id), created_at=now)
        note_id = self._insert(_INSERT_NOTE, values)
        if not self._stamped(number):  # a ticket this transaction created or changed has updated_at = now already
            self._exec(_TOUCH, {"b_number": number, "b_now": now})
        return note_id

    def add_distribution(self, number: int, address: str, user_id: int | None = None) -> bool:
        """Put an address on the ticket's distribution list; False if it was there."""
        values = dict(ticket_number=number, address=address.strip(), address_key=fold_address(address),
                      user_id=user_id, created_at=self.now())
        return self._insert_new(distribution, values) is not None

    def store_attachment(
        self,
        number: int,
        content: bytes,
        *,
        filename: str = "",
        content_type: str = "application/octet-stream",
        note_id: int | None = None,
        inline: bool = False,
        content_id: str | None = None,
        sha256: str | None = None,
    ) -> int:
        """Attach content to a ticket (or one of its notes); the bytes are kept once per SHA-256.

        `sha256` is the content's, when known already (the parser's for an attachment)."""
        digest = self.put_blob(content, sha256)
        values = dict(ticket_number=number, note_id=note_id, sha256=digest, filename=filename,
                      content_type=content_type, size=len(content), inline=inline,
                      content_id=bare_message_id(content_id), created_at=self.now())
        return self._add_attachment_row(values)

    def _add_attachment_row(self, values: dict[str, Any]) -> int:
        """Insert an attachment row and return its id (a batch defers it)."""
        return self._insert(_INSERT_ATTACHMENT, values)

    def put_blob(self, content: bytes, sha256: str | None = None) -> str:
        """Store content unless already there; return its SHA-256 (hex), given as `sha256` when known."""
        # Hashing a 60 KiB attachment again cost the poller ~0.2 ms: the parse worker did it already.
        digest = sha256 or hashlib.sha256(content).hexdigest()
        # One statement, not a look-up first: most attachments are new (a signature logo repeats,
        # and then its bytes travel once more for nothing, cheaper than a round trip per new one).
        row = dict(sha256=digest, size=len(content), content=content, created_at=self.now())
        self._add_blob_row(row)  # stored already, or by a racing writer: fine
        return digest

    def _add_blob_row(self, row: dict[str, Any]) -> None:
        """Insert a blob unless stored (a batch defers it)."""
        self._insert_new(blobs, row)
