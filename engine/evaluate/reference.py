"""Replies: find the ticket a mail refers to, check visibility, handle closed tickets (F-REF-1..4, 6, 7, 10)."""

from __future__ import annotations

from datetime import timedelta
from itertools import islice

from engine.decision import Outcome
from engine.evaluate.draft import Draft
from engine.evaluate.state import Ticket
from engine.parse.subject import bundle_subject

STAGE = "reference"


def find_reference(d: Draft) -> bool:
    """Ticket number from the subject (and body), or In-Reply-To/References (F-REF-1, F-REF-2)."""
    number, how = _referenced_number(d)
    if number is None:
        d.step(STAGE, "ticket_reference", False, "no reference in subject, body or headers",
               d.ruleset.origins["references"])
        return False
    ticket = d.state.ticket(number)
    d.step(STAGE, "ticket_reference", True, f"ticket {number} by {how}" + ("" if ticket else " (does not exist)"),
           d.ruleset.origins["references"] if how in ("subject", "body") else None)
    if ticket is not None:
        d.existing = ticket
        return False
    replies = d.policy.replies
    if replies.unknown_reference == "reject":
        d.step(STAGE, "unknown_reference", True, "reject", replies.where("unknown_reference"))
        d.notify.append("error_notice")
        return d.finish(Outcome.REJECT, "unknown_reference", f"ticket {number} does not exist")
    d.step(STAGE, "unknown_reference", True, "new_ticket", replies.where("unknown_reference"))
    return False


def _referenced_number(d: Draft) -> tuple[int | None, str]:
    """The first referenced ticket that exists, else the first reference at all.

    A subject can carry a stale tag before ours: a ticket opened from a reply to an
    unknown ticket gets "[Ticket#99999] [Ticket#1007]"; its replies belong to 1007.
    """
    regex = d.index.reference_regex
    texts = [("subject", d.message.subject)]
    if d.policy.replies.reference_in_body:
        texts.append(("body", d.message.text))
    matches = ((match, where) for where, text in texts for match in regex.finditer(text or ""))
    # A few references are real; a body listing thousands must not cost a lookup each.
    found = [(int(next(g for g in match.groups() if g)), where) for match, where in islice(matches, 20)]
    existing = next((ref for ref in found if d.state.ticket(ref[0]) is not None), None)
    if existing or found:
        return existing or found[0]
    if d.policy.replies.match_message_ids:
        for message_id in (d.message.in_reply_to, *reversed(d.message.references)):
            number = d.state.ticket_by_message_id(message_id) if message_id else None
            if number is not None:
                return number, f"Message-ID {message_id}"
    return None, ""


def can_see(d: Draft, ticket: Ticket) -> tuple[bool, str]:
    """Requester, distribution member, technician, or same sharing organisation (F-REF-3)."""
    sender = d.sender or ""
    if d.user is not None and d.user.is_technician:
        return True, "sender is a technician"
    if ticket.requester and ticket.requester.lower() in (sender, d.requester):
        return True, "sender is the requester"
    if sender in {a.lower() for a in ticket.distribution}:
        return True, "sender is on the distribution list"
    if d.user and d.user.organisation and d.user.organisation == ticket.organisation:
        org = d.state.organisation(ticket.organisation)
        if org and org.shares_tickets:
            return True, f"same organisation {org.name}, which shares tickets"
    return False, "sender is not the requester, on the distribution list, a technician or in a sharing organisation"


def reply(d: Draft) -> bool:
    """Decide what a reply to an existing ticket does (F-REF-3, F-REF-4, F-REF-10)."""
    ticket = d.existing
    if ticket is None:
        return False
    replies = d.policy.replies
    if d.user is None and not d.policy.unknown_senders.update_anonymously:
        d.step(STAGE, "update_anonymously", True, "unknown senders may not update tickets",
               d.policy.unknown_senders.where("update_anonymously"))
        d.notify.append("error_notice")
        return d.finish(Outcome.REJECT, "anonymous_update", f"{d.sender} is unknown and may not update tickets")
    if replies.require_visibility:
        visible, why = can_see(d, ticket)
        d.step(STAGE, "require_visibility", not visible, why, replies.where("require_visibility"))
        if not visible:
            d.notify.append("error_notice")
            return d.finish(Outcome.REJECT, "not_visible", f"{d.sender} may not see ticket {ticket.number}")
    d.ticket = {"number": ticket.number, "new": False}
    if ticket.is_closed:
        return _closed(d, ticket, replies)
    return d.finish(Outcome.ADD_NOTE, "reply")


def _closed(d: Draft, ticket: Ticket, replies) -> bool:
    """Closed tickets: ignore and tell, note without reopening, or reopen and reassign (F-REF-4)."""
    mode = replies.closed_tickets
    d.step(STAGE, "closed_ticket", True, f"ticket {ticket.number} is closed: {mode}", replies.where("closed_tickets"))
    if mode == "ignore":
        d.notify.append("closed_not_updated")
        return d.finish(Outcome.IGNORE, "ticket_closed", f"ticket {ticket.number} is already closed and has not been updated")
    d.notify.append("closed_updated")
    if mode == "note":
        return d.finish(Outcome.ADD_NOTE, "reply_to_closed")
    d.ticket["status"] = "open"
    _reassign(d, ticket, replies)
    return d.finish(Outcome.ADD_NOTE, "reopened")


def _reassign(d: Draft, ticket: Ticket, replies) -> None:
    rule = replies.reopen_assign_to
    user, group = None, None
    if rule == "template_group" and ticket.quick_pick in d.ruleset.quick_picks:
        group = d.ruleset.quick_picks[ticket.quick_pick].get("assignee", {}).get("group")
    elif rule == "sending_technician" and d.user and d.user.is_technician:
        user = d.user.login
    elif rule == "logging_technician":
        user = ticket.logging_technician
    if rule != "unchanged" and not (user or group):
        group = replies.reopen_fallback_group
    if user or group:
        d.ticket.update({"assignee_user": user, "assignee_group": group})
    d.step(STAGE, "reopen_assign_to", bool(user or group), f"{rule}: " + (user or group or "unchanged"),
           replies.where("reopen_assign_to"))


def reply_only(d: Draft) -> bool:
    """A mailbox with create_tickets: false accepts replies only (F-REF-6)."""
    allowed = d.policy.new_tickets.create_tickets
    d.step(STAGE, "create_tickets", not allowed, "reply-only mailbox" if not allowed else "new tickets allowed",
           d.policy.new_tickets.where("create_tickets"))
    if allowed:
        return False
    d.notify.append("error_notice")
    return d.finish(Outcome.REJECT, "reply_only_mailbox", "this mailbox only accepts replies to existing tickets")


def auto_bundle(d: Draft) -> bool:
    """Same sender and subject within this or the next polling interval: a note on that ticket (F-REF-7)."""
    replies = d.policy.replies
    if not replies.auto_bundle or not d.sender:
        d.step(STAGE, "auto_bundle", False, "off", replies.where("auto_bundle"))
        return False
    window = timedelta(seconds=2 * d.policy.polling.interval_seconds)
    subject = bundle_subject(d.message.subject, d.ruleset.reply_prefixes)
    number = d.state.recent_ticket_by_sender_subject(d.mailbox.name, d.sender, subject, d.now - window)
    ticket = d.state.ticket(number) if number is not None else None
    d.step(STAGE, "auto_bundle", ticket is not None, f"ticket {number}" if ticket else "no recent ticket with this subject",
           replies.where("auto_bundle"))
    if ticket is None:
        return False
    d.existing = ticket
    d.ticket = {"number": ticket.number, "new": False}
    return d.finish(Outcome.BUNDLE, "auto_bundled")
