"""`mailgate tickets [list|show N]`: read tickets, every field, and their notes from the store."""

from __future__ import annotations

from engine.commands.output import add_format_option, fields, opened_store, print_json, table, when
from engine.errors import MailgateError, UsageError
from engine.commands.runtime import add_store_option
from engine.commands.terminal import escape, safe_line



def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    parser.add_argument("number", nargs="?", type=int, help="ticket number (for show)")
    parser.add_argument("--status", help="only tickets with this status (open, closed, ...)")
    parser.add_argument("--requester", metavar="ADDRESS", help="only tickets this address requested")
    parser.add_argument("--mailbox", help="only tickets that came in through this mailbox")
    parser.add_argument("--limit", type=int, default=50)
    add_format_option(parser)
    add_store_option(parser)


def run(args) -> int:
    """Print tickets."""
    with opened_store(args) as (_, store):
        if args.action == "show":
            if args.number is None:
                raise UsageError("tickets show needs a ticket number")
            return _show(store, args.number, args.format)
        return _list(store, args)


def _list(store, args) -> int:
    requester_id = None
    if args.requester:
        user = store.user_by_email(args.requester)
        if user is None:
            raise MailgateError(f"no user with the address {args.requester}")
        requester_id = user.id
    found = store.tickets(status=args.status, mailbox=args.mailbox, requester_id=requester_id, limit=args.limit)
    names = _Names(store)
    if args.format == "json":
        for ticket in found:
            print_json(ticket_json(store, ticket, names, full=False))
        return 0
    rows = [(f"#{t.number}", t.status, t.type, t.priority, names.user(t.requester_id), t.source_mailbox, t.subject)
            for t in found]
    print("\n".join(table(rows, (None, None, 16, 10, 32, 16, 60))) if rows else "no tickets match")
    return 0


class _Names:
    """User, group and organisation names by id, each looked up once."""

    def __init__(self, store):
        self._store, self._cache = store, {}

    def _get(self, kind: str, key, fetch):
        if key is None:
            return None
        if (kind, key) not in self._cache:
            self._cache[kind, key] = fetch(key)
        return self._cache[kind, key]

    def user(self, user_id):
        row = self._get("user", user_id, self._store.user)
        return (row.email or row.login) if row else None

    def group(self, group_id):
        row = self._get("group", group_id, self._store.group_by_id)
        return row.name if row else None

    def organisation(self, organisation_id):
        row = self._get("organisation", organisation_id, self._store.organisation)
        return row.name if row else None


def ticket_json(store, ticket, names: _Names, full: bool = True) -> dict:
    """Every field of a ticket by name; with `full`, its custom fields, distribution, notes and attachments."""
    data = {"number": ticket.number, "subject": ticket.subject, "status": ticket.status, "type": ticket.type,
            "subtype": ticket.subtype, "class": ticket.ticket_class, "category": ticket.category,
            "priority": ticket.priority, "quick_pick": ticket.template,
            "assignee_user": names.user(ticket.assignee_user_id), "assignee_group": names.group(ticket.assignee_group_id),
            "logging_technician": names.user(ticket.logging_technician_id),
            "requester": names.user(ticket.requester_id), "organisation": names.organisation(ticket.organisation_id),
            "source": ticket.source, "source_mailbox": ticket.source_mailbox,
            "hidden_from_portal": ticket.hidden_from_portal, "created_at": ticket.created_at,
            "updated_at": ticket.updated_at, "closed_at": ticket.closed_at}
    if not full:
        return data
    attachments = store.attachments(ticket.number)
    data.update(custom_fields=store.custom_fields(ticket.number),
                distribution=[e.address for e in store.distribution_list(ticket.number)],
                notes=[{"id": n.id, "author": n.author_address or names.user(n.author_id), "at": n.created_at,
                        "hidden_from_portal": n.hidden_from_portal, "message_id": n.message_id, "text": n.text,
                        "attachments": [_attachment(a) for a in attachments if a.note_id == n.id]}
                       for n in store.notes(ticket.number)],
                attachments=[_attachment(a) for a in attachments if a.note_id is None])
    return data


def _attachment(item) -> dict:
    return {"filename": item.filename, "content_type": item.content_type, "size": item.size,
            "sha256": item.sha256, "inline": item.inline}


def _show(store, number: int, fmt: str) -> int:
    ticket = store.ticket(number)
    if ticket is None:
        raise MailgateError(f"no ticket {number} (see `mailgate tickets list`)")
    data = ticket_json(store, ticket, _Names(store))
    if fmt == "json":
        print_json(data)
        return 0
    print(safe_line(f"Ticket #{ticket.number}: {ticket.subject}"))
    source = f"{ticket.source or ''} via {ticket.source_mailbox}" if ticket.source_mailbox else ticket.source
    print("\n".join(fields([
        ("status", data["status"] + (f" (closed {when(ticket.closed_at)})" if ticket.closed_at else "")),
        ("type", " / ".join(filter(None, (ticket.type, ticket.subtype))) or None), ("class", data["class"]),
        ("category", data["category"]), ("priority", data["priority"]), ("quick pick", data["quick_pick"]),
        ("assignee", data["assignee_user"]), ("group", data["assignee_group"]),
        ("logged by", data["logging_technician"]), ("requester", data["requester"]),
        ("organisation", data["organisation"]), ("source", source), ("created", when(ticket.created_at)),
        ("updated", when(ticket.updated_at)), ("hidden", "from the portal" if ticket.hidden_from_portal else None),
        *[(f"field {name}", value) for name, value in data["custom_fields"].items()],
        ("cc list", ", ".join(data["distribution"])),
    ])))
    for note in data["notes"]:
        hidden = " (hidden from portal)" if note["hidden_from_portal"] else ""
        print()
        print(safe_line(f"--- note {note['id']} from {note['author'] or 'system'} at {when(note['at'])}{hidden}"))
        print(escape(note["text"]))
        for item in note["attachments"]:
            print(safe_line(f"  attachment: {item['filename']} ({item['content_type']}, {item['size']} bytes)"))
    for item in data["attachments"]:
        print(safe_line(f"  attachment: {item['filename']} ({item['content_type']}, {item['size']} bytes)"))
    return 0
