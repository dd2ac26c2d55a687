"""`mailgate quarantine list|show ID`: messages that could not be processed, raw bytes kept (F-FAIL-1)."""

from __future__ import annotations

from engine.commands.terminal import write_raw
from engine.errors import UsageError
from engine.commands.runtime import add_store_option, load, open_store



def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    parser.add_argument("id", nargs="?", type=int, help="quarantine id (for show)")
    parser.add_argument("--mailbox", help="only this mailbox")
    parser.add_argument("--all", action="store_true", help="include messages already replayed")
    add_store_option(parser)


def run(args) -> int:
    """List quarantine items, or dump one message."""
    store = open_store(load(args), args.store)
    try:
        if args.action == "show":
            item = store.quarantine_item(args.id) if args.id is not None else None
            if item is None:
                raise UsageError(f"no quarantined message {args.id}")
            write_raw(item.raw)
            return 0
        for item in store.quarantined(mailbox=args.mailbox, include_replayed=args.all):
            replayed = f" replayed {item.replayed_at:%Y-%m-%d %H:%M}" if item.replayed_at else ""
            print(f"{item.id:<5} {item.created_at:%Y-%m-%d %H:%M} {item.mailbox} {item.message_key}: {item.error}{replayed}")
        return 0
    finally:
        store.close()
