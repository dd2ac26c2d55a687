"""What the poller tidies each cycle: raw mail past its retention, outbox mail past its maximum age."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from engine.config.policy import knob_fields
from engine.config.ruleset import Ruleset

log = logging.getLogger("mailgate.housekeeping")


def keep_raw_days(ruleset: Ruleset) -> int:
    """settings.store.keep_raw_mail_days: how long processed mail stays for `mailgate explain` (0: not kept)."""
    return ruleset.settings.store.keep_raw_mail_days


def max_ages(ruleset: Ruleset) -> dict[str, timedelta]:
    """settings.smtp.max_age_hours per kind of outgoing mail; a kind at 0 never expires."""
    ages = ruleset.settings.smtp.max_age_hours
    hours = {yaml_name: getattr(ages, name) for name, yaml_name, _ in knob_fields(type(ages))}
    return {kind: timedelta(hours=h) for kind, h in hours.items() if h}


def prune_raw_mail(store, ruleset: Ruleset, now: datetime) -> int:
    """Forget kept raw mail older than the retention; return how many went."""
    with store.transaction() as tx:
        gone = tx.prune_raw_mail(now - timedelta(days=keep_raw_days(ruleset)))
    if gone:
        log.info("forgot the raw bytes of %d processed mail(s) older than %d days", gone, keep_raw_days(ruleset))
    return gone


def expire_outbox(store, ruleset: Ruleset, now: datetime) -> int:
    """Mark queued mail older than its kind's maximum age `expired`, one log line each; return how many."""
    expired = []
    with store.transaction() as tx:
        for kind, age in max_ages(ruleset).items():
            expired += tx.expire_outbox(kind, now - age)
    for item in expired:
        log.warning("outbox %d expired, not sent: %s to %s queued %s, older than the %s maximum age "
                    "(settings.smtp.max_age_hours)", item.id, item.kind, item.to_addr,
                    f"{item.created_at:%Y-%m-%d %H:%M}", item.kind)
    return len(expired)
