"""The authentication-failure monitor: a ticket after N failures in a row, once per outage (F-MB-11)."""

from __future__ import annotations

import logging
from datetime import datetime

from engine.config.ruleset import MailboxConfig, Ruleset

log = logging.getLogger("mailgate.monitor")
SOURCE = "System - Email Monitor"


def record_auth_failure(store, ruleset: Ruleset, mailbox: MailboxConfig, error: str, now: datetime) -> int | None:
    """Count a failure; open the monitor ticket when the threshold is reached. Returns its number if opened."""
    threshold = mailbox.policy.monitor.auth_failures_before_ticket
    with store.transaction() as tx:
        count = tx.record_auth_failure(mailbox.name, error)
        state = tx.monitor_state(mailbox.name)
        if count < threshold or state.monitor_ticket is not None:
            return None
        number = _open_ticket(tx, ruleset, mailbox, error, count, now)
        tx.set_monitor_ticket(mailbox.name, number)
    log.error("mailbox %s: %d authentication failures in a row; opened ticket %d", mailbox.name, count, number)
    return number


def _open_ticket(tx, ruleset: Ruleset, mailbox: MailboxConfig, error: str, count: int, now: datetime) -> int:
    pick_name = mailbox.policy.monitor.quick_pick
    pick = ruleset.quick_picks.get(pick_name, {}) if pick_name else {}
    fields = {"type": pick.get("type"), "subtype": pick.get("subtype"), "priority": pick.get("priority"),
              "ticket_class": pick.get("class"), "category": pick.get("category")}
    assignee = pick.get("assignee") or {}
    group = tx.group(assignee["group"]) if assignee.get("group") else None
    user = tx.user_by_login(assignee["user"]) if assignee.get("user") else None
    number = tx.create_ticket(
        f"Mailbox {mailbox.name} ({mailbox.address}) cannot log in", number=tx.next_ticket_number(),
        source=SOURCE, source_mailbox=mailbox.name, template=pick_name,
        assignee_group_id=group.id if group else None, assignee_user_id=user.id if user else None,
        **{k: v for k, v in fields.items() if v})
    tx.add_note(number, f"{count} consecutive authentication failures since the last successful poll "
                        f"(as of {now.isoformat()}).\nThe server said: {error}\n\n"
                        f"Check the credentials, then run `mailgate test-connection {mailbox.name}`.")
    return number


def record_auth_success(store, mailbox_name: str) -> None:
    """A successful login ends the outage: the next failure streak may open a new ticket."""
    with store.transaction() as tx:
        before = tx.record_auth_success(mailbox_name)
    if before is not None and before.monitor_ticket is not None:
        log.info("mailbox %s logs in again (monitor ticket %d stays for the record)", mailbox_name, before.monitor_ticket)
