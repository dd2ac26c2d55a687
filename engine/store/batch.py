"""A batch's state read once: what its evaluations will ask, fetched in a few IN-list queries, kept true by its writes.

Evaluating a mail asks the store ~6 questions (was its duplicate key claimed, how many
mails did its sender send within the loop window, which ticket did the same subject open
lately, which ticket a Message-ID belongs to, that ticket, how many auto-replies its sender
got) and on PostgreSQL each waited for the server. `BatchReads` asks them for the whole
batch before the first mail is evaluated and answers from that snapshot; every write the
batch makes updates it (read-your-writes), so mail N+1 sees mail N exactly as the database
would. A question the snapshot does not cover (another key, an older window, a mailbox it
was not read for) goes to the database, after the rows the batch holds for that table are
sent: answers never depend on how well the wants were guessed, only the number of statements
does. The rows no later statement reads back are held and written in bulk (BatchReads.flush).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import bindparam, func, insert, select

from engine.store import prepared
from engine.store.base import bare_message_id, bounded, fold_address, insert_ignoring_stmt
from engine.store.prepared import Prepared
from engine.store.records import DistributionEntry, DuplicateKey, Ticket, from_row
from engine.store.schema import (
    SafeText, attachments, blobs, distribution, message_keys, notes, outbox, outgoing_messages, processing_log,
    raw_mail, tickets, users,
)
from engine.store.directory_cache import USER_EMAIL
from engine.store.records import User

_SAFE = SafeText()
_CHUNK = 500  # values per IN list
log = processing_log
_ARRIVED = func.coalesce(log.c.arrived_at, log.c.created_at)
# Held rows, in the order they are sent (a blob before the attachments naming it); None: ON CONFLICT DO NOTHING.
_HELD = {"raw": None, "log": Prepared(insert(log)), "claims": Prepared(insert(message_keys)), "sent": None,
         "outbox": Prepared(insert(outbox)), "blobs": None, "attachments": Prepared(insert(attachments))}
_IGNORING = {"raw": raw_mail, "sent": outgoing_messages, "blobs": blobs}

# The reads ahead, built once (expanding IN lists: SQLAlchemy renders them per call).
_CLAIMS = select(message_keys).where(message_keys.c.message_key.in_(bindparam("keys", expanding=True)))
_LOGGED = (select(log.c.id, log.c.sender, _ARRIVED.label("arrived"), log.c.subject_key, log.c.outcome, log.c.ticket_number)
           .where(log.c.mailbox == bindparam("mailbox"), log.c.sender.in_(bindparam("senders", expanding=True)),
                  _ARRIVED >= bindparam("since")).order_by(log.c.id))
_AUTO_REPLIES = select(outbox.c.to_key, outbox.c.created_at).where(
    outbox.c.kind == "auto_reply", outbox.c.to_key.in_(bindparam("to", expanding=True)),
    outbox.c.created_at >= bindparam("since"))
_SENT = select(outgoing_messages.c.message_id, outgoing_messages.c.ticket_number).where(
    outgoing_messages.c.message_id.in_(bindparam("ids", expanding=True)))
_NOTED = (select(notes.c.message_id, notes.c.ticket_number).where(notes.c.message_id.in_(bindparam("ids", expanding=True)))
          .order_by(notes.c.id))
_TICKETS = (select(tickets, distribution.c.address.label("list_address"), distribution.c.user_id.label("list_user_id"))
            .select_from(tickets.outerjoin(distribution, distribution.c.ticket_number == tickets.c.number))
            .where(tickets.c.number.in_(bindparam("numbers", expanding=True))).order_by(tickets.c.number, distribution.c.id))
_USERS = select(users).where(users.c.email_key.in_(bindparam("keys", expanding=True))).order_by(users.c.id)
_DEFERRED_ID = 1 << 62  # a held row's id until the database gives it one: above every id a table holds


def _safe(value: str | None) -> str | None:
    """A value as the database compares it (SafeText's NUL and surrogate repair)."""
    return _SAFE.process_bind_param(value, None)


@dataclass(frozen=True)
class BatchWants:
    """What a batch's mails will ask; computed by the poller with evaluate's own functions."""

    mailbox: str
    duplicate_keys: tuple[str, ...] = ()
    senders: tuple[str, ...] = ()  # addresses the loop count, bundling and auto-replies ask about
    log_since: datetime | None = None  # arrival floor of the senders' log rows (largest window, earliest mail)
    outbox_since: datetime | None = None  # floor of the auto-replies sent to the senders
    message_ids: tuple[str, ...] = ()  # In-Reply-To, References, a bounce's original Message-ID
    addresses: tuple[str, ...] = ()  # users looked up by address (senders, CCs)


@dataclass
class _Logged:
    """A processing-log row as the loop count and auto-bundling read it."""

    id: int
    arrived: datetime
    subject_key: str | None
    outcome: str
    ticket_number: int | None


@dataclass
class Snapshot:
    """The batch's answers; a key outside a `covered` set is not known here."""

    mailbox: str
    claims: dict[str, DuplicateKey | None] = field(default_factory=dict)  # by bounded key: all covered
    log_since: datetime | None = None
    logged: dict[str, list[_Logged]] = field(default_factory=dict)  # by folded sender: all covered
    outbox_since: datetime | None = None
    auto_replies: dict[str, list[datetime]] = field(default_factory=dict)  # by folded address
    message_ids: set[str] = field(default_factory=set)  # bare ids covered
    sent: dict[str, int] = field(default_factory=dict)
    noted: dict[str, int] = field(default_factory=dict)
    tickets: dict[int, tuple[Ticket, tuple[DistributionEntry, ...]]] = field(default_factory=dict)


def _chunks(values: Iterable[Any]) -> Iterable[list[Any]]:
    values = list(dict.fromkeys(v for v in values if v is not None))
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def read_snapshot(session, wants: BatchWants, directory) -> Snapshot:
    """The few IN-list queries, in the batch's transaction."""
    snap = Snapshot(wants.mailbox)
    _read_claims(session, snap, wants)
    _read_log(session, snap, wants)
    _read_auto_replies(session, snap, wants)
    _read_message_ids(session, snap, wants)
    numbers = [*snap.sent.values(), *snap.noted.values(),
               *(row.ticket_number for rows in snap.logged.values() for row in rows if row.outcome == "create_ticket")]
    _read_tickets(session, snap, numbers)
    if directory is not None:
        _read_users(session, directory, wants.addresses)
    return snap


def _read_claims(session, snap: Snapshot, wants: BatchWants) -> None:
    keys = [_safe(bounded(key)) for key in wants.duplicate_keys]
    snap.claims = dict.fromkeys(keys)
    for chunk in _chunks(keys):
        for row in session._rows(_CLAIMS, {"keys": chunk}):
            snap.claims[row.message_key] = from_row(DuplicateKey, row)


def _read_log(session, snap: Snapshot, wants: BatchWants) -> None:
    if wants.log_since is None:
        return
    senders = [_safe(fold_address(address)) for address in wants.senders]
    snap.log_since, snap.logged = wants.log_since, {sender: [] for sender in senders}
    for chunk in _chunks(senders):
        for row in session._rows(_LOGGED, {"mailbox": wants.mailbox, "senders": chunk, "since": wants.log_since}):
            snap.logged[row.sender].append(_Logged(row.id, row.arrived, row.subject_key, row.outcome, row.ticket_number))


def _read_auto_replies(session, snap: Snapshot, wants: BatchWants) -> None:
    if wants.outbox_since is None:
        return
    addresses = [_safe(fold_address(address)) for address in wants.senders]
    snap.outbox_since, snap.auto_replies = wants.outbox_since, {address: [] for address in addresses}
    for chunk in _chunks(addresses):
        for row in session._rows(_AUTO_REPLIES, {"to": chunk, "since": wants.outbox_since}):
            snap.auto_replies[row.to_key].append(row.created_at)


def _read_message_ids(session, snap: Snapshot, wants: BatchWants) -> None:
    bare = [_safe(bare_message_id(mid)) for mid in wants.message_ids]
    snap.message_ids = {mid for mid in bare if mid is not None}
    for chunk in _chunks(snap.message_ids):
        for row in session._rows(_SENT, {"ids": chunk}):
            snap.sent[row.message_id] = row.ticket_number
        for row in session._rows(_NOTED, {"ids": chunk}):
            snap.noted.setdefault(row.message_id, row.ticket_number)  # the first note's, as _NOTE_ID


def _read_tickets(session, snap: Snapshot, numbers: Iterable[int | None]) -> None:
    for chunk in _chunks(numbers):
        rows: dict[int, list[Any]] = defaultdict(list)
        for row in session._rows(_TICKETS, {"numbers": chunk}):
            rows[row.number].append(row)
        for number, found in rows.items():
            entries = tuple(DistributionEntry(address=r.list_address, user_id=r.list_user_id)
                            for r in found if r.list_address is not None)
            snap.tickets[number] = (from_row(Ticket, found[0]), entries)


def _read_users(session, directory, addresses: Iterable[str]) -> None:
    """Users by address into the poll's directory cache (the lowest id per address, F-USR-1); misses too."""
    keys = {fold_address(address): _safe(fold_address(address)) for address in addresses if address}
    wanted = [key for key in keys if not directory.knows(USER_EMAIL, key)]
    found: dict[str, User] = {}
    for chunk in _chunks(keys[key] for key in wanted):
        for row in session._rows(_USERS, {"keys": chunk}):
            found.setdefault(row.email_key, from_row(User, row))
    for key in wanted:
        directory.put(USER_EMAIL, key, found.get(keys[key]))


class BatchReads:
    """Mixed into a write transaction (store.BatchTx): evaluate's questions from the snapshot, writes kept in it.

    Rows no later statement of the batch reads back from the database (processing-log rows,
    duplicate-key claims, outbox rows and the Message-IDs of mail we queued, blobs and attachment
    rows, kept raw mail) are held and sent per table in one `executemany` by flush(), before the commit. A
    unique key taken meanwhile (another poller) fails the flush with IntegrityError; the poller
    then applies the batch again the careful way. A read the snapshot cannot answer flushes what
    its table holds first, so the database sees it.
    """

    _snapshot: Snapshot | None = None

    def read_ahead(self, wants: BatchWants) -> None:
        """Read what the batch will ask, in this transaction (before its first mail)."""
        self._snapshot = read_snapshot(self, wants, self._directory)
        self._held: dict[str, list[dict[str, Any]]] = {name: [] for name in _HELD}
        self._held_claims: dict[str, dict[str, Any]] = {}  # by bounded key: set_message_key_ticket fills in
        self._held_keys: dict[str, set[str]] = {"outbox": set(), "blobs": set(), "raw": set()}  # unique keys held
        self._deferred_ids = _DEFERRED_ID

    def flush(self, table: str | None = None) -> None:
        """Send the held rows (of one table, or all), one statement per table."""
        held = getattr(self, "_held", None)
        if held is None:
            return
        for name in (table,) if table else _HELD:  # the tickets and notes they name are in already
            rows, held[name] = held[name], []
            if name == "claims":
                self._held_claims.clear()
            self._held_keys.get(name, set()).clear()
            if rows:
                stmt = _HELD[name] or insert_ignoring_stmt(self._dialect(), _IGNORING[name])
                prepared.run_many(self._conn, stmt, rows)

    def _deferred_id(self) -> int:
        self._deferred_ids += 1
        return self._deferred_ids

    def savepoint(self):
        """From a savepoint on, the database answers and takes every write: its rollback must undo them all."""
        self.flush()
        self._snapshot = None
        return super().savepoint()

    # --- deferred writes (LogWrites' hooks) ----------------------------------------------------------------------

    def _add_log_row(self, row: dict[str, Any]) -> int | None:
        if self._snapshot is None:
            return super()._add_log_row(row)
        self._held["log"].append(row)
        return self._deferred_id()

    def _add_outbox_row(self, values: dict[str, Any]) -> int | None:
        if self._snapshot is None:
            return super()._add_outbox_row(values)
        if values["message_id"] in self._held_keys["outbox"]:
            return None  # queued already in this batch, as ON CONFLICT would say (one in the database fails the flush)
        self._held_keys["outbox"].add(values["message_id"])
        self._held["outbox"].append(values)
        return self._deferred_id()

    def _add_blob_row(self, row: dict[str, Any]) -> None:
        if self._snapshot is None:
            return super()._add_blob_row(row)
        if row["sha256"] not in self._held_keys["blobs"]:
            self._held_keys["blobs"].add(row["sha256"])
            self._held["blobs"].append(row)

    def _add_raw_row(self, row: dict[str, Any]) -> None:
        if self._snapshot is None:
            return super()._add_raw_row(row)
        if row["sha256"] not in self._held_keys["raw"]:  # the same mail twice in a batch is kept once
            self._held_keys["raw"].add(row["sha256"])
            self._held["raw"].append(row)

    def _add_attachment_row(self, values: dict[str, Any]) -> int:
        if self._snapshot is None:
            return super()._add_attachment_row(values)
        self._held["attachments"].append(values)
        return self._deferred_id()

    def _add_claim(self, values: dict[str, Any]) -> bool:
        snap, key = self._snapshot, _safe(values["message_key"])
        if snap is None or key not in snap.claims:
            return super()._add_claim(values)
        if snap.claims[key] is not None:
            return False  # claimed before, or earlier in this batch
        self._held["claims"].append(values)
        self._held_claims[key] = values
        return True

    # --- reads ---------------------------------------------------------------------------------------------

    def duplicate_key_seen(self, message_key: str) -> DuplicateKey | None:
        snap, key = self._snapshot, _safe(bounded(message_key))
        if snap is not None and key in snap.claims:
            return snap.claims[key]
        self.flush("claims")
        return super().duplicate_key_seen(message_key)

    def _logged(self, mailbox: str, address: str, since: datetime) -> list[_Logged] | None:
        snap = self._snapshot
        if snap is None or snap.log_since is None or mailbox != snap.mailbox or since < snap.log_since:
            return None
        return snap.logged.get(_safe(fold_address(address)))

    def sender_message_count(self, mailbox: str, address: str, since: datetime, until: datetime | None = None) -> int:
        rows = self._logged(mailbox, address, since)
        if rows is None:
            self.flush("log")
            return super().sender_message_count(mailbox, address, since, until)
        until = until or self.now()
        return sum(1 for row in rows if since <= row.arrived <= until)

    def recent_ticket_by_sender_subject(self, mailbox: str, address: str, subject_key: str, since: datetime,
                                        until: datetime | None = None) -> int | None:
        rows = self._logged(mailbox, address, since)
        if rows is None:
            self.flush("log")
            return super().recent_ticket_by_sender_subject(mailbox, address, subject_key, since, until)
        until, subject_key = until or self.now(), _safe(subject_key)
        found = [row for row in rows if row.outcome == "create_ticket" and row.ticket_number is not None
                 and row.subject_key == subject_key and since <= row.arrived <= until]
        return max(found, key=lambda row: (row.arrived, row.id)).ticket_number if found else None

    def auto_replies_sent(self, address: str, since: datetime) -> int:
        snap = self._snapshot
        sent = snap.auto_replies.get(_safe(fold_address(address))) if snap is not None else None
        if sent is None or snap.outbox_since is None or since < snap.outbox_since:
            self.flush("outbox")
            return super().auto_replies_sent(address, since)
        return sum(1 for when in sent if when >= since)

    def ticket_by_message_id(self, message_id: str) -> int | None:
        snap, bare = self._snapshot, _safe(bare_message_id(message_id))
        if snap is None or bare not in snap.message_ids:
            self.flush("sent")
            return super().ticket_by_message_id(message_id)
        found = snap.sent.get(bare)
        return found if found is not None else snap.noted.get(bare)

    def ticket_by_sent_message_id(self, message_id: str) -> int | None:
        snap, bare = self._snapshot, _safe(bare_message_id(message_id))
        if snap is None or bare not in snap.message_ids:
            self.flush("sent")
            return super().ticket_by_sent_message_id(message_id)
        return snap.sent.get(bare)

    def logged_since(self, reason: str, address: str, since: datetime) -> int:
        self.flush("log")  # flood control's count, any mailbox: the database's, with this batch's rows in it
        return super().logged_since(reason, address, since)

    def last_notice(self, kind: str, cause: str, about: str):
        self.flush("outbox")
        return super().last_notice(kind, cause, about)

    def processed(self, mailbox: str, message_key: str):
        self.flush("log")
        return super().processed(mailbox, message_key)

    def raw_mail(self, sha256: str):
        self.flush("raw")
        return super().raw_mail(sha256)

    def ticket_and_distribution(self, number: int):
        snap = self._snapshot
        if snap is not None and number in snap.tickets:
            return snap.tickets[number]
        return super().ticket_and_distribution(number)

    # --- writes keep the snapshot true -----------------------------------------------------------------------

    def claim_message_key(self, message_key: str, mailbox: str, ticket_number: int | None = None, *,
                          source_key: str | None = None, outcome: str | None = None, reason: str | None = None) -> bool:
        snap, key = self._snapshot, _safe(bounded(message_key))
        covered = snap is not None and key in snap.claims
        before = snap.claims[key] if covered else None
        claimed = super().claim_message_key(message_key, mailbox, ticket_number, source_key=source_key,
                                            outcome=outcome, reason=reason)
        if covered:
            if claimed:
                snap.claims[key] = DuplicateKey(
                    message_key=key, mailbox=_safe(mailbox), ticket_number=ticket_number, created_at=self.now(),
                    source_key=_safe(bounded(source_key)) if source_key else None, outcome=outcome, reason=_safe(reason))
            elif before is None:  # claimed by someone the snapshot did not see: the database answers
                del snap.claims[key]
        return claimed

    def set_message_key_ticket(self, message_key: str, ticket_number: int) -> None:
        snap, key = self._snapshot, _safe(bounded(message_key))
        held = self._held_claims.get(key) if snap is not None else None
        if held is not None:
            held["ticket_number"] = ticket_number  # the claim goes in with its ticket: no UPDATE
        else:
            super().set_message_key_ticket(message_key, ticket_number)
        if snap is not None and snap.claims.get(key) is not None:
            snap.claims[key] = replace(snap.claims[key], ticket_number=ticket_number)

    def log_processing(self, mailbox: str, message_key: str, outcome: str, reason: str = "", trace: Any = (), *,
                       ticket_number: int | None = None, sender: str | None = None, subject_key: str | None = None,
                       arrived_at: datetime | None = None, **more: Any) -> int:
        new_id = super().log_processing(mailbox, message_key, outcome, reason, trace, ticket_number=ticket_number,
                                        sender=sender, subject_key=subject_key, arrived_at=arrived_at, **more)
        snap = self._snapshot
        rows = snap.logged.get(_safe(fold_address(sender))) if snap is not None and mailbox == snap.mailbox else None
        if rows is not None:
            rows[:] = [row for row in rows if row.id != new_id]  # a replayed row is written anew
            rows.append(_Logged(new_id, arrived_at or self.now(), _safe(subject_key), outcome, ticket_number))
        return new_id

    def enqueue_outbox(self, to_addr: str, headers, body: str, message_id: str, *, kind: str = "notice",
                       **more: Any) -> int | None:
        queued = super().enqueue_outbox(to_addr, headers, body, message_id, kind=kind, **more)
        snap = self._snapshot
        if queued is not None and kind == "auto_reply" and snap is not None:
            sent = snap.auto_replies.get(_safe(fold_address(to_addr)))
            if sent is not None:
                sent.append(self.now())
        return queued

    def record_outgoing_message_id(self, message_id: str, ticket_number: int) -> None:
        snap = self._snapshot
        if snap is None:
            return super().record_outgoing_message_id(message_id, ticket_number)
        bare = bare_message_id(message_id)
        self._held["sent"].append(dict(message_id=bare, ticket_number=ticket_number, created_at=self.now()))
        if _safe(bare) in snap.message_ids:
            snap.sent.setdefault(_safe(bare), ticket_number)  # ON CONFLICT DO NOTHING: the first stays

    def add_note(self, number: int, text: str, *, message_id: str | None = None, **more: Any) -> int:
        note_id = super().add_note(number, text, message_id=message_id, **more)
        snap, bare = self._snapshot, _safe(bare_message_id(message_id))
        if snap is not None:
            snap.tickets.pop(number, None)  # updated: the database answers for it
            if bare in snap.message_ids:
                snap.noted.setdefault(bare, number)
        return note_id

    def set_ticket_fields(self, number: int, **fields: Any) -> None:
        super().set_ticket_fields(number, **fields)
        if self._snapshot is not None:
            self._snapshot.tickets.pop(number, None)

    def add_distribution(self, number: int, address: str, user_id: int | None = None) -> bool:
        added = super().add_distribution(number, address, user_id)
        if self._snapshot is not None:
            self._snapshot.tickets.pop(number, None)
        return added
