"""`mailgate replay [ID…]`: process quarantined messages again after a fix (F-FAIL-2)."""

from __future__ import annotations

from datetime import datetime, timezone

from engine.run.poll import process_message
from engine.commands.runtime import add_store_option, load, open_store



def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("ids", nargs="*", type=int, help="quarantine ids (default: every one not yet replayed)")
    parser.add_argument("--mailbox", help="only this mailbox")
    add_store_option(parser)


def run(args) -> int:
    """Replay each item; it leaves quarantine only when it now processes."""
    ruleset = load(args)
    store = open_store(ruleset, args.store)
    failed = 0
    try:
        ids = args.ids or [item.id for item in store.quarantined(mailbox=args.mailbox)]
        items = [store.quarantine_item(i) for i in ids]  # the listing leaves the raw bytes out
        for item in filter(None, items):
            mailbox = next((m for m in ruleset.mailboxes if m.name == item.mailbox), None)
            if mailbox is None:
                print(f"{item.id}: mailbox {item.mailbox} is no longer configured; skipped")
                failed += 1
                continue
            applied = process_message(store, ruleset, mailbox, item.message_key, item.raw, datetime.now(timezone.utc),
                                      replay=True)
            if not applied.kept:  # processed now; a mail refused again (a loop still) stays kept
                with store.transaction() as tx:
                    tx.mark_replayed(item.id)
            failed += applied.kept
            print(f"{item.id}: {applied.outcome} ({applied.reason})" + (f" ticket {applied.ticket}" if applied.ticket else ""))
    finally:
        store.close()
    return 1 if failed else 0
