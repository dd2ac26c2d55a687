"""apply(decision): the one place with side effects — a single store transaction per message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.decision import Decision, Outcome, OutgoingMail
from engine.errors import StoreError
from engine.message import Message

WITH_CONTENT = (Outcome.CREATE_TICKET, Outcome.ADD_NOTE, Outcome.BUNDLE)


@dataclass(frozen=True)
class Applied:
    """What apply wrote: the outcome as logged, and the ticket and note touched."""

    outcome: str
    reason: str
    ticket: int | None = None
    note: int | None = None
    outbox: int = 0
    kept: bool = False  # the raw bytes are in the quarantine table (`mailgate replay` can take it)
    sender: str | None = None  # for the poller's line per mail
    subject: str | None = None


def apply(tx, decision: Decision, message: Message, raw: bytes, message_key: str, keep_raw: bool = True) -> Applied:
    """Write the ticket change, the processing-log row and the outbox rows in transaction `tx`.

    With `keep_raw` the raw mail is kept too (by SHA-256, pruned after
    settings.store.keep_raw_mail_days), so `mailgate explain` can evaluate it again.
    """
    # Every outcome claims the mail's duplicate key: a second copy of a rejected, ignored or
    # quarantined mail is then a logged duplicate, never a second notice (F-PRE-6).
    if not tx.claim_message_key(decision.duplicate_key, decision.mailbox, source_key=message_key,
                                outcome=decision.outcome.value, reason=decision.reason):
        # Seen before, or another mailbox (or poller) took this very mail first.
        raw_sha = tx.keep_raw_mail(raw, message.size, message.packed) if keep_raw else None
        tx.log_processing(decision.mailbox, message_key, "ignore", "duplicate", _trace(decision) + _taken(tx, decision),
                          arrived_at=_arrived(decision), **_described(decision, message, raw_sha),
                          summary={**decision.summary(), "outcome": "ignore", "reason": "duplicate", "outgoing": []})
        return Applied("ignore", "duplicate", sender=decision.sender, subject=message.subject)
    if decision.outcome is Outcome.QUARANTINE:  # its raw bytes are kept in the quarantine already
        tx.quarantine(decision.mailbox, message_key, raw, f"{decision.reason}: {decision.detail}" if decision.detail else decision.reason)
        return _log(tx, decision, message, message_key, None, None, enqueue_decided(tx, decision, None, message_key), None)
    if decision.keep_raw:  # refused, but a person wrote it: kept for `mailgate replay` like quarantine
        tx.quarantine(decision.mailbox, message_key, raw, f"{decision.reason}: refused, kept for replay")
    raw_sha = tx.keep_raw_mail(raw, message.size, message.packed) if keep_raw else None
    ticket = note = None
    if decision.outcome in WITH_CONTENT:
        _organisations(tx, decision)
        _users(tx, decision)
        users = _UserIds(tx)  # after _users: every user the decision names exists from here on
        ticket = _ticket(tx, decision, users)
        note = _note(tx, decision, ticket, users)
        _attachments(tx, decision, message, raw, ticket, note)
        for address in decision.distribution_adds:
            tx.add_distribution(ticket, address, users.id(email=address))
        tx.set_message_key_ticket(decision.duplicate_key, ticket)
    sent = enqueue_decided(tx, decision, ticket, message_key)
    return _log(tx, decision, message, message_key, ticket, note, sent, raw_sha)


def _log(tx, decision, message, message_key, ticket, note, outbox, raw_sha) -> Applied:
    tx.log_processing(decision.mailbox, message_key, decision.outcome.value, decision.reason, _trace(decision),
                      ticket_number=ticket, note_id=note, subject_key=decision.subject_key, arrived_at=_arrived(decision),
                      summary=decision.summary(), **_described(decision, message, raw_sha))
    return Applied(decision.outcome.value, decision.reason, ticket, note, outbox,
                   kept=decision.keep_raw or decision.outcome is Outcome.QUARANTINE,
                   sender=decision.sender, subject=message.subject)


def _arrived(decision: Decision) -> datetime | None:
    return datetime.fromisoformat(decision.arrived) if decision.arrived else None


def _taken(tx, decision: Decision) -> list:
    """The trace step for a copy that lost the claim: what its first copy became, and where."""
    if decision.reason == "duplicate":
        return []  # evaluate found it already and said so
    first = tx.duplicate_key_seen(decision.duplicate_key)
    became = f"{first.outcome} ({first.reason})" if first and first.outcome else "processed"
    return [{"stage": "apply", "rule": "duplicate", "hit": True, "origin": None,
             "detail": f"a copy was {became} by mailbox {first.mailbox if first else '?'} meanwhile"}]


def _described(decision: Decision, message: Message, raw_sha: str | None) -> dict:
    """What `mailgate log` shows and searches besides the outcome."""
    return dict(sender=decision.sender, message_id=message.message_id, subject=message.subject,
                recipients=[a.address for a in (*message.to, *message.cc)], duplicate_key=decision.duplicate_key,
                raw_sha256=raw_sha)


def _trace(decision: Decision) -> list:
    # Only the steps, as plain dicts: serialising the whole decision to JSON and back
    # to get them was ~8% of a poll (dataclasses.asdict walks every field).
    return [{"stage": s.stage, "rule": s.rule, "hit": s.hit, "detail": s.detail, "origin": s.origin}
            for s in decision.trace]


def _organisations(tx, decision: Decision) -> None:
    for domain in decision.organisations_to_create:
        if tx.organisation_by_domain(domain) is None and tx.organisation_by_name(domain) is None:
            tx.create_organisation(domain, domains=[domain])


def _organisation_id(tx, name: str | None) -> int | None:
    if not name:
        return None
    row = tx.organisation_by_name(name)
    return row.id if row else None


def _users(tx, decision: Decision) -> None:
    for user in decision.users_to_create:
        if tx.user_by_email(user.email) is None:  # a login someone has already: not created, as before
            tx.create_user(user.login, name=user.name, email=user.email, role=user.role, unless_login_taken=True,
                           organisation_id=_organisation_id(tx, user.organisation), location=user.location)


class _UserIds:
    """User ids by address or login, each asked once per message: the requester and the
    note's author are usually the same person (a query each was ~5% of a poll)."""

    def __init__(self, tx):
        self._tx = tx
        self._known: dict[tuple[str, str], int | None] = {}

    def id(self, *, email: str | None = None, login: str | None = None) -> int | None:
        key = ("email", email.lower()) if email else ("login", login) if login else None
        if key is None:
            return None
        if key not in self._known:
            row = self._tx.user_by_email(email) if email else self._tx.user_by_login(login)
            self._known[key] = row.id if row else None
        return self._known[key]


def _group_id(tx, name: str | None) -> int | None:
    row = tx.group(name) if name else None
    return row.id if row else None


def _ticket(tx, decision: Decision, users: _UserIds) -> int:
    change = decision.ticket
    fields = {key: getattr(change, key) for key in ("type", "subtype", "ticket_class", "category", "priority")
              if getattr(change, key) is not None}
    if change.assignee_user or change.assignee_group:
        fields.update(assignee_user_id=users.id(login=change.assignee_user),
                      assignee_group_id=_group_id(tx, change.assignee_group))
    if change.status:  # a token's #close / #reopen counts on a new ticket too
        fields["status"] = change.status
    if change.new:
        number = tx.create_ticket(
            change.subject, number=change.number, requester_id=users.id(email=change.requester),
            organisation_id=_organisation_id(tx, change.organisation), template=change.quick_pick,
            source_mailbox=change.source_mailbox, source="Email",
            logging_technician_id=users.id(login=change.logging_technician), **fields)
        if number != change.number:  # outgoing mail names the predicted number: never send a wrong one
            raise StoreError(f"ticket number {change.number} was taken meanwhile; the message will be retried")
    else:
        number = change.number
        if fields:
            tx.set_ticket_fields(number, **fields)
    for name, value in change.custom_fields:
        tx.set_custom_field(number, name, value)
    tx.add_tags(number, change.tags)
    return number


def _note(tx, decision: Decision, ticket: int, users: _UserIds) -> int | None:
    note = decision.note
    if note is None:
        return None
    return tx.add_note(ticket, note.text, html=note.html, author_id=users.id(email=note.author),
                       author_address=note.author, hidden_from_portal=note.hidden_from_portal,
                       message_id=note.message_id)


def _attachments(tx, decision: Decision, message: Message, raw: bytes, ticket: int, note: int | None) -> None:
    kept = {(a.sha256, a.filename) for a in decision.attachments if a.kept}
    for item in message.attachments:
        if (item.sha256, item.filename) in kept:
            tx.store_attachment(ticket, item.data, filename=item.filename or "attachment", content_type=item.content_type,
                                note_id=note, inline=item.inline, content_id=item.content_id, sha256=item.sha256)
    if "raw_message" in decision.extra_attachments:
        tx.store_attachment(ticket, raw, filename="message.eml", content_type="message/rfc822", note_id=note)
    if "html_rendering" in decision.extra_attachments:
        html = message.html or "<pre>" + _escape(message.text) + "</pre>"
        tx.store_attachment(ticket, html.encode("utf-8"), filename="message.html", content_type="text/html", note_id=note)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def enqueue(tx, mails: tuple[OutgoingMail, ...], mailbox: str, ticket: int | None = None, *,
            cause: str | None = None, about: str | None = None, message_key: str | None = None) -> int:
    """Queue rendered mails in the outbox of transaction `tx`; they are sent after it commits.

    `cause` (the reason code) and `about` (the incoming sender) are kept with each mail, so
    flood control can find the last notice of a kind; `message_key` names the incoming mail
    that caused it (`mailgate log show`). Returns how many were queued: a mail whose
    Message-ID is queued already is the same mail, and is not queued twice.
    """
    queued = 0
    for mail in mails:
        queued += tx.enqueue_outbox(mail.to, outgoing_headers(mail), mail.body, mail.message_id,
                                    ticket_number=ticket, kind=mail.role, mailbox=mailbox,
                                    cause=cause, about=about, status=mail.status,
                                    reason=mail.status_reason or None, message_key=message_key) is not None
    return queued


def enqueue_decided(tx, decision: Decision, ticket: int | None = None, message_key: str | None = None) -> int:
    """Queue the decision's outgoing mail, each marked with its cause and the sender it is about."""
    return enqueue(tx, decision.outgoing, decision.mailbox, ticket, cause=decision.reason, about=decision.sender or "",
                   message_key=message_key)


def outgoing_headers(mail: OutgoingMail) -> tuple[tuple[str, str], ...]:
    """Every header of an outgoing mail, in the order it will be written."""
    return (("From", mail.sender), ("To", mail.to), ("Subject", mail.subject), ("Message-ID", mail.message_id),
            *mail.headers)
