"""The engine's StateView served from the ticket store (one transaction or snapshot)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from engine.evaluate import state
from engine.config.ruleset import Ruleset
from engine.errors import UsageError


class StoreStateView:
    """Answers evaluate()'s questions from store reads, turning rows into engine records."""

    def __init__(self, reads, description: str = "ticket store"):
        self._reads = reads
        self.description = description

    def _organisation_name(self, organisation_id: int) -> str | None:
        row = self._reads.organisation(organisation_id)  # from the poll's directory cache, in a poll
        return row.name if row else None

    def _user(self, row) -> state.User | None:
        if row is None:
            return None
        organisation = self._organisation_name(row.organisation_id) if row.organisation_id else None
        return state.User(row.login, row.email or "", row.name, row.role, organisation)

    def user_by_email(self, address: str) -> state.User | None:
        return self._user(self._reads.user_by_email(address))

    def user_by_login(self, login: str) -> state.User | None:
        return self._user(self._reads.user_by_login(login))

    def organisation(self, name: str) -> state.Organisation | None:
        row = self._reads.organisation_by_name(name)
        return state.Organisation(row.name, row.domains, row.shares_tickets) if row else None

    def organisation_by_domain(self, domain: str) -> state.Organisation | None:
        row = self._reads.organisation_by_domain(domain)
        return state.Organisation(row.name, row.domains, row.shares_tickets) if row else None

    def group(self, name: str) -> state.Group | None:
        row = self._reads.group(name)
        if row is None:
            return None
        members = tuple(u.login for u in (self._reads.user(i) for i in row.member_ids) if u)
        return state.Group(row.name, members)

    def ticket(self, number: int) -> state.Ticket | None:
        row, distribution = self._reads.ticket_and_distribution(number)
        if row is None:
            return None
        reads = self._reads
        requester = reads.user(row.requester_id) if row.requester_id else None
        organisation = self._organisation_name(row.organisation_id) if row.organisation_id else None
        assignee = reads.user(row.assignee_user_id) if row.assignee_user_id else None
        group = reads.group_by_id(row.assignee_group_id) if row.assignee_group_id else None
        logger = reads.user(row.logging_technician_id) if row.logging_technician_id else None
        return state.Ticket(
            number=row.number, subject=row.subject, status=row.status,
            requester=requester.email if requester else None,
            organisation=organisation,
            distribution=tuple(entry.address for entry in distribution),
            assignee_user=assignee.login if assignee else None, assignee_group=group.name if group else None,
            quick_pick=row.template, logging_technician=logger.login if logger else None)

    def ticket_by_message_id(self, message_id: str) -> int | None:
        return self._reads.ticket_by_message_id(message_id)

    def ticket_by_sent_message_id(self, message_id: str) -> int | None:
        return self._reads.ticket_by_sent_message_id(message_id)

    def next_ticket_number(self) -> int:
        return self._reads.next_ticket_number()

    def sender_message_count(self, mailbox: str, address: str, since: datetime, until: datetime) -> int:
        return self._reads.sender_message_count(mailbox, address, since, until)

    def recent_ticket_by_sender_subject(self, mailbox: str, address: str, subject: str, since: datetime,
                                        until: datetime) -> int | None:
        return self._reads.recent_ticket_by_sender_subject(mailbox, address, subject, since, until)

    def auto_replies_sent(self, address: str, since: datetime) -> int:
        return self._reads.auto_replies_sent(address, since)

    def message_seen(self, duplicate_key: str) -> state.FirstCopy | None:
        row = self._reads.duplicate_key_seen(duplicate_key)
        return state.FirstCopy(row.mailbox, row.outcome or "", row.reason or "") if row else None

    def last_notice(self, role: str, cause: str, about: str) -> datetime | None:
        return self._reads.last_notice(role, cause, about)

    def logged_since(self, reason: str, address: str, since: datetime) -> int:
        return self._reads.logged_since(reason, address, since)

    def first_copy_entry(self, duplicate_key: str):
        """`dry-run --state`: the log entry of a duplicate's first copy (evaluate never asks this)."""
        return self._reads.first_delivery(duplicate_key)


def open_state_view(url_or_path: str, ruleset: Ruleset) -> StoreStateView:
    """`dry-run --state DB`: read users and tickets from a store, writing nothing."""
    from engine.store.store import Store
    from engine.store.url import safe_url

    url = url_or_path if "://" in url_or_path else f"sqlite:///{url_or_path}"
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise UsageError(f"no store at {url_or_path}: run `mailgate poll` first or give --directory")
    store = Store.open(url)
    return StoreStateView(store, f"store {safe_url(url)}")
