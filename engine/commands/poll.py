"""`mailgate poll`: fetch, decide and apply, once or as a service."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from engine.commands.runtime import config_dir
from engine.errors import UsageError
from engine.commands.runtime import add_store_option, load, open_store
from engine.run.service import Service



def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("--once", action="store_true", help="poll every mailbox once and exit")
    parser.add_argument("--mailbox", help="poll only this mailbox (even if inactive)")
    parser.add_argument("--timings", action="store_true",
                        help="with --once: also print, per mailbox, the seconds spent in each stage")
    add_store_option(parser)


def run(args) -> int:
    """Poll; exit 1 when a mailbox failed in --once mode."""
    # --once prints its own summary; the service logs one line per mailbox poll
    logging.basicConfig(level=logging.WARNING if args.once else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ruleset = load(args)
    if args.mailbox and args.mailbox not in {m.name for m in ruleset.mailboxes}:
        raise UsageError(f"no mailbox named {args.mailbox!r}")
    store = open_store(ruleset, args.store)
    progress = _progress if sys.stderr.isatty() else None
    service = Service(Path(config_dir(args)), ruleset, store, only=args.mailbox, progress=progress)
    try:
        if not args.once:
            service.run_forever()
            return 0
        reports = service.poll_once()
    finally:
        service.close()
        store.close()
    for report in reports:
        print(report.summary())
        if args.timings:
            print(f"{report.mailbox}: timings: {report.stages.summary()}")
    return 1 if any(r.error for r in reports) else 0


def _progress(report) -> None:
    getattr(sys.stderr, "unescaped", sys.stderr).write("\r")  # back to the line's start: ours, not the mail's
    print(report.summary(), end="", file=sys.stderr, flush=True)
