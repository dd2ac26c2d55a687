"""A StateView held in memory: the config's directory plus an optional fixture file (dry-run, tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from engine.config.ruleset import Ruleset
from engine.errors import UsageError
from engine.parse.subject import bundle_subject
from engine.evaluate.state import FirstCopy, Group, Organisation, Ticket, User


@dataclass
class Recent:
    """An earlier processed message, for loop counts and auto-bundling."""

    mailbox: str
    sender: str
    subject: str
    at: datetime  # when it arrived (loop counts and bundling judge by arrival)
    ticket: int | None = None
    reason: str = ""


@dataclass
class MemoryState:
    """Answers StateView questions from plain lists; nothing is written anywhere."""

    users: list[User] = field(default_factory=list)
    organisations: list[Organisation] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    tickets: dict[int, Ticket] = field(default_factory=dict)
    message_ids: dict[str, int] = field(default_factory=dict)  # of mail mailgate sent
    note_ids: dict[str, int] = field(default_factory=dict)  # of incoming mail stored as notes
    recent: list[Recent] = field(default_factory=list)
    auto_replies: list[tuple[str, datetime]] = field(default_factory=list)
    seen_keys: dict[str, FirstCopy] = field(default_factory=dict)
    notices: list[tuple[str, str, str, datetime]] = field(default_factory=list)  # role, cause, about, when
    description: str = "empty state: every sender is unknown and there are no tickets"

    def user_by_email(self, address):
        return next((u for u in self.users if u.email.lower() == address.lower()), None)

    def user_by_login(self, login):
        return next((u for u in self.users if u.login == login), None)

    def organisation(self, name):
        return next((o for o in self.organisations if o.name == name), None)

    def organisation_by_domain(self, domain):
        return next((o for o in self.organisations if domain.lower() in (d.lower() for d in o.domains)), None)

    def group(self, name):
        return next((g for g in self.groups if g.name.lower() == name.lower()), None)

    def ticket(self, number):
        return self.tickets.get(number)

    def ticket_by_message_id(self, message_id):
        bare = message_id.strip().strip("<>")
        return self.message_ids.get(bare, self.note_ids.get(bare))

    def ticket_by_sent_message_id(self, message_id):
        return self.message_ids.get(message_id.strip().strip("<>"))

    def next_ticket_number(self):
        return max(self.tickets, default=0) + 1

    def sender_message_count(self, mailbox, address, since, until):
        return sum(1 for r in self.recent if r.mailbox == mailbox and r.sender == address.lower() and since <= r.at <= until)

    def recent_ticket_by_sender_subject(self, mailbox, address, subject, since, until):
        matches = [r for r in self.recent if r.mailbox == mailbox and r.sender == address.lower()
                   and r.subject == subject and since <= r.at <= until and r.ticket is not None]
        return matches[0].ticket if matches else None

    def auto_replies_sent(self, address, since):
        return sum(1 for to, at in self.auto_replies if to == address.lower() and at >= since)

    def message_seen(self, duplicate_key):
        return self.seen_keys.get(duplicate_key)

    def last_notice(self, role, cause, about):
        return max((at for r, c, a, at in self.notices if (r, c, a) == (role, cause, about.lower())), default=None)

    def logged_since(self, reason, address, since):
        return sum(1 for r in self.recent if r.reason == reason and r.sender == address.lower() and r.at > since)


def from_ruleset(ruleset: Ruleset) -> MemoryState:
    """The users, groups and organisations the config itself declares."""
    directory = ruleset.directory
    return MemoryState(
        users=[User(u["login"], u["email"], u.get("name", ""), u["role"], u.get("organisation"))
               for u in directory["users"]],
        organisations=[Organisation(o["name"], tuple(o.get("domains", ())), o["shares_tickets"])
                       for o in directory["organisations"]],
        groups=[Group(g["name"], tuple(g.get("members", ()))) for g in directory["groups"]],
        description="config directory only: no tickets")


def load_fixture(path: Path, ruleset: Ruleset, now: datetime) -> MemoryState:
    """A directory fixture (users, organisations, groups, tickets, recent mail) on top of the config's."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise UsageError(f"cannot read directory fixture {path}: {err}") from None
    state = from_ruleset(ruleset)
    state.users += [User(u["login"], u["email"], u.get("name", ""), u.get("role", "requester"), u.get("organisation"))
                    for u in data.get("users", [])]
    state.organisations += [Organisation(o["name"], tuple(o.get("domains", ())), o.get("shares_tickets", False))
                            for o in data.get("organisations", [])]
    state.groups += [Group(g["name"], tuple(g.get("members", ()))) for g in data.get("groups", [])]
    for t in data.get("tickets", []):
        state.tickets[t["number"]] = Ticket(
            t["number"], t.get("subject", ""), t.get("status", "open"), t.get("requester"), t.get("organisation"),
            tuple(t.get("distribution", ())), t.get("assignee_user"), t.get("assignee_group"),
            t.get("quick_pick"), t.get("logging_technician"))
        for message_id in t.get("message_ids", []):  # mail mailgate sent about the ticket
            state.message_ids[message_id.strip("<>")] = t["number"]
        for message_id in t.get("note_message_ids", []):  # incoming mail stored on the ticket
            state.note_ids[message_id.strip("<>")] = t["number"]
    state.recent = [Recent(r.get("mailbox", ""), r["sender"].lower(), bundle_subject(r.get("subject", ""), ruleset.reply_prefixes),
                           now - timedelta(minutes=r.get("minutes_ago", 0)), r.get("ticket"), r.get("reason", ""))
                    for r in data.get("recent", [])]
    state.auto_replies = [(a["to"].lower(), now - timedelta(minutes=a.get("minutes_ago", 0)))
                          for a in data.get("auto_replies", [])]
    state.seen_keys = dict(_seen(entry) for entry in data.get("seen_keys", []))
    state.notices = [(n["role"], n["cause"], n["about"].lower(), now - timedelta(minutes=n.get("minutes_ago", 0)))
                     for n in data.get("notices", [])]
    state.description = f"directory fixture {path}"
    return state


def _seen(entry) -> tuple[str, FirstCopy]:
    """A `seen_keys` entry: the bare key, or {key, mailbox, outcome, reason} of the first copy."""
    if isinstance(entry, str):
        return entry, FirstCopy("")
    return entry["key"], FirstCopy(entry.get("mailbox", ""), entry.get("outcome", ""), entry.get("reason", ""))
