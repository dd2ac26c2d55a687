"""Notices that cannot flood: one per cause and sender per window, none about our own mail."""

from __future__ import annotations

from datetime import timedelta

from engine.evaluate.draft import Draft

STAGE = "outgoing"
# Notices a looping or repeating sender could otherwise draw without end. The auto-reply has
# its own window (F-OUT-1); login credentials go once, to a user just created.
BOUNDED = ("error_notice", "rejected", "closed_not_updated", "closed_updated")
OUR_PREFIX = "mailgate."  # every Message-ID mailgate makes: <mailgate.DIGEST@mailbox-domain>


def our_own(d: Draft) -> str:
    """Why the mail is mailgate's own (a notice come back, a bounce of one), or ''."""
    domains = {m.address.rpartition("@")[2].lower() for m in d.ruleset.mailboxes}
    bounced = d.message.bounce.original_message_id if d.message.bounce else None
    for what, message_id in (("its Message-ID", d.message.message_id), ("the mail it bounces", bounced)):
        local, _, domain = (message_id or "").rpartition("@")
        if local.startswith(OUR_PREFIX) and domain.lower() in domains:
            return f"{what} ({message_id}) is one mailgate made"
    own = {m.address.lower() for m in d.ruleset.mailboxes} | {m.policy.return_address.lower() for m in d.ruleset.mailboxes
                                                             if m.policy is not None}
    return f"it comes from our own address {d.sender}" if d.sender in own else ""


def held_back(d: Draft, role: str) -> dict | None:
    """None when a `role` notice for this cause and sender went out within the window (the
    trace says so); else the template extras: how many were held back since the last one."""
    minutes = d.policy.outgoing.notice_window_minutes
    if role not in BOUNDED or not minutes:
        return {}
    about = d.sender or ""
    last = d.state.last_notice(role, d.reason, about)
    if last is not None and last > d.now - timedelta(minutes=minutes):
        d.step(STAGE, role, False, f"held back: one per cause and sender per {minutes} minutes, and one about "
               f"{about or 'a mail without sender'} ({d.reason}) went at {last.isoformat()}; the next one counts it",
               d.policy.outgoing.where("notice_window_minutes"))
        return None
    count = d.state.logged_since(d.reason, about, last) if last is not None and about else 0
    return {"held_back": count, "held_back_since": last.isoformat() if last is not None and count else ""}
