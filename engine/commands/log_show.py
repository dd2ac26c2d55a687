"""`mailgate log show REF`: one message's whole story — decision, trace, and what apply and the source did."""

from __future__ import annotations

from engine.commands.output import fields, print_json, when
from engine.errors import MailgateError
from engine.commands.terminal import safe_line

_APPLIED = {"create_ticket": "created ticket #{t}", "add_note": "added note {n} to ticket #{t}",
            "bundle": "added note {n} to ticket #{t} (bundled with the ticket the same sender opened moments ago)"}


def resolve(store, ref: str, mailbox: str | None) -> list:
    """The log entries a key or Message-ID names; MailgateError when none."""
    entries = store.log_entries(ref, mailbox)
    if not entries:
        where = f" in mailbox {mailbox}" if mailbox else ""
        raise MailgateError(f"no log entry for {ref!r}{where}: give a message key or Message-ID "
                            f"as `mailgate log` prints them")
    return entries


def entry_json(entry) -> dict:
    """Every column of a log entry, for --format json."""
    return {"id": entry.id, "at": entry.created_at, "mailbox": entry.mailbox, "key": entry.message_key,
            "sender": entry.sender, "recipients": entry.recipients, "subject": entry.subject,
            "message_id": entry.message_id, "outcome": entry.outcome, "reason": entry.reason,
            "ticket": entry.ticket_number, "note": entry.note_id, "after_action": entry.after_action,
            "raw_sha256": entry.raw_sha256, "decision": entry.summary, "trace": entry.trace}


def show(store, ref: str, mailbox: str | None, fmt: str) -> int:
    """Print every entry the reference names (a Message-ID may have reached several mailboxes)."""
    for entry in resolve(store, ref, mailbox):
        story = _story(store, entry)
        if fmt == "json":
            print_json({**entry_json(entry), **story})
        else:
            _print(entry, story)
    return 0


def _story(store, entry) -> dict:
    """What the entry alone does not say: the mail it duplicates, its outbox rows, its raw mail."""
    first = store.first_delivery(entry.duplicate_key) if entry.reason == "duplicate" and entry.duplicate_key else None
    outbox = store.outbox_messages(mailbox=entry.mailbox, message_key=entry.message_key, limit=1000)
    raw = store.raw_mail(entry.raw_sha256) if entry.raw_sha256 else None
    return {
        "duplicate_of": None if first is None else {"id": first.id, "mailbox": first.mailbox, "key": first.message_key,
                                                    "ticket": first.ticket_number, "at": first.created_at},
        "outbox": [{"id": o.id, "kind": o.kind, "to": o.to_addr, "subject": o.subject, "status": o.status,
                    "attempts": o.attempts, "last_error": o.last_error} for o in reversed(outbox)],
        "raw_mail": _raw_state(entry, raw),
    }


def _raw_state(entry, raw) -> str:
    if raw is not None:
        return f"kept ({raw.size} bytes, sha256 {raw.sha256[:16]}…)"
    if entry.outcome == "quarantine":
        return "in the quarantine (mailgate quarantine list)"
    if entry.raw_sha256:
        return "no longer kept (older than settings.store.keep_raw_mail_days)"
    return "not kept"


def _print(entry, story: dict) -> None:
    print(safe_line(f"== entry {entry.id}: {entry.mailbox} / {entry.message_key}"))
    print("\n".join(fields([
        ("time", when(entry.created_at)), ("from", entry.sender), ("to", entry.recipients),
        ("subject", entry.subject), ("message-id", entry.message_id),
        ("outcome", f"{entry.outcome} ({entry.reason})"), ("raw mail", story["raw_mail"]),
    ])))
    if story["duplicate_of"]:
        first = story["duplicate_of"]
        ticket = f", ticket #{first['ticket']}" if first["ticket"] else ""
        print(safe_line(f"  duplicate of entry {first['id']}: {first['mailbox']} / {first['key']} "
                        f"at {when(first['at'])}{ticket}"))
    elif entry.reason == "duplicate":
        print("  duplicate of a mail whose entry is not recorded (logged before mailgate kept the duplicate key)")
    _print_decision(entry.summary)
    _print_applied(entry, story["outbox"])
    print("why:")
    for step in entry.trace or ():
        origin = f"  [{step['origin']}]" if step.get("origin") else ""
        mark = "HIT " if step.get("hit") else "    "
        print(safe_line(f"   {mark}{step['stage']}/{step['rule']}: {step.get('detail', '')}{origin}"))
    print()


def _print_decision(summary: dict | None) -> None:
    if not summary:
        return
    skip = {"outcome", "reason", "rules_hit"}
    shown = [(name.replace("_", " "), _value(value)) for name, value in summary.items() if name not in skip]
    lines = fields(shown, indent="   ")
    if lines:
        print("decision:")
        print("\n".join(lines))


def _value(value) -> str | None:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or None
    if isinstance(value, list):
        return "; ".join(map(str, value)) or None
    return None if value is None else str(value)


def _print_applied(entry, outbox: list[dict]) -> None:
    print("applied:")
    template = _APPLIED.get(entry.outcome)
    if template and entry.ticket_number:
        print(f"   {template.format(t=entry.ticket_number, n=entry.note_id)}")
    elif entry.outcome == "quarantine":
        print("   kept the raw mail in the quarantine (mailgate quarantine show / replay)")
    else:
        print("   no ticket change")
    for item in outbox:
        error = f", last error: {item['last_error']}" if item["last_error"] else ""
        print(safe_line(f"   outbox {item['id']}: {item['kind']} to {item['to']} — {item['status']}, "
                        f"{item['attempts']} attempt(s){error}"))
    print(safe_line(f"   after processing: {entry.after_action or 'not recorded'}"))
