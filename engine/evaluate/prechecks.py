"""Checks before anything else: readable, duplicate, size, subject, auto-generated, filters, keywords, loops."""

from __future__ import annotations

from datetime import timedelta

from engine.decision import Outcome
from engine.evaluate import routes
from engine.evaluate.draft import Draft
from engine.config.rule_index import declared
from engine.config.matching import normalise

STAGE = "prechecks"


def readable(d: Draft) -> bool:
    """A message parse could not read is quarantined with its raw bytes (F-FAIL-1)."""
    if d.message.unreadable:
        d.step(STAGE, "readable", True, d.message.unreadable)
        return d.finish(Outcome.QUARANTINE, "unreadable", d.message.unreadable)
    d.step(STAGE, "readable", False)
    return False


def duplicate(d: Draft) -> bool:
    """The same mail seen before, by this or another mailbox, is not processed twice (F-PRE-6)."""
    first = d.state.message_seen(d.duplicate_key)
    d.step(STAGE, "duplicate", first is not None, f"key {d.duplicate_key[:16]}…" + (_first_copy(first) if first else ""))
    return d.finish(Outcome.IGNORE, "duplicate", "this message was processed before") if first else False


def _first_copy(first) -> str:
    """Whatever the first copy became (a rejection too): a second copy is only logged."""
    became = f"{first.outcome} ({first.reason})" if first.outcome else "processed"
    return f"; a copy was {became}" + (f" by mailbox {first.mailbox}" if first.mailbox else "")


def size_limit(d: Draft) -> bool:
    """Mail larger than the mailbox limit is rejected with a notice (F-PRE-7)."""
    limits = d.policy.size_limits
    limit_mb = limits.max_message_mb
    too_big = d.message.size > limit_mb * 1024 * 1024
    d.step(STAGE, "size_limit", too_big, f"{d.message.size} bytes, limit {limit_mb} MB", limits.where("max_message_mb"))
    if too_big:
        d.notify += ["rejected", "error_notice"]
        return d.finish(Outcome.REJECT, "too_large", f"the message is larger than {limit_mb} MB")
    return False


def subject_length(d: Draft) -> bool:
    """A subject longer than subject_max_length (default 400) is rejected (F-PRE-1)."""
    limit = d.policy.subject_max_length
    too_long = len(d.message.subject) > limit
    d.step(STAGE, "subject_max_length", too_long, f"{len(d.message.subject)} characters, limit {limit}",
           d.policy.where("subject_max_length"))
    if too_long:
        d.notify.append("error_notice")
        return d.finish(Outcome.REJECT, "subject_too_long", f"the subject is longer than {limit} characters")
    return False


def bounce_of_ours(d: Draft) -> bool:
    """A bounce about mail mailgate sent becomes a note on its ticket, failed recipients flagged (F-REF-9)."""
    bounce = d.message.bounce
    if bounce is None or d.policy.auto_generated.bounces != "note_on_ticket":
        d.step(STAGE, "bounce_of_our_mail", False, "not a bounce" if bounce is None else "bounces: ignore")
        return False
    # Only mail WE sent: a stored note's Message-ID is someone else's mail, and its bounce is theirs.
    number = d.state.ticket_by_sent_message_id(bounce.original_message_id) if bounce.original_message_id else None
    if number is None or d.state.ticket(number) is None:
        d.step(STAGE, "bounce_of_our_mail", False, "the bounced mail is not one mailgate sent")
        return False
    d.existing = d.state.ticket(number)
    d.flagged_recipients = sorted({r.address.lower() for r in bounce.recipients})
    d.ticket = {"number": number, "new": False}
    d.step(STAGE, "bounce_of_our_mail", True, f"ticket {number}; failed: {', '.join(d.flagged_recipients) or 'unknown'}")
    return d.finish(Outcome.ADD_NOTE, "bounce_filed")


def auto_generated(d: Draft) -> bool:
    """Auto-replies, bounces and meeting requests: ignored or processed per mailbox (F-PRE-2)."""
    flags = d.message.auto_generated
    if not flags.value:
        d.step(STAGE, "auto_generated", False, "", d.policy.auto_generated.where("action"))
        return False
    # Each kind has its own action: monitoring sent as bulk may make tickets while
    # out-of-office replies stay ignored.
    kind = flags.kind or "auto_submitted"
    action, origin = d.policy.auto_generated.for_kind(kind)
    d.step(STAGE, "auto_generated", True, f"{kind}: {'; '.join(flags.reasons)} -> {action}", origin)
    if action == "ignore" and not routes.admits_machine_mail(d):
        return d.finish(Outcome.IGNORE, "auto_generated", f"{kind}: " + "; ".join(flags.reasons))
    return False


def filters(d: Draft) -> bool:
    """Sender and subject filters, partial or full (F-PRE-3)."""
    sender = d.message.from_
    hit = d.index.sender_filters.first_match(sender.address if sender else "", sender.name if sender else "")
    d.step(STAGE, "sender_filter", hit is not None, hit.pattern if hit else "", hit.origin if hit else None)
    if hit:
        return d.finish(Outcome.IGNORE, "sender_filtered", f"sender matches filter '{hit.pattern}'")
    hit = d.index.subject_filters.first_match(d.message.subject)
    d.step(STAGE, "subject_filter", hit is not None, hit.pattern if hit else "", hit.origin if hit else None)
    if hit:
        return d.finish(Outcome.IGNORE, "subject_filtered", f"subject matches filter '{hit.pattern}'")
    return False


def keywords(d: Draft) -> bool:
    """Words or phrases that bounce the message unprocessed (F-PRE-4)."""
    hits = d.index.subject_keywords.find(normalise(d.message.subject), whole_words=True)
    if not hits:
        hits = d.index.body_keywords.find(normalise(d.message.text), whole_words=True)
    keyword = min((h[2] for h in hits), key=declared, default=None)
    d.step(STAGE, "keywords", keyword is not None, keyword.phrase if keyword else "", keyword.origin if keyword else None)
    if keyword is None:
        return False
    if keyword.notify_sender:
        d.notify.append("rejected")
    return d.finish(Outcome.REJECT, "keyword", f"contains '{keyword.phrase}'" + (f" ({keyword.reason})" if keyword.reason else ""))


def loop_prevention(d: Draft) -> bool:
    """More than N messages from one sender within M minutes are refused (F-PRE-5)."""
    loop = d.policy.loop_prevention
    sender = d.message.from_.address.lower() if d.message.from_ else ""
    if not loop.enabled or not sender:
        d.step(STAGE, "loop_prevention", False, "off" if not loop.enabled else "no sender", loop.where("enabled"))
        return False
    # By ARRIVAL: a backlog read in one poll (after downtime, or a first poll) is judged by
    # when its mails came in, not by when they were read.
    since = d.arrived - timedelta(minutes=loop.window_minutes)
    count = d.state.sender_message_count(d.mailbox.name, sender, since, d.arrived)
    looping = count >= loop.max_messages
    d.step(STAGE, "loop_prevention", looping, f"{count} earlier message(s) in {loop.window_minutes} min, limit "
           f"{loop.max_messages}; arrived {d.arrived.isoformat()} ({d.arrived_from})",
           loop.where("max_messages", "window_minutes"))
    if not looping:
        return False
    # A person's mail is never destroyed by a false alarm: its bytes stay for `mailgate replay`.
    d.keep_raw = not d.message.auto_generated.value
    detail = f"{sender} sent more than {loop.max_messages} messages in {loop.window_minutes} minutes"
    if loop.action == "ignore":
        return d.finish(Outcome.IGNORE, "mail_loop", detail)
    d.notify.append("error_notice")
    return d.finish(Outcome.REJECT, "mail_loop", detail)
