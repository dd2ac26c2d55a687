"""Routing rules: conditions on any part of a mail, actions on its ticket (the postmaster filters of OTRS and Zammad).

`route` runs after the sender and the referenced ticket are known: it finds the routes
that match, in order, stops at the first unless it says `continue`, settles an
`ignore` or `reject` at once, and keeps the field actions for `apply_fields`, which
runs once the outcome is a ticket or a note: after the mailbox defaults and the type
from the subject, before an authenticated technician's tokens (which may override).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from engine.config.routes import FIELD_ACTIONS, Calendar, Route
from engine.decision import Outcome
from engine.evaluate.authenticity import authenticity
from engine.evaluate.body import cut_excluded
from engine.evaluate.draft import Draft

STAGE = "routes"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Route action -> the ticket field it sets.
TICKET_FIELD = {"group": "assignee_group", "assignee": "assignee_user", "priority": "priority", "type": "type",
                "subtype": "subtype", "class": "ticket_class", "category": "category"}


def route(d: Draft) -> bool:
    """Match the routes in order; an ignore or reject route settles the outcome (F-ROUTE-1)."""
    routes = d.ruleset.routes
    if not routes.routes:
        return False
    facts = MailFacts(d)
    candidates = routes.candidates(facts.values_of_anchor)
    if len(candidates) < len(routes.routes):
        d.step(STAGE, "index", False, f"{len(routes.routes) - len(candidates)} of {len(routes.routes)} route(s) "
               "cannot match: their first test finds nothing in this mail")
    for candidate in candidates:
        holds, why = candidate.when.check(facts)
        d.step(STAGE, candidate.name, holds, why, candidate.origin)
        if not holds:
            continue
        if _settles(d, candidate):
            return True
        d.routes_hit.append(candidate)
        if candidate.stop:
            break
    return False


def admits_machine_mail(d: Draft) -> bool:
    """Does a route take this machine-generated mail the mailbox would ignore (process_auto_generated)?"""
    facts = MailFacts(d)
    for candidate in d.ruleset.routes.candidates(facts.values_of_anchor):
        if candidate.then.get("process_auto_generated"):
            holds, why = candidate.when.check(facts)
            if holds:
                d.step(STAGE, candidate.name, True, f"processes this machine mail: {why}", candidate.origin)
                return True
    return False


def _settles(d: Draft, hit: Route) -> bool:
    if "ignore" in hit.then:
        return d.finish(Outcome.IGNORE, "route", f"route {hit.name}: {hit.then['ignore']}")
    if "reject" in hit.then:
        d.notify.append("error_notice")
        return d.finish(Outcome.REJECT, "route", f"route {hit.name}: {hit.then['reject']}")
    return False


def apply_fields(d: Draft) -> None:
    """The field actions of every route that matched, later routes over earlier ones; each traced."""
    for hit in d.routes_hit:
        for action, value in hit.then.items():
            _act(d, hit, action, value)


def _act(d: Draft, hit: Route, action: str, value) -> None:
    shown = ", ".join(value) if isinstance(value, tuple) else (
        ", ".join(f"{k} = {v}" for k, v in value.items()) if isinstance(value, Mapping) else value)
    said = f"{action}: {shown}"
    if action in FIELD_ACTIONS:
        d.ticket[TICKET_FIELD[action]] = value
        if action in ("group", "assignee"):  # a ticket is assigned to a user or a group, not both
            d.ticket["assignee_user" if action == "group" else "assignee_group"] = None
    elif action == "custom_fields":
        d.ticket["custom_fields"] = tuple(sorted({**dict(d.ticket.get("custom_fields", ())), **value}.items()))
    elif action == "tags":
        d.ticket["tags"] = tuple(dict.fromkeys((*d.ticket.get("tags", ()), *value)))
    elif action == "distribution":
        own = {m.address.lower() for m in d.ruleset.mailboxes}
        d.distribution_adds += [a.lower() for a in value if a.lower() not in own and a.lower() not in d.distribution_adds]
    elif action == "hidden_from_portal":
        d.hidden_by_route = bool(value)
    elif action == "auto_reply":
        d.auto_reply_template = value or ""
        said = f"auto_reply: {value or 'none'}"
    elif action == "process_auto_generated":
        return  # decided in the prechecks (admits_machine_mail)
    d.step(STAGE, f"{hit.name}: {action}", True, said, hit.origin)


class MailFacts:
    """The parts of one mail that route conditions read, each worked out once."""

    def __init__(self, d: Draft):
        self.d = d
        self._values: dict[str, tuple[str, ...]] = {}
        self._headers: dict[str, tuple[str, ...]] | None = None

    def values_of_anchor(self, name: str) -> tuple[str, ...]:
        return self.header(name[7:]) if name.startswith("header:") else self.values(name)

    def values(self, name: str) -> tuple[str, ...]:
        if name not in self._values:
            self._values[name] = tuple(v for v in getattr(self, f"_{name}")() if v)
        return self._values[name]

    def header(self, name: str) -> tuple[str, ...]:
        if self._headers is None:
            found: dict[str, list[str]] = {}
            for key, value in self.d.message.headers:
                found.setdefault(key, []).append(value)
            self._headers = {key: tuple(values) for key, values in found.items()}
        return self._headers.get(name, ())

    def _sender(self):
        return (self.d.sender or "",)

    def _sender_domain(self):
        return ((self.d.sender or "").rpartition("@")[2],)

    def _sender_name(self):
        return (self.d.sender_name,)

    def _recipient(self):
        message = self.d.message
        listed = [a.address for a in (*message.to, *message.cc)]
        for name in ("delivered-to", "x-original-to"):
            listed += [v.strip().strip("<>") for v in self.header(name)]
        return tuple(dict.fromkeys(a.lower() for a in listed if a))

    def _subject(self):
        return (self.d.message.subject,)

    def _body(self):
        return (cut_excluded(self.d, self.d.message.text or "")[0],)  # excluded text cut (F-BODY-1)

    def _attachment_name(self):
        return tuple(a.filename or "" for a in self.d.message.attachments)

    def _attachment_type(self):
        return tuple(a.content_type or "" for a in self.d.message.attachments)

    def _organisation(self):
        if self.d.user is not None:
            return (self.d.user.organisation or "",)
        created = next((u for u in self.d.users_to_create if u.email == self.d.requester), None)
        return ((created.organisation or "") if created else "",)

    def number(self, name: str) -> int:
        attachments = self.d.message.attachments
        return len(attachments) if name == "attachment_count" else sum(a.size for a in attachments)

    def kind(self) -> str:
        return auto_generated_kind(self.d.message)

    def authentication(self) -> str:
        verdict = authenticity(self.d)
        return "fail" if verdict.dmarc_failed else "pass" if verdict.aligned_pass else "none"

    def mailbox(self) -> str:
        return self.d.mailbox.name

    def is_reply(self) -> bool:
        return self.d.existing is not None

    def in_group(self, group: str) -> bool:
        found = self.d.state.group(group)
        login = self.d.user.login if self.d.user else None
        return bool(found and login and login in found.members)

    def in_business_hours(self, calendar: str) -> bool:
        # When the mail ARRIVED, not when it is read: a backlog read at 09:00 after a night's
        # downtime holds mail that came in after hours (F-ROUTE-1, F-PRE-5's arrival time).
        return in_hours(self.d.ruleset.calendars[calendar], self.d.arrived or self.d.now)


def in_hours(calendar: Calendar, moment: datetime) -> bool:
    """Whether `moment` falls on a working day, outside the holidays, within the working hours."""
    local = moment.astimezone(ZoneInfo(calendar.time_zone))
    if WEEKDAYS[local.weekday()] not in calendar.weekdays or local.date().isoformat() in calendar.holidays:
        return False
    minute = local.hour * 60 + local.minute
    return calendar.start_minute <= minute < calendar.end_minute


def auto_generated_kind(message) -> str:
    """none, out_of_office, delivery_report, list or auto_submitted, from what parse found."""
    # One classifier for routes and the mailbox's per-kind actions: parse's (engine.parse.autokind).
    auto = message.auto_generated
    return (auto.kind or "auto_submitted") if auto.value else "none"
