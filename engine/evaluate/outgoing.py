"""Outgoing mail: auto-reply, notices and closed-ticket replies, fully rendered (F-OUT-1..4)."""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import timedelta
from email.utils import format_datetime, formataddr
from functools import lru_cache

from jinja2 import TemplateError

from engine.decision import Outcome, OutgoingMail
from engine.evaluate import flood
from engine.evaluate.authenticity import authenticity
from engine.evaluate.draft import Draft
from engine.parse.mime.addresses import undeliverable

STAGE = "outgoing"
ECHO_SUBJECT, ECHO_NAME, ECHO_DETAIL = 120, 80, 300  # characters of mail text an outgoing mail may repeat
# Replies to the sender are auto-replies in RFC 3834's sense; notices to staff are auto-generated.
MAX_REFERENCES = 10  # Message-IDs an outgoing References carries (root, parents, the mail answered)
MAX_ID_LENGTH = 250  # longer Message-IDs are hostile; ours never copy them
TO_SENDER = ("auto_reply", "closed_not_updated", "closed_updated", "rejected")
SWITCHES = {"auto_reply": "auto_reply", "error_notice": "error_notices", "closed_not_updated": "closed_ticket_replies",
            "closed_updated": "closed_ticket_replies", "rejected": "error_notices"}


def plan(d: Draft) -> None:
    """Render every mail this decision sends, in a fixed order."""
    roles = list(dict.fromkeys(d.notify))
    if d.outcome is Outcome.CREATE_TICKET:
        roles.insert(0, "auto_reply")
    if d.outcome is Outcome.QUARANTINE:
        roles.append("error_notice")
    ours = flood.our_own(d)
    if ours and roles:  # a notice about a notice is how two systems mail each other forever
        d.step(STAGE, "notices", False, f"never a notice about our own mail: {ours}")
        roles = []
    for role in roles:
        recipient = _recipient(d, role)
        extra = flood.held_back(d, role) if recipient else None
        if extra is not None:
            _render(d, role, recipient, **extra)
    for user in d.users_to_create:
        if user.send_credentials:
            _render(d, "login_credentials", user.email, user=user)


def _recipient(d: Draft, role: str) -> str | None:
    outgoing = d.policy.outgoing
    if role in SWITCHES and not getattr(outgoing, SWITCHES[role]):
        d.step(STAGE, role, False, f"outgoing.{SWITCHES[role]} is off", outgoing.where(SWITCHES[role]))
        return None
    if role not in TO_SENDER:
        return _error_user(d)
    own = {m.address.lower() for m in d.ruleset.mailboxes}
    if d.message.auto_generated.value or not d.sender or d.sender in own:
        d.step(STAGE, role, False, "never answer auto-generated mail or our own mailboxes")
        return None
    if not outgoing.answer_failed_dmarc and authenticity(d).dmarc_failed:
        d.step(STAGE, role, False, f"the From failed DMARC ({authenticity(d).detail}): an answer would be backscatter",
               outgoing.where("answer_failed_dmarc"))
        return None
    if role == "auto_reply":
        window = outgoing.auto_reply_window_minutes
        if window and d.state.auto_replies_sent(d.sender, d.now - timedelta(minutes=window)):
            d.step(STAGE, role, False, f"{d.sender} already had an auto-reply in the last {window} minutes")
            return None
    return d.sender


def _error_user(d: Draft) -> str | None:
    name = d.policy.error_user
    if not name:
        d.step(STAGE, "error_notice", False, "no error_user configured", d.policy.where("error_user"))
        return None
    if "@" in name:
        return name
    user = d.state.user_by_login(name)
    return user.email if user else None


def _render(d: Draft, role: str, recipient: str, **extra) -> None:
    problem = undeliverable(recipient)
    if problem:  # decided here, so the outbox never holds a mail that cannot be sent
        d.step(STAGE, role, False, f"not sent to {recipient!r}: {problem}")
        return
    name = d.policy.outgoing.templates.name(role)
    if role == "auto_reply" and d.auto_reply_template is not None:  # a route chose it (or none)
        if not d.auto_reply_template:
            d.step(STAGE, role, False, "a route said: no auto-reply")
            return
        name = d.auto_reply_template
    template = d.ruleset.templates.get(name)
    if template is None:
        d.step(STAGE, role, False, f"no template '{name}'")
        return
    context = _context(d, **extra)
    try:
        subject = _one_line(template.compiled_subject.render(context))
        body = template.compiled_body.render(context)
    except TemplateError as err:  # a runtime error in an admin's template must not lose the mail
        d.step(STAGE, role, False, f"template '{name}' failed: {err}", template.origin)
        return
    subject = _tagged(d, subject)
    status, why = _outbox_status(d, role, recipient)
    mail = OutgoingMail(role=role, to=recipient, sender=_from(d), subject=subject, body=body,
                        message_id=_message_id(d, role, recipient), headers=_headers(d, role),
                        status=status, status_reason=why)
    d.outgoing.append(mail)
    d.step(STAGE, role, True, f"to {recipient}: {subject}", template.origin)


def _outbox_status(d: Draft, role: str, recipient: str) -> tuple[str, str]:
    """blocked for a never-send-to recipient (F-OUT-8), held while automatic mail is off (F-OUT-9), else pending.

    Either way the mail is rendered and queued, so the outbox shows what would have gone.
    """
    hit = d.index.recipient_filters.first_match(recipient)
    if hit is not None:
        why = f"{recipient} matches never_send_to '{hit.pattern}'"
        d.step(STAGE, "never_send_to", True, f"{role}: {why}: kept as blocked, never sent", hit.origin)
        return "blocked", why
    outgoing = d.policy.outgoing
    if not outgoing.enabled:
        why = "automatic mail is switched off (outgoing.enabled: false)"
        # a hit: the switch is what held the mail, so `log --trace` (hits only) shows why
        d.step(STAGE, "automatic_mail_off", True, f"{role}: {why}: kept as held", outgoing.where("enabled"))
        return "held", why
    return "pending", ""


def _context(d: Draft, **extra) -> dict:
    number = d.ticket.get("number")
    base_url, portal = d.policy.ticket_base_url, d.policy.portal_base_url
    subject = d.ticket.get("subject") or (d.existing.subject if d.existing else d.message.subject)
    # What came in the mail is echoed bounded and cleaned: a forged sender gets no megabyte
    # of their own text, nor terminal or bidi controls, sent back to a victim (backscatter).
    return {
        "ticket": {"number": number, "subject": echo(subject), "status": d.ticket.get("status") or (
            d.existing.status if d.existing else "open"), "url": f"{base_url}{number}" if base_url and number else "",
            # F-OUT-10: the requesters' self-service link, beside the technicians' one
            "portal_url": f"{portal}{number}" if portal and number else ""},
        "sender": {"name": echo(_sender_name(d), ECHO_NAME), "address": d.sender or ""},
        "mailbox": {"name": d.mailbox.name, "address": d.mailbox.address, "from_name": _from_name(d)},
        "reason": d.reason, "detail": echo(d.detail, ECHO_DETAIL), "original_subject": echo(d.message.subject),
        "reopened": d.ticket.get("status") == "open", "login_url": base_url,
        "held_back": 0, "held_back_since": "",  # notices flood control held back since the last one
        **extra,
    }


def echo(text: str | None, limit: int | None = None) -> str:
    """Mail text fit to send back: control and format characters dropped, one line, at most `limit` characters."""
    limit = limit or ECHO_SUBJECT
    cleaned = " ".join("".join(c for c in (text or "")[:limit * 4] if unicodedata.category(c) not in ("Cc", "Cf")
                               or c.isspace()).split())
    return cleaned if len(cleaned) <= limit else cleaned[:limit - 1].rstrip() + "…"


def _sender_name(d: Draft) -> str:
    """The From display name, else the directory's name for the sender (known or being created)."""
    if d.sender_name:
        return d.sender_name
    if d.user is not None and d.user.email.lower() == d.sender:
        return d.user.name
    return next((u.name for u in d.users_to_create if u.email == d.sender), "")


def _one_line(text: str) -> str:
    """Header values never carry CR/LF: header injection is impossible (F-OUT-4)."""
    return " ".join(text.split())


def _tagged(d: Draft, subject: str) -> str:
    number = d.ticket.get("number")
    if not number:
        return subject
    tag = d.ruleset.reference_tag.replace("{id}", str(number))
    return subject if tag.lower() in subject.lower() else f"{subject} {tag}"


def _from_name(d: Draft) -> str:
    return d.policy.from_name


def _from(d: Draft) -> str:
    return _formataddr(_one_line(_from_name(d)), d.policy.return_address)


def _message_id(d: Draft, role: str, recipient: str) -> str:
    # The reason is part of it: a mail processed again (a replay) for another reason gets a
    # notice of its own; for the same reason it is the same notice, which the outbox keeps
    # once. Nothing here depends on time, so dry-run names the Message-ID the poll queues.
    digest = hashlib.sha256(f"{d.duplicate_key}\0{role}\0{recipient}\0{d.reason}".encode()).hexdigest()[:32]
    return f"<mailgate.{digest}@{d.mailbox.address.rpartition('@')[2]}>"


def _headers(d: Draft, role: str) -> tuple[tuple[str, str], ...]:
    headers = [("Date", _date_header(d.now, d.now.utcoffset())),
               ("Auto-Submitted", "auto-replied" if role in TO_SENDER else "auto-generated"),
               ("X-Auto-Response-Suppress", "All")]
    message_id = d.message.message_id
    if message_id and len(message_id) <= MAX_ID_LENGTH and role in TO_SENDER:
        headers += [("In-Reply-To", f"<{message_id}>"), ("References", _references(d.message.references, message_id))]
    if d.ticket.get("number"):
        headers.append(("X-Mailgate-Ticket", str(d.ticket["number"])))
    return tuple(headers)


def _references(incoming: tuple[str, ...], message_id: str) -> str:
    """The thread root, the closest parents and the mail answered: bounded whatever the mail held.

    RFC 5322 3.6.4 lets a reply trim References; mail from anyone must not make ours huge.
    """
    ids = [i for i in incoming if len(i) <= MAX_ID_LENGTH and i != message_id]
    kept = ids[:1] + ids[1:][-(MAX_REFERENCES - 2):] if len(ids) > MAX_REFERENCES - 1 else ids
    return " ".join(f"<{i}>" for i in dict.fromkeys((*kept, message_id)))


# Both cost microseconds per mail and repeat: the same From for a mailbox, the same `now` for a poll.
@lru_cache(maxsize=64)
def _formataddr(name: str, address: str) -> str:
    return formataddr((name, address))


@lru_cache(maxsize=4)
def _date_header(now, offset) -> str:
    """`offset` is in the key because equal instants in other zones are written differently."""
    return format_datetime(now)
