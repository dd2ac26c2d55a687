"""`mailgate status`: each mailbox's last poll, error, back-off, lease and today's counts; outbox, quarantine, monitor."""

from __future__ import annotations

from datetime import datetime, timezone

from engine.commands.output import add_format_option, opened_store, print_json, table, when
from engine.commands.runtime import add_store_option



def add_arguments(parser) -> None:
    """Register the command's options."""
    add_format_option(parser)
    add_store_option(parser)


def run(args) -> int:
    """Print the status; exit 1 when an active mailbox's last poll failed."""
    with opened_store(args) as (ruleset, store):
        report = gather(store, ruleset, datetime.now(timezone.utc))
    failing = [m["mailbox"] for m in report["mailboxes"] if m["active"] and m["failures"]]
    if args.format == "json":
        print_json({**report, "ok": not failing})
    else:
        _print(report)
    return 1 if failing else 0


def gather(store, ruleset, now: datetime) -> dict:
    """Everything `status` shows (and the metrics export), as plain data."""
    midnight = now.astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    polls, leases, monitors = store.mailbox_statuses(), store.leases(), store.monitor_states()
    counts = store.log_counts(midnight)
    names = [m.name for m in ruleset.mailboxes] + sorted(set(polls) - {m.name for m in ruleset.mailboxes})
    active = {m.name: m.active for m in ruleset.mailboxes}
    mailboxes = []
    for name in names:
        poll, lease, monitor = polls.get(name), leases.get(name), monitors.get(name)
        mailboxes.append({
            "mailbox": name, "active": active.get(name, False), "configured": name in active,
            "last_poll": poll and poll.last_poll_at, "last_success": poll and poll.last_success_at,
            "last_error": poll and poll.last_error, "last_error_at": poll and poll.last_error_at,
            "failures": poll.failures if poll else 0,
            "backing_off_until": poll.next_poll_at if poll and poll.failures else None,
            # Who polls it right now (several pollers share a store); a row past its expiry was
            # left by a poller that died mid-poll (its lock went with it: the next poller takes over).
            "lease_holder": lease.holder if lease else None,
            "lease_expires_at": lease.expires_at if lease else None,
            "lease_stale": bool(lease and lease.expires_at <= now),
            "today": {outcome: n for (box, outcome), n in sorted(counts.items()) if box == name},
            "auth_failures": monitor.auth_failures if monitor else 0,
            "monitor_ticket": monitor.monitor_ticket if monitor else None,
        })
    return {"at": now, "mailboxes": mailboxes, "outbox": store.outbox_depth(),
            "quarantine": store.quarantine_count()}


def _lease(m: dict) -> str | None:
    if not m["lease_holder"]:
        return None
    return f"{m['lease_holder']} (stale since {when(m['lease_expires_at'])})" if m["lease_stale"] else m["lease_holder"]


def _print(report: dict) -> None:
    rows = [("mailbox", "last success", "last poll", "failures", "back-off until", "lease", "today")]
    for m in report["mailboxes"]:
        name = m["mailbox"] + ("" if m["active"] else " (inactive)") + ("" if m["configured"] else " (not configured)")
        today = ", ".join(f"{n} {o}" for o, n in m["today"].items()) or "no mail"
        rows.append((name, when(m["last_success"]), when(m["last_poll"]), m["failures"] or "",
                     when(m["backing_off_until"]) if m["backing_off_until"] else "", _lease(m), today))
    print("\n".join(table(rows, (None, None, None, None, None, 60, 80))))
    for m in report["mailboxes"]:
        if m["failures"] and m["last_error"]:
            print(table([(f"{m['mailbox']}: last error at {when(m['last_error_at'])}:", m["last_error"])], (None, 200))[0])
        if m["auth_failures"]:
            ticket = f"; monitor ticket #{m['monitor_ticket']}" if m["monitor_ticket"] else ""
            print(f"{m['mailbox']}: {m['auth_failures']} authentication failure(s) in a row{ticket}")
    depth = ", ".join(f"{n} {s}" for s, n in sorted(report["outbox"].items())) or "empty"
    print(f"outbox: {depth}")
    print(f"quarantine: {report['quarantine']} message(s) waiting (mailgate quarantine list)")
