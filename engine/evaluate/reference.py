"""Replies: find the ticket a mail refers to, check visibility, handle closed tickets (F-REF-1..4, 6, 7, 10)."""

from __future__ import annotations

from datetime import timedelta
from itertools import islice

from engine.decision import Outcome
from engine.evaluate.draft import Draft
from engine.evaluate.state import Ticket
from engine.parse.subject import bundle_subject, is_forward

STAGE = "reference"


def find_reference(d: Draft) -> bool:
    """The ticket a mail belongs to (F-REF-1, F-REF-2), in this order: In-Reply-To/References
    naming a message we stored (mail we sent, or a note's own mail), then our subject/body tag.

    A tag that names a missing ticket, or another ticket than the thread's, defers to the
    thread; a tag inside a forwarded subject counts only when the ticket it names has
    that subject (a vendor's "Fwd: [Ticket #87] ..." is theirs, not our 87).
    """
    tags = _tags(d)
    thread = _thread(d)
    if thread is not None:
        return _by_thread(d, thread, tags)
    origin = d.ruleset.origins["references"]
    if not tags:
        d.step(STAGE, "ticket_reference", False, "no reference in subject, body or headers", origin)
        return False
    number, where, ticket = _pick(d, tags)
    if _forwarded(d) and not _same_subject(d, ticket):
        d.step(STAGE, "ticket_reference", False, f"tag {number} in a forwarded subject is foreign: "
               + ("no such ticket" if ticket is None else f"ticket {number} is '{ticket.subject}'")
               + ", and no In-Reply-To/References name our mail", origin)
        return False
    d.step(STAGE, "ticket_reference", True, f"ticket {number} by {where}" + ("" if ticket else " (does not exist)")
           + _also_tagged(d, tags, number, ticket), origin)
    if ticket is not None:
        d.existing = ticket
        return False
    return _unknown(d, number)


def _pick(d: Draft, tags: list[tuple[int, str]]) -> tuple[int, str, Ticket | None]:
    """Of several tags, the one whose ticket bears this subject, else the first whose ticket
    exists, else the first. A subject can carry someone else's number in one of our forms
    beside our own tag ("Re: Fwd: Issue #82 Maintenance window [Ticket#1337]"): order alone
    would file it on our unrelated 82, or call the whole forward foreign."""
    found = [(number, where, d.state.ticket(number)) for number, where in dict.fromkeys(tags)]
    return (next((tag for tag in found if len(found) > 1 and _same_subject(d, tag[2])), None)
            or next((tag for tag in found if tag[2] is not None), found[0]))


def _also_tagged(d: Draft, tags: list[tuple[int, str]], number: int, ticket: Ticket | None) -> str:
    """Why this tag and not another that names an existing ticket, for the trace."""
    others = ", ".join(map(str, sorted({n for n, _ in tags if n != number and d.state.ticket(n) is not None})))
    if not others:
        return ""
    return (f"; it bears this subject, unlike ticket {others} also tagged" if _same_subject(d, ticket)
            else f"; the first tag naming a ticket (also tagged: {others})")


def _by_thread(d: Draft, thread: tuple[int, str], tags: list[tuple[int, str]]) -> bool:
    number, message_id = thread
    d.existing = d.state.ticket(number)
    others = sorted({n for n, _ in tags if n != number})
    detail = f"ticket {number} by Message-ID {message_id}"
    if others:  # the thread is what the sender answered; a tag can be stale, foreign or mistyped
        detail += f"; the tag naming ticket {', '.join(map(str, others))} defers to it"
    d.step(STAGE, "ticket_reference", True, detail, d.policy.replies.where("match_message_ids"))
    return False


def _unknown(d: Draft, number: int) -> bool:
    replies = d.policy.replies
    if replies.unknown_reference == "reject":
        d.step(STAGE, "unknown_reference", True, "reject", replies.where("unknown_reference"))
        d.notify.append("error_notice")
        return d.finish(Outcome.REJECT, "unknown_reference", f"ticket {number} does not exist")
    d.step(STAGE, "unknown_reference", True, "new_ticket", replies.where("unknown_reference"))
    return False


def _tags(d: Draft) -> list[tuple[int, str]]:
    """Ticket numbers our reference forms find in the subject (and body), in order."""
    regex = d.index.reference_regex
    texts = [("subject", d.message.subject)]
    if d.policy.replies.reference_in_body:
        texts.append(("body", d.message.text))
    matches = ((match, where) for where, text in texts for match in regex.finditer(text or ""))
    # A few references are real; a body listing thousands must not cost a lookup each.
    return [(int(next(g for g in match.groups() if g)), where) for match, where in islice(matches, 20)]


def _thread(d: Draft) -> tuple[int, str] | None:
    """The ticket of the nearest message this mail answers that we stored: every Message-ID
    we sent or filed as a note is a thread key. The parent first, then References newest first."""
    if not d.policy.replies.match_message_ids:
        return None
    for message_id in dict.fromkeys((d.message.in_reply_to, *reversed(d.message.references))):
        number = d.state.ticket_by_message_id(message_id) if message_id else None
        if number is not None and d.state.ticket(number) is not None:
            return number, message_id
    return None


def _forwarded(d: Draft) -> bool:
    return is_forward(d.message.subject, d.ruleset.reply_prefixes)


def _same_subject(d: Draft, ticket: Ticket | None) -> bool:
    """Whether a forwarded subject is the ticket's own (our mail forwarded back to us)."""
    if ticket is None:
        return False
    return _bare(d, d.message.subject) == _bare(d, ticket.subject)


def _bare(d: Draft, subject: str) -> str:
    """The subject as forwarded tags are compared: prefixes and reference tags gone, case and spaces folded."""
    return bundle_subject(d.index.reference_regex.sub(" ", subject or ""), d.ruleset.reply_prefixes)


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
    if d.message.bounce is not None:  # a mail server's report is filed, never a reason to reopen (F-REF-9)
        d.step(STAGE, "bounce_never_reopens", True, f"ticket {ticket.number} stays closed")
        return d.finish(Outcome.ADD_NOTE, "reply_to_closed")
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


def bundle_window(policy) -> timedelta:
    """How far back auto-bundling looks: this polling interval and the one before (F-REF-7)."""
    return timedelta(seconds=2 * policy.polling.interval_seconds)


def auto_bundle(d: Draft) -> bool:
    """Same sender and subject within this or the next polling interval: a note on that ticket (F-REF-7)."""
    replies = d.policy.replies
    if not replies.auto_bundle or not d.sender:
        d.step(STAGE, "auto_bundle", False, "off", replies.where("auto_bundle"))
        return False
    # By ARRIVAL, like loop prevention: a backlog read in one poll holds the same subject sent
    # days apart (two "Printer problem" mails a week apart are two problems), not a double send.
    window = bundle_window(d.policy)
    subject = bundle_subject(d.message.subject, d.ruleset.reply_prefixes)
    number = d.state.recent_ticket_by_sender_subject(d.mailbox.name, d.sender, subject, d.arrived - window, d.arrived)
    ticket = d.state.ticket(number) if number is not None else None
    d.step(STAGE, "auto_bundle", ticket is not None, (f"ticket {number}" if ticket else "no ticket with this subject")
           + f" from this sender arrived within {int(window.total_seconds()) // 60} min before this mail", replies.where("auto_bundle"))
    if ticket is None:
        return False
    d.existing = ticket
    d.ticket = {"number": ticket.number, "new": False}
    return d.finish(Outcome.BUNDLE, "auto_bundled")
