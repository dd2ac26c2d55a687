"""`mailgate poll`: fetch, decide and apply, once or as a service."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from engine.commands.runtime import add_store_option, config_dir, load, open_store
from engine.errors import UsageError


def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("--once", action="store_true", help="poll every mailbox once and exit")
    parser.add_argument("--mailbox", help="poll only this mailbox (even if inactive)")
    parser.add_argument("--timings", action="store_true",
                        help="with --once: also print, per mailbox, the seconds spent in each stage")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show progress per mailbox (default: a live line on a terminal, none otherwise; "
                             "--progress when not a terminal prints a plain line per batch)")
    parser.add_argument("--metrics-port", type=int, metavar="PORT",
                        help="serve Prometheus metrics on http://ADDRESS:PORT/metrics")
    parser.add_argument("--metrics-address", default="127.0.0.1", metavar="ADDRESS",
                        help="the address --metrics-port listens on (127.0.0.1; 0.0.0.0 for every interface)")
    parser.add_argument("--metrics-file", metavar="FILE",
                        help="write Prometheus metrics to FILE after each cycle (node_exporter's textfile collector)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="with --once: json prints one object per mailbox, then one for the outbox (JSON Lines)")
    parser.add_argument("--host-slots", type=int, metavar="N",
                        help="the service: at most N pollers of this config poll at once on this host, the others "
                             "stand by (default: one per usable core; 0: no limit)")
    add_store_option(parser)


def run(args) -> int:
    """Poll; exit 1 when a mailbox failed in --once mode."""
    # --once prints its own summary; the service logs a line per mail and per mailbox poll
    logging.basicConfig(level=logging.WARNING if args.once else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.once and not _host_slot(args):
        return 0  # stopped while standing by
    from engine.run.service import Service  # here: a poller standing by has imported none of it

    ruleset = load(args)
    if args.mailbox and args.mailbox not in {m.name for m in ruleset.mailboxes}:
        raise UsageError(f"no mailbox named {args.mailbox!r}")
    metrics = _metrics(args)
    store = open_store(ruleset, args.store)
    progress = Progress.chosen(args.progress) if args.once else None  # the service logs a line per mail instead
    service = Service(Path(config_dir(args)), ruleset, store, only=args.mailbox, progress=progress, metrics=metrics)
    try:
        if not args.once:
            service.run_forever()
            return 0
        reports = service.poll_once()
    finally:
        service.close()
        store.close()
    if progress:
        progress.clear()
    if args.format == "json":
        _print_json(reports, service)
        return 1 if any(r.error for r in reports) else 0
    for report in reports:
        print(report.summary())
        if args.timings:
            print(f"{report.mailbox}: timings: {report.stages.summary()}")
    print(_outbox_line(reports, service))
    return 1 if any(r.error for r in reports) else 0


def _host_slot(args) -> bool:
    """Take one of this host's slots for this config, standing by until one is free (engine/run/host_slots.py)."""
    from engine.run.host_slots import HostSlot, default_slots, slot_directory

    count = default_slots() if args.host_slots is None else args.host_slots
    if count < 0:
        raise UsageError("--host-slots takes a number of pollers, or 0 for no limit")
    return count == 0 or HostSlot(slot_directory(config_dir(args), args.mailbox, args.store), count).wait()


def _metrics(args):
    if args.metrics_port is None and not args.metrics_file:
        return None
    if args.metrics_port is not None and args.once:
        raise UsageError("--metrics-port serves the running service; with --once use --metrics-file")
    from engine.run.metrics import Metrics

    metrics = Metrics(textfile=args.metrics_file)
    if args.metrics_port is not None:
        metrics.serve(args.metrics_port, args.metrics_address)
    return metrics


def _print_json(reports, service) -> None:
    from engine.commands.output import print_json

    for r in reports:
        print_json({"mailbox": r.mailbox, "skipped": r.skipped, "reached": r.reached, "error": r.error,
                    "to_do": r.to_do, "outcomes": dict(r.outcomes),
                    "reasons": [{"outcome": o, "reason": why, "mails": n} for (o, why), n in sorted(r.reasons.items())],
                    "acknowledged": r.acked, "ack_problems": r.ack_problems, "outbox": dict(r.outbox),
                    "seconds": r.stages.seconds})
    totals = {kind: sum(r.outbox[kind] for r in reports) for kind in ("queued", "sent", "retrying", "failed")}
    print_json({"outbox": {**totals, "expired": service.expired}, "sending": service.sends_mail()})


def _outbox_line(reports, service) -> str:
    """The outbox after this poll: queued, sent, retrying, failed, expired; and why nothing was sent."""
    totals = {kind: sum(r.outbox[kind] for r in reports) for kind in ("queued", "sent", "retrying", "failed")}
    totals["expired"] = service.expired
    line = "outbox: " + ", ".join(f"{n} {kind}" for kind, n in totals.items())
    if totals["queued"] and not service.sends_mail():
        line += " (settings.smtp.send is false: mail stays queued; `mailgate outbox list` shows it)"
    return line


class Progress:
    """Per batch: `help: 40/400 mail, 35.2/s`; one line rewritten in place on a terminal, else a line each."""

    def __init__(self, live: bool):
        self.live, self.width = live, 0

    @classmethod
    def chosen(cls, wanted: bool | None) -> "Progress | None":
        """A live line on a terminal unless --no-progress; plain lines elsewhere only with --progress."""
        terminal = sys.stderr.isatty()
        if wanted is False or (wanted is None and not terminal):
            return None
        return cls(live=terminal)

    def __call__(self, report) -> None:
        line = report.progress()
        if not self.live:
            print(line, file=sys.stderr, flush=True)
            return
        # Our own carriage return, past the filter that escapes the mail's (engine/commands/terminal.py).
        stream = getattr(sys.stderr, "unescaped", sys.stderr)
        stream.write("\r" + line.ljust(self.width))
        stream.flush()
        self.width = len(line)

    def clear(self) -> None:
        """Blank the live line before the summary is printed."""
        if self.live and self.width:
            stream = getattr(sys.stderr, "unescaped", sys.stderr)
            stream.write("\r" + " " * self.width + "\r")
            stream.flush()
