"""`mailgate tickets [list|show N]`: read tickets and their notes from the store."""

from __future__ import annotations

from engine.errors import UsageError
from engine.commands.runtime import add_store_option, load, open_store



def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    parser.add_argument("number", nargs="?", type=int, help="ticket number (for show)")
    parser.add_argument("--status", choices=("open", "closed"), help="only tickets with this status")
    parser.add_argument("--limit", type=int, default=50)
    add_store_option(parser)


def run(args) -> int:
    """Print tickets."""
    store = open_store(load(args), args.store)
    try:
        if args.action == "show":
            if args.number is None:
                raise UsageError("tickets show needs a ticket number")
            return _show(store, args.number)
        for ticket in store.tickets(status=args.status, limit=args.limit):
            print(f"#{ticket.number:<6} {ticket.status:<7} {(ticket.type or '-'):<10} {(ticket.priority or '-'):<7} {ticket.subject}")
        return 0
    finally:
        store.close()


def _show(store, number: int) -> int:
    ticket = store.ticket(number)
    if ticket is None:
        raise UsageError(f"no ticket {number}")
    requester = store.user(ticket.requester_id) if ticket.requester_id else None
    print(f"Ticket #{ticket.number}: {ticket.subject}")
    for label, value in (("status", ticket.status), ("type", ticket.type), ("subtype", ticket.subtype),
                         ("priority", ticket.priority), ("class", ticket.ticket_class), ("category", ticket.category),
                         ("quick pick", ticket.template), ("requester", requester.email if requester else None),
                         ("source", f"{ticket.source or ''} {ticket.source_mailbox or ''}".strip())):
        if value:
            print(f"  {label:<11}{value}")
    cc = [entry.address for entry in store.distribution_list(number)]
    if cc:
        print(f"  {'cc list':<11}{', '.join(cc)}")
    for note in store.notes(number):
        hidden = " (hidden from portal)" if note.hidden_from_portal else ""
        print(f"\n--- note {note.id} from {note.author_address or 'system'} at {note.created_at:%Y-%m-%d %H:%M}{hidden}")
        print(note.text)
    for item in store.attachments(number):
        print(f"  attachment: {item.filename} ({item.content_type}, {item.size} bytes)")
    return 0
