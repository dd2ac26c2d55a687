"""`mailgate log`: what happened to each message and why, from the processing log (F-MB-10)."""

from __future__ import annotations


from engine.commands.jsonlines import dumps_line
from engine.commands.runtime import add_store_option, load, open_store



def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("--mailbox", help="only this mailbox")
    parser.add_argument("--outcome", choices=("create_ticket", "add_note", "bundle", "reject", "ignore", "quarantine"))
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--trace", action="store_true", help="print the rules that hit for each message")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_store_option(parser)


def run(args) -> int:
    """Print log entries, newest first."""
    store = open_store(load(args), args.store)
    try:
        entries = store.processing_log(mailbox=args.mailbox, outcome=args.outcome, limit=args.limit)
    finally:
        store.close()
    for entry in entries:
        if args.format == "json":
            print(dumps_line({"mailbox": entry.mailbox, "key": entry.message_key, "outcome": entry.outcome,
                              "reason": entry.reason, "ticket": entry.ticket_number, "trace": entry.trace,
                              "at": entry.created_at.isoformat()}))
            continue
        ticket = f" ticket {entry.ticket_number}" if entry.ticket_number else ""
        print(f"{entry.created_at:%Y-%m-%d %H:%M:%S} {entry.mailbox} {entry.message_key}: {entry.outcome}{ticket} ({entry.reason})")
        if args.trace:
            for step in entry.trace or ():
                if step.get("hit"):
                    origin = f"  [{step['origin']}]" if step.get("origin") else ""
                    print(f"    {step['stage']}/{step['rule']}: {step.get('detail', '')}{origin}")
    return 0
