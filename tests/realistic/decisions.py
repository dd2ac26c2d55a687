"""Store = decision: for each phase-3 mail, what `mailgate dry-run` decided must be what the poll stored."""

from __future__ import annotations

import re

from tests.realistic.storeview import LogRow, StoreView

TICKET_FIELDS = ("subject", "type", "subtype", "ticket_class", "category", "priority", "requester", "assignee_user",
                 "assignee_group", "source_mailbox")


def compare(run, view: StoreView, log: dict[int, LogRow]) -> list[str]:
    """Every difference between a sample mail's dry-run decision and the store, as '#index kind: what'."""
    truths = {d.truth.index: d.truth for d in run.deliveries}
    tickets = view.tickets()
    outbox = {o.message_id.strip("<>"): o for o in view.outbox()}
    problems: list[str] = []
    for index, decision in sorted(run.dry_runs.items()):
        truth = truths[index]
        row = log.get(truth.uid)
        found = _compare_one(decision, row, tickets, outbox, view)
        problems += [f"#{index} {truth.kind} ({truth.sender}): {p}" for p in found]
    return problems


def _compare_one(decision: dict, row: LogRow | None, tickets: dict, outbox: dict, view: StoreView) -> list[str]:
    if row is None:
        return ["never processed"]
    out = _differ("outcome", decision["outcome"], row.outcome) + _differ("reason", decision["reason"], row.reason)
    change = decision.get("ticket")
    renumber = lambda text: text  # noqa: E731 - the identity unless a new ticket got another number
    if change and row.ticket is not None:
        if change["new"] and change["number"] != row.ticket:
            predicted, actual = change["number"], row.ticket
            renumber = lambda text: re.sub(rf"(?<!\d){predicted}(?!\d)", str(actual), text or "")  # noqa: E731
        elif not change["new"]:
            out += _differ("ticket", change["number"], row.ticket)
        out += _ticket(change, tickets.get(row.ticket), view, row.ticket)
    out += _note(decision, row, view)
    for mail in decision.get("outgoing", []):
        stored = outbox.get(mail["message_id"].strip("<>"))
        if stored is None:
            out.append(f"outgoing {mail['role']} to {mail['to']}: not in the outbox")
            continue
        out += _differ(f"outgoing {mail['role']} kind", mail["role"], stored.kind)
        out += _differ(f"outgoing {mail['role']} to", mail["to"].lower(), stored.to)
        out += _differ(f"outgoing {mail['role']} subject", renumber(mail["subject"]), stored.headers.get("subject"))
        out += _differ(f"outgoing {mail['role']} body", renumber(mail["body"]), stored.body)
    for user in decision.get("users_to_create", []):
        if user["email"].lower() not in view.user_emails():
            out.append(f"user {user['email']} was not created")
    return out


def _ticket(change: dict, ticket: dict | None, view: StoreView, number: int) -> list[str]:
    if ticket is None:
        return [f"ticket {number} is not in the store"]
    out = []
    if change["new"]:
        for name in TICKET_FIELDS:
            want = change.get(name)
            have = ticket.get(name)
            if name == "requester":
                want, have = (want or "").lower() or None, (have or "").lower() or None
            out += _differ(f"ticket {name}", want, have)
        out += _differ("ticket quick pick", change.get("quick_pick"), ticket.get("template"))
        out += _differ("ticket status", change.get("status") or "open", ticket.get("status"))
    else:
        for name in ("type", "subtype", "priority", "category", "ticket_class", "assignee_user", "assignee_group", "status"):
            if change.get(name) is not None:
                out += _differ(f"ticket {name}", change[name], ticket.get(name))
    fields = view.custom_fields(number)
    for name, value in change.get("custom_fields") or ():
        out += _differ(f"custom field {name}", value, fields.get(name))
    return out


def _note(decision: dict, row: LogRow, view: StoreView) -> list[str]:
    note = decision.get("note")
    if not note or decision["outcome"] not in ("create_ticket", "add_note", "bundle"):
        return []
    if row.note is None or row.ticket is None:
        return ["no note was stored"]
    stored = next((n for n in view.notes(row.ticket) if n["id"] == row.note), None)
    if stored is None:
        return [f"note {row.note} is not on ticket {row.ticket}"]
    # The decision's text is the note's, whole (the decision carries a bounce's 'Delivery failed for' line).
    out = _differ("note text", note["text"], stored["text"]) + _differ("note author", note.get("author"), stored["author_address"])
    out += _differ("note message id", note.get("message_id"), stored["message_id"])
    out += _differ("note hidden", bool(note.get("hidden_from_portal")), bool(stored["hidden_from_portal"]))
    kept = sorted((a["filename"] or "attachment", a["sha256"]) for a in decision.get("attachments", []) if a["kept"])
    have = [a for a in view.attachments(row.note) if a[0] not in ("message.eml", "message.html")]
    out += _differ("attachments kept", kept, have)
    missing = set(a.lower() for a in decision.get("distribution_adds", [])) - view.distribution(row.ticket)
    if missing:
        out.append(f"distribution: {sorted(missing)} not added")
    return out


def _differ(what: str, want, have) -> list[str]:
    if want == have:
        return []
    show = lambda v: repr(v) if len(repr(v)) < 90 else repr(v)[:87] + "..."  # noqa: E731
    return [f"{what}: decision {show(want)}, store {show(have)}"]
