"""`mailgate outbox list|show|hold|release|retry|purge`: see and control mail waiting for SMTP (F-OUT-5)."""

from __future__ import annotations

from datetime import datetime, timezone

from engine.commands.output import add_format_option, fields, opened_store, print_json, table, when
from engine.errors import MailgateError, UsageError
from engine.commands.runtime import add_store_option
from engine.commands.terminal import escape, safe_line

STATUSES = ("pending", "held", "sent", "failed", "blocked", "expired")
# What each action moves from, to, and whether it makes the mail due now / resets its retries.
_MOVES = {"hold": (("pending",), "held", False, False), "release": (("held",), "pending", True, False),
          "retry": (("failed", "expired"), "pending", True, True),
          "expire": (("pending", "held"), "expired", False, False)}
_PURGED_BY_DEFAULT = ("sent", "failed", "blocked", "expired")  # queued mail goes only when asked for by --status


def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("action", nargs="?", default="list",
                        choices=("list", "show", "hold", "release", "retry", "expire", "purge"))
    parser.add_argument("ids", nargs="*", type=int, metavar="ID",
                        help="outbox ids (show, hold, release, retry, expire)")
    parser.add_argument("--status", action="append", choices=STATUSES,
                        help="list/purge: only this status (repeatable); purge defaults to sent, failed, expired")
    parser.add_argument("--kind", help="only this kind (auto_reply, error_notice, rejected, ...)")
    parser.add_argument("--mailbox", help="list: only mail queued by this mailbox")
    parser.add_argument("--older-than", metavar="AGE",
                        help="purge, expire: only mail queued longer ago than AGE (7d, 12h)")
    parser.add_argument("--limit", type=int, default=50, help="list: at most this many, newest first (50)")
    add_format_option(parser)
    add_store_option(parser)


def run(args) -> int:
    """Dispatch to the action; exit 1 when an id does not exist or is in the wrong state."""
    if args.action in ("show", *_MOVES) and not args.ids and args.action != "expire":
        raise UsageError(f"outbox {args.action} needs one or more ids (see `mailgate outbox list`)")
    with opened_store(args) as (ruleset, store):
        if args.action == "expire" and not args.ids:
            return _expire(store, ruleset, args)
        if args.action == "list":
            return _list(store, args)
        if args.action == "show":
            return max(_show(store, outbox_id, args.format) for outbox_id in args.ids)
        if args.action == "purge":
            return _purge(store, args)
        return max(_move(store, outbox_id, args.action, args.format) for outbox_id in args.ids)


def message_json(item) -> dict:
    """An outbox row for --format json (the body only in `show`)."""
    return {"id": item.id, "status": item.status, "kind": item.kind, "to": item.to_addr, "subject": item.subject,
            "attempts": item.attempts, "last_error": item.last_error, "mailbox": item.mailbox,
            "caused_by": item.message_key, "ticket": item.ticket_number, "message_id": item.message_id,
            "queued_at": item.created_at, "next_attempt_at": item.next_attempt_at, "sent_at": item.sent_at}


def _list(store, args) -> int:
    statuses = args.status or [None]
    items = [i for s in statuses for i in store.outbox_messages(status=s, kind=args.kind, mailbox=args.mailbox,
                                                                 limit=args.limit)]
    items = sorted(items, key=lambda i: -i.id)[:args.limit]
    if args.format == "json":
        for item in items:
            print_json(message_json(item))
        return 0
    if not items:
        print("the outbox is empty" if not (args.status or args.kind or args.mailbox) else "no outbox mail matches")
        return 0
    rows = [("id", "status", "kind", "to", "subject", "tries", "queued", "last error")]
    rows += [(i.id, i.status, i.kind, i.to_addr, i.subject, i.attempts, when(i.created_at), i.last_error)
             for i in items]
    print("\n".join(table(rows, (None, None, None, 36, 44, None, None, 60))))
    return 0


def _show(store, outbox_id: int, fmt: str) -> int:
    item = store.outbox_message(outbox_id)
    if item is None:
        return _missing(outbox_id)
    if fmt == "json":
        print_json({**message_json(item), "headers": [list(h) for h in item.headers], "body": item.body})
        return 0
    caused = f"{item.mailbox} / {item.message_key}" if item.message_key else item.mailbox
    print(f"== outbox {item.id}")
    print("\n".join(fields([
        ("status", item.status), ("kind", item.kind), ("to", item.to_addr), ("subject", item.subject),
        ("ticket", f"#{item.ticket_number}" if item.ticket_number else None), ("caused by", caused),
        ("queued", when(item.created_at)), ("attempts", str(item.attempts)),
        ("next attempt", when(item.next_attempt_at) if item.status == "pending" else None),
        ("sent", when(item.sent_at) if item.sent_at else None), ("last error", item.last_error),
    ])))
    print("headers:")
    for name, value in item.headers:
        print(safe_line(f"   {name}: {value}"))
    print("body:")
    print(escape(item.body))
    return 0


def _move(store, outbox_id: int, action: str, fmt: str) -> int:
    allowed, status, due_now, reset = _MOVES[action]
    with store.transaction() as tx:
        item = tx.outbox_message(outbox_id)
        moved = item is not None and tx.set_outbox_status(outbox_id, status, allowed_from=allowed, due_now=due_now,
                                                          reset_attempts=reset)
    if item is None:
        return _missing(outbox_id)
    if fmt == "json":
        print_json({"id": outbox_id, "action": action, "done": moved, "status": status if moved else item.status})
    elif moved:
        print(f"outbox {outbox_id}: {item.status} -> {status}" + (" (due now)" if due_now else ""))
    else:
        print(f"outbox {outbox_id}: is {item.status}; {action} works on {' or '.join(allowed)} mail only")
    return 0 if moved else 1


def _purge(store, args) -> int:
    from engine.commands.moments import parse_age

    older = datetime.now(timezone.utc) - parse_age(args.older_than, "--older-than") if args.older_than else None
    statuses = tuple(args.status or _PURGED_BY_DEFAULT)
    with store.transaction() as tx:
        gone = tx.purge_outbox(statuses=statuses, kind=args.kind, older_than=older)
    if args.format == "json":
        print_json({"purged": gone, "statuses": list(statuses), "kind": args.kind, "older_than": older})
    else:
        print(f"purged {gone} outbox mail(s) ({', '.join(statuses)}"
              + (f", kind {args.kind}" if args.kind else "") + (f", queued before {when(older)}" if older else "") + ")")
    return 0


def _expire(store, ruleset, args) -> int:
    """Expire queued mail now: past its kind's maximum age (as the poller does), or older than --older-than."""
    from engine.commands.moments import parse_age
    from engine.run.housekeeping import expire_outbox

    now = datetime.now(timezone.utc)
    if args.older_than is None:
        if args.kind:
            raise UsageError("outbox expire --kind needs --older-than (without it, every kind's maximum age applies)")
        gone = expire_outbox(store, ruleset, now)
        why = "past their kind's maximum age (settings.smtp.max_age_hours)"
    else:
        before = now - parse_age(args.older_than, "--older-than")
        with store.transaction() as tx:
            gone = len(tx.expire_outbox(args.kind, before, statuses=("pending", "held")))
        why = f"queued before {when(before)}" + (f", kind {args.kind}" if args.kind else "")
    if args.format == "json":
        print_json({"expired": gone})
    else:
        print(f"expired {gone} queued outbox mail(s) {why}: they will not be sent (`outbox retry ID` sends one after all)")
    return 0


def _missing(outbox_id: int) -> int:
    raise MailgateError(f"no outbox mail {outbox_id} (see `mailgate outbox list`)")
