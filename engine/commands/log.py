"""`mailgate log [show REF]`: what happened to each message and why, from the processing log (F-MB-10)."""

from __future__ import annotations

from datetime import datetime, timezone

from engine.commands.log_show import entry_json, show
from engine.commands.output import add_format_option, opened_store, print_json, table, when
from engine.commands.moments import parse_since
from engine.decision import Outcome
from engine.errors import UsageError
from engine.commands.runtime import add_store_option
from engine.commands.terminal import safe_line

OUTCOMES = tuple(o.value for o in Outcome)


def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("action", nargs="?", choices=("list", "show"), default="list",
                        help="list (default) or show REF: the full trace and what apply did")
    parser.add_argument("ref", nargs="?", metavar="REF", help="for show: a message key or Message-ID")
    parser.add_argument("--mailbox", help="only this mailbox")
    parser.add_argument("--from", dest="sender", metavar="TEXT", help="sender address contains TEXT")
    parser.add_argument("--to", dest="recipient", metavar="TEXT", help="a To/Cc address contains TEXT")
    parser.add_argument("--subject", metavar="TEXT", help="subject contains TEXT (case-insensitive)")
    parser.add_argument("--message-id", metavar="ID", help="this Message-ID (with or without <>)")
    parser.add_argument("--ticket", type=int, metavar="N", help="entries that touched ticket N")
    parser.add_argument("--since", metavar="WHEN", help="ISO 8601 time, or a duration back from now (2h, 7d)")
    parser.add_argument("--until", metavar="WHEN", help="ISO 8601 time, or a duration back from now")
    parser.add_argument("--outcome", choices=OUTCOMES)
    parser.add_argument("--reason", help="this reason code (e.g. duplicate, auto_generated)")
    parser.add_argument("--limit", type=int, default=50, help="at most this many entries, newest first (50)")
    parser.add_argument("--trace", action="store_true", help="list: also print the rules that hit")
    add_format_option(parser)
    add_store_option(parser)


def run(args) -> int:
    """List matching entries newest first, or show one message's entries in full."""
    if args.action == "show":
        if not args.ref:
            raise UsageError("log show needs a message key or Message-ID (see `mailgate log`)")
        with opened_store(args) as (_, store):
            return show(store, args.ref, args.mailbox, args.format)
    wanted = _filter(args)
    with opened_store(args) as (_, store):
        entries = store.search_log(wanted, args.limit, with_trace=args.trace or args.format == "json")
    if args.format == "json":
        for entry in entries:
            print_json(entry_json(entry))
        return 0
    _print_lines(entries, args.trace)
    return 0


def _filter(args):
    from engine.store.log import LogFilter

    now = datetime.now(timezone.utc)
    since = parse_since(args.since, "--since", now) if args.since else None
    until = parse_since(args.until, "--until", now) if args.until else None
    if args.limit < 1:
        raise UsageError("--limit must be 1 or more")
    return LogFilter(mailbox=args.mailbox, outcome=args.outcome, reason=args.reason, ticket=args.ticket,
                     message_id=args.message_id, since=since, until=until, sender=args.sender,
                     recipient=args.recipient, subject=args.subject)


def _print_lines(entries, with_trace: bool) -> None:
    if not entries:
        print("no log entries match")
        return
    # The key last: it is what `log show` and `explain` take.
    rows = [(when(e.created_at), e.mailbox, e.sender, e.subject, e.outcome, e.reason,
             f"#{e.ticket_number}" if e.ticket_number else None, e.message_key) for e in entries]
    lines = table(rows, (None, 20, 36, 48, None, 24, None, None))
    for entry, line in zip(entries, lines):
        print(line)
        for step in (entry.trace or ()) if with_trace else ():
            if step.get("hit"):
                origin = f"  [{step['origin']}]" if step.get("origin") else ""
                print(safe_line(f"    {step['stage']}/{step['rule']}: {step.get('detail', '')}{origin}"))
