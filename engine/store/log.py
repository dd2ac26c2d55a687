"""The per-message processing log, the cross-mailbox duplicate keys and the quarantine."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator, Sequence

from sqlalchemy import bindparam, delete, func, insert, select, update

from engine.packed import Packed, packed_for, unpack
from engine.store.base import Session, bare_message_id, bounded, fold_address
from engine.store.prepared import Prepared
from engine.errors import DuplicateMessage
from engine.store.records import DuplicateKey, LogEntry, QuarantineItem, RawMail, from_row
from engine.store.schema import SUBJECT_CHARS, message_keys, processing_log, quarantine, raw_mail

log = processing_log
_HERE = (log.c.mailbox == bindparam("mailbox")) & (log.c.message_key == bindparam("key"))
_PROCESSED = Prepared(select(log).where(_HERE))
_LOGGED = select(log.c.message_key).where(log.c.mailbox == bindparam("mailbox"),
                                          log.c.message_key.in_(bindparam("keys", expanding=True)))
_KEY_SEEN = Prepared(select(message_keys).where(message_keys.c.message_key == bindparam("key")))
_KEY_TICKET = Prepared(update(message_keys).where(message_keys.c.message_key == bindparam("b_key"))
                       .values(ticket_number=bindparam("b_ticket")))
# By arrival (F-PRE-5): rows logged before arrival times were kept count by when they were processed.
_ARRIVED = func.coalesce(log.c.arrived_at, log.c.created_at)
_SENDER_COUNT = Prepared(select(func.count()).select_from(log).where(
    log.c.mailbox == bindparam("mailbox"), log.c.sender == bindparam("sender"), _ARRIVED >= bindparam("since"),
    _ARRIVED <= bindparam("until")))
_REASON_COUNT = Prepared(select(func.count()).select_from(log).where(
    log.c.reason == bindparam("reason"), log.c.sender == bindparam("sender"), log.c.created_at > bindparam("since")))
_BUNDLE = Prepared(
    select(log.c.ticket_number)
    .where(log.c.mailbox == bindparam("mailbox"), log.c.sender == bindparam("sender"),
           log.c.subject_key == bindparam("subject"), log.c.outcome == "create_ticket",
           log.c.ticket_number.is_not(None), _ARRIVED >= bindparam("since"), _ARRIVED <= bindparam("until"))
    .order_by(_ARRIVED.desc(), log.c.id.desc())
    .limit(1)
)


# One statement for every batch (an expanding IN list): building it anew with each batch's keys as
# literals cost ~1.5 % of a poll in SQLAlchemy's coercions.
_AFTER_ACTION = (update(log).where(log.c.mailbox == bindparam("b_mailbox"),
                                   log.c.message_key.in_(bindparam("b_keys", expanding=True)))
                 .values(after_action=bindparam("b_action")))
_SCAN_CHUNK = 500  # log rows read per query while a search filters in Python


# A trace step as apply writes it; stored as a JSON array of the values, not an object naming each key
# again: a third fewer bytes per log row (a trace has ~30 steps). Rows written before are objects.
_STEP = ("stage", "rule", "hit", "detail", "origin")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def encode_trace(trace: Any) -> str:
    """The trace as the log row keeps it."""
    return _json([list(step.values()) if type(step) is dict and tuple(step) == _STEP else step for step in trace])


def decode_trace(text: str) -> list:
    """The trace of a log row, each step a dict as apply gave it, whichever form the row has."""
    return [dict(zip(_STEP, step)) if type(step) is list else step for step in json.loads(text)]


def _entry(row: Any) -> LogEntry:
    mapping = row._mapping
    trace = decode_trace(mapping["trace"]) if "trace" in mapping else None
    summary = json.loads(row.summary) if row.summary else None
    return from_row(LogEntry, row, trace=trace, summary=summary)


@dataclass(frozen=True)
class LogFilter:
    """What `mailgate log` may ask for; None means any. Text filters are case-insensitive substrings."""

    mailbox: str | None = None
    outcome: str | None = None
    reason: str | None = None
    ticket: int | None = None
    message_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    sender: str | None = None
    recipient: str | None = None
    subject: str | None = None

    def where(self) -> list[Any]:
        """The exact conditions, for SQL."""
        equal = {"mailbox": self.mailbox, "outcome": self.outcome, "reason": self.reason,
                 "ticket_number": self.ticket,
                 "message_id": bare_message_id(self.message_id) if self.message_id else None}
        found = [log.c[name] == value for name, value in equal.items() if value is not None]
        if self.since is not None:
            found.append(log.c.created_at >= self.since)
        if self.until is not None:
            found.append(log.c.created_at < self.until)
        return found

    def matches(self, entry: LogEntry) -> bool:
        """The substring conditions. Python's casefold, not SQL's lower(), so that
        SQLite (ASCII only) and PostgreSQL (per collation) answer alike."""
        return all(_contains(text, wanted) for wanted, text in
                   ((self.sender, entry.sender), (self.recipient, entry.recipients), (self.subject, entry.subject)))


def _contains(text: str | None, wanted: str | None) -> bool:
    return wanted is None or (text is not None and wanted.casefold() in text.casefold())


def cut_subject(subject: str | None) -> str | None:
    """A subject as the log keeps it."""
    return None if subject is None else subject[:SUBJECT_CHARS]


def _quarantine_columns(with_raw: bool) -> list[Any]:
    columns = [c for c in quarantine.c if c.name != "raw"]
    columns.append(func.length(quarantine.c.raw).label("size"))
    if with_raw:
        columns.append(quarantine.c.raw)
    return columns


class LogReads(Session):
    """Read side: what was done with which message, and loop/bundle counts."""

    def processed(self, mailbox: str, message_key: str) -> LogEntry | None:
        """The log entry of this message in this mailbox, or None if never processed."""
        rows = self._rows(_PROCESSED, {"mailbox": mailbox, "key": bounded(message_key)})
        return _entry(rows[0]) if rows else None

    def logged_keys(self, mailbox: str, message_keys: list[str]) -> set[str]:
        """Those of `message_keys` this mailbox logged already, in one query."""
        by_stored = {bounded(key): key for key in message_keys}
        if not by_stored:
            return set()
        rows = self._rows(_LOGGED, {"mailbox": mailbox, "keys": list(by_stored)})
        return {by_stored[row[0]] for row in rows}

    def duplicate_key_seen(self, message_key: str) -> DuplicateKey | None:
        """F-PRE-6: the first claim of this key by any mailbox, or None."""
        rows = self._rows(_KEY_SEEN, {"key": bounded(message_key)})
        return from_row(DuplicateKey, rows[0]) if rows else None

    def sender_message_count(self, mailbox: str, address: str, since: datetime, until: datetime | None = None) -> int:
        """F-PRE-5: messages logged from this sender to this mailbox that ARRIVED between `since`
        and `until` (default: now), whenever they were processed."""
        params = {"mailbox": mailbox, "sender": fold_address(address), "since": since, "until": until or self.now()}
        return int(self._scalar(_SENDER_COUNT, params) or 0)

    def logged_since(self, reason: str, address: str, since: datetime) -> int:
        """Mails from `address` logged with `reason` (any mailbox) after `since`: what a notice
        held back by flood control counts into the next one."""
        return int(self._scalar(_REASON_COUNT, {"reason": reason, "sender": fold_address(address), "since": since}) or 0)

    def recent_ticket_by_sender_subject(
        self, mailbox: str, address: str, subject_key: str, since: datetime, until: datetime | None = None
    ) -> int | None:
        """F-REF-7: the newest ticket this sender opened in this mailbox with this subject by mail
        that ARRIVED between `since` and `until` (default: now), whenever it was processed."""
        params = {"mailbox": mailbox, "sender": fold_address(address), "subject": subject_key, "since": since,
                  "until": until or self.now()}
        return self._scalar(_BUNDLE, params)

    def processing_log(
        self, *, mailbox: str | None = None, outcome: str | None = None, limit: int = 100
    ) -> list[LogEntry]:
        """Log entries, newest first, optionally filtered (`mailgate log`)."""
        stmt = select(log).order_by(log.c.id.desc()).limit(limit)
        if mailbox is not None:
            stmt = stmt.where(log.c.mailbox == mailbox)
        if outcome is not None:
            stmt = stmt.where(log.c.outcome == outcome)
        return [_entry(r) for r in self._rows(stmt)]

    def search_log(self, wanted: LogFilter, limit: int = 50, *, with_trace: bool = False) -> list[LogEntry]:
        """The newest `limit` entries matching `wanted`, newest first (`mailgate log`)."""
        found: list[LogEntry] = []
        for entry in self._scan_log(wanted, with_trace):
            if wanted.matches(entry):
                found.append(entry)
                if len(found) >= limit:
                    break
        return found

    def _scan_log(self, wanted: LogFilter, with_trace: bool) -> Iterator[LogEntry]:
        columns = [c for c in log.c if with_trace or c.name != "trace"]
        stmt = select(*columns).where(*wanted.where()).order_by(log.c.id.desc()).limit(_SCAN_CHUNK)
        below = None
        while True:
            rows = self._rows(stmt if below is None else stmt.where(log.c.id < below))
            yield from (_entry(r) for r in rows)
            if len(rows) < _SCAN_CHUNK:
                return
            below = rows[-1].id

    def log_entries(self, key_or_message_id: str, mailbox: str | None = None) -> list[LogEntry]:
        """Entries whose message key or Message-ID is this, oldest first (`log show`, `explain`)."""
        bare = bare_message_id(key_or_message_id)
        match = (log.c.message_key == bounded(key_or_message_id)) | (log.c.message_id == bare)
        stmt = select(log).where(match).order_by(log.c.id)
        if mailbox is not None:
            stmt = stmt.where(log.c.mailbox == mailbox)
        return [_entry(r) for r in self._rows(stmt)]

    def log_entry(self, entry_id: int) -> LogEntry | None:
        """One entry by its id."""
        rows = self._rows(select(log).where(log.c.id == entry_id))
        return _entry(rows[0]) if rows else None

    def first_delivery(self, duplicate_key: str) -> LogEntry | None:
        """F-PRE-6: the entry of the first copy of the mail with this duplicate key (whatever it became)."""
        claim = self.duplicate_key_seen(duplicate_key)
        if claim is None:
            return None
        stmt = (select(log).where(log.c.duplicate_key == bounded(duplicate_key), log.c.mailbox == claim.mailbox,
                                  log.c.outcome.in_(("create_ticket", "add_note", "bundle")))
                .order_by(log.c.id).limit(1))
        rows = self._rows(stmt)
        return _entry(rows[0]) if rows else None

    def log_counts(self, since: datetime) -> dict[tuple[str, str], int]:
        """Messages logged since `since`, by (mailbox, outcome)."""
        stmt = (select(log.c.mailbox, log.c.outcome, func.count()).where(log.c.created_at >= since)
                .group_by(log.c.mailbox, log.c.outcome))
        return {(mailbox, outcome): int(n) for mailbox, outcome, n in self._rows(stmt)}

    def raw_mail(self, sha256: str) -> RawMail | None:
        """Kept raw mail by its SHA-256 (hex), or None once pruned."""
        rows = self._rows(select(raw_mail).where(raw_mail.c.sha256 == sha256))
        return from_row(RawMail, rows[0], content=unpack(bytes(rows[0].content), rows[0].codec)) if rows else None

    def quarantine_count(self) -> int:
        """Quarantined messages not yet replayed."""
        stmt = select(func.count()).select_from(quarantine).where(quarantine.c.replayed_at.is_(None))
        return int(self._scalar(stmt) or 0)

    def quarantined(self, *, mailbox: str | None = None, include_replayed: bool = False) -> list[QuarantineItem]:
        """Quarantined messages without their bytes, oldest first."""
        stmt = select(*_quarantine_columns(False)).order_by(quarantine.c.id)
        if mailbox is not None:
            stmt = stmt.where(quarantine.c.mailbox == mailbox)
        if not include_replayed:
            stmt = stmt.where(quarantine.c.replayed_at.is_(None))
        return [from_row(QuarantineItem, r) for r in self._rows(stmt)]

    def quarantine_item(self, item_id: int | None = None, *, mailbox: str | None = None,
                        message_key: str | None = None) -> QuarantineItem | None:
        """One quarantined message, by id or by mailbox and key, with its raw bytes exactly as fetched (F-FAIL-1)."""
        if item_id is not None:
            where = quarantine.c.id == item_id
        else:
            where = (quarantine.c.mailbox == mailbox) & (quarantine.c.message_key == bounded(message_key or ""))
        stmt = select(*_quarantine_columns(True)).where(where)
        rows = self._rows(stmt)
        return from_row(QuarantineItem, rows[0], raw=bytes(rows[0].raw)) if rows else None


def _recipients(addresses: Sequence[str]) -> str | None:
    folded = [fold_address(a) for a in addresses if a]
    return ", ".join(dict.fromkeys(folded)) if folded else None


class LogWrites(Session):
    """Write side: logging outcomes, claiming keys, quarantining."""

    def log_processing(
        self,
        mailbox: str,
        message_key: str,
        outcome: str,
        reason: str = "",
        trace: Any = (),
        *,
        ticket_number: int | None = None,
        note_id: int | None = None,
        sender: str | None = None,
        subject_key: str | None = None,
        message_id: str | None = None,
        arrived_at: datetime | None = None,
        subject: str | None = None,
        recipients: Sequence[str] = (),
        duplicate_key: str | None = None,
        raw_sha256: str | None = None,
        summary: Any = None,
    ) -> int:
        """Record what became of a message and return the log id.

        Raises DuplicateMessage when (mailbox, message_key) is already logged,
        which rolls back the caller's whole transaction: the database's unique
        key decides, so two pollers racing on one message cannot both win.
        A message logged as `quarantine` may be logged again (replay, F-FAIL-2).
        """
        now, message_key = self.now(), bounded(message_key)
        values = dict(outcome=outcome, reason=reason, trace=encode_trace(trace),
                      ticket_number=ticket_number, note_id=note_id, sender=fold_address(sender),
                      subject_key=subject_key, message_id=bare_message_id(message_id), arrived_at=arrived_at,
                      updated_at=now, subject=cut_subject(subject), recipients=_recipients(recipients),
                      duplicate_key=bounded(duplicate_key) if duplicate_key else None, raw_sha256=raw_sha256,
                      summary=_json(summary) if summary is not None else None)
        new_id = self._add_log_row(dict(mailbox=mailbox, message_key=message_key, created_at=now, **values))
        if new_id is not None:
            return new_id
        here = (log.c.mailbox == mailbox) & (log.c.message_key == message_key)
        replay = update(log).where(here & (log.c.outcome == "quarantine")).values(**values)
        if self._exec(replay).rowcount != 1:
            raise DuplicateMessage(mailbox, message_key)
        return self._scalar(select(log.c.id).where(here))

    def _add_log_row(self, row: dict[str, Any]) -> int | None:
        """Insert a log row unless (mailbox, message_key) is logged; its id, or None (a batch defers it)."""
        return self._insert_new(log, row, "id")

    def keep_raw_mail(self, raw: bytes, size: int | None = None, packed: Packed | None = None) -> str:
        """Keep a processed mail's bytes (once per content, compressed) for `mailgate explain`; return its SHA-256.

        `size` is the whole mail's size when `raw` is only its header (F-PRE-7). `packed` is
        `raw` hashed and compressed already (by the parse worker): then this only inserts it.
        """
        packed = packed_for(raw, packed)
        self._add_raw_row(dict(sha256=packed.sha256, size=max(size or 0, len(raw)), content=packed.content,
                               codec=packed.codec, created_at=self.now()))
        return packed.sha256

    def _add_raw_row(self, row: dict[str, Any]) -> None:
        """Insert kept raw mail unless stored (a batch defers it)."""
        self._insert_new(raw_mail, row)

    def prune_raw_mail(self, before: datetime) -> int:
        """Forget raw mail kept before `before`; return how many went."""
        return self._exec(delete(raw_mail).where(raw_mail.c.created_at < before)).rowcount

    def set_after_action(self, mailbox: str, message_keys_done: Sequence[str], action: str) -> None:
        """Record what the source did with these messages after their commit (F-MB-9)."""
        keys = [bounded(k) for k in message_keys_done]
        if keys:
            self._exec(_AFTER_ACTION, {"b_mailbox": mailbox, "b_keys": keys, "b_action": action})

    def claim_message_key(self, message_key: str, mailbox: str, ticket_number: int | None = None, *,
                          source_key: str | None = None, outcome: str | None = None, reason: str | None = None) -> bool:
        """F-PRE-6 across mailboxes: True if this mail is new everywhere, False if claimed already.

        Every outcome claims its key, so a second copy of a rejected, ignored or quarantined
        mail is a duplicate too. On False the caller treats the mail as a duplicate.
        """
        values = dict(message_key=bounded(message_key), mailbox=mailbox, ticket_number=ticket_number,
                      source_key=bounded(source_key) if source_key else None, outcome=outcome, reason=reason,
                      created_at=self.now())
        return self._add_claim(values)

    def _add_claim(self, values: dict[str, Any]) -> bool:
        """Insert a claim unless the key is claimed; whether it went in (a batch defers it)."""
        return self._insert_new(message_keys, values) is not None

    def release_for_replay(self, mailbox: str, message_key: str) -> datetime | None:
        """Forget what this copy's first processing logged and claimed, so `mailgate replay`
        processes it as new (F-FAIL-2); returns when it arrived. Call it in the replay's
        transaction: if the replay fails, both come back."""
        message_key = bounded(message_key)
        here = (log.c.mailbox == mailbox) & (log.c.message_key == message_key)
        rows = self._rows(select(log.c.arrived_at).where(here))
        self._exec(delete(log).where(here))
        mine = (message_keys.c.mailbox == mailbox) & (message_keys.c.source_key == message_key)
        self._exec(delete(message_keys).where(mine & message_keys.c.ticket_number.is_(None)))
        return rows[0].arrived_at if rows else None

    def set_message_key_ticket(self, message_key: str, ticket_number: int) -> None:
        """Record which ticket the first delivery of a mail produced."""
        self._exec(_KEY_TICKET, {"b_key": bounded(message_key), "b_ticket": ticket_number})

    def quarantine(self, mailbox: str, message_key: str, raw: bytes, error: str) -> int:
        """Keep a message that could not be processed, byte for byte (F-FAIL-1); return its id.

        Quarantining the same message again (a replay that failed) refreshes
        the error and makes it pending again.
        """
        message_key = bounded(message_key)
        here = (quarantine.c.mailbox == mailbox) & (quarantine.c.message_key == message_key)
        existing = self._scalar(select(quarantine.c.id).where(here))
        if existing is not None:
            self._exec(update(quarantine).where(here).values(raw=raw, error=error, replayed_at=None))
            return existing
        values = dict(mailbox=mailbox, message_key=message_key, raw=raw, error=error, created_at=self.now())
        return self._insert(insert(quarantine).values(**values))

    def mark_replayed(self, item_id: int) -> None:
        """Note that a quarantined message was processed again successfully."""
        stmt = update(quarantine).where(quarantine.c.id == item_id).values(replayed_at=self.now())
        self._exec(stmt)
