"""The store equals the decision: apply a golden case's decision to a throwaway store and compare.

seed() writes the case's world (the config's and the fixture's directory, its tickets and
their Message-IDs) into the store; snapshot() reads back everything apply can touch;
expected() is what the decision says the store must hold afterwards, worked out from the
snapshot before; differences() lists every place where the store and the decision disagree.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from engine.apply.apply import apply, outgoing_headers
from engine.decision import Decision, Outcome
from engine.store.directory_import import sync_config_directory

CONTENT = (Outcome.CREATE_TICKET, Outcome.ADD_NOTE, Outcome.BUNDLE)
KEY = "case.eml"  # the message key the case is applied under


def wipe(store) -> None:
    """Empty every table (the schema stays), so one database serves case after case."""
    from sqlalchemy import delete

    from engine.store.schema import metadata

    with store.transaction() as tx:
        for table in reversed(metadata.sorted_tables):
            tx._exec(delete(table))


def seed(store, case, ruleset) -> None:
    """Users, organisations, groups, tickets, distribution lists and sent Message-IDs of the case."""
    fixture = _fixture(case)
    directory = {kind: [*ruleset.directory.get(kind, ()), *fixture.get(kind, ())]
                 for kind in ("organisations", "users", "groups")}
    sync_config_directory(store, directory)
    with store.transaction() as tx:
        for t in fixture.get("tickets", ()):
            _ticket(tx, t)


def _fixture(case) -> dict:
    if not case.spec.get("directory"):
        return {}
    return yaml.safe_load((case.path.parent / case.spec["directory"]).read_text(encoding="utf-8")) or {}


def _ticket(tx, t: dict) -> None:
    user = lambda login: tx.user_by_login(login).id if login else None  # noqa: E731
    requester = tx.user_by_email(t["requester"]) if t.get("requester") else None
    organisation = tx.organisation_by_name(t["organisation"]) if t.get("organisation") else None
    group = tx.group(t["assignee_group"]) if t.get("assignee_group") else None
    tx.create_ticket(t.get("subject", ""), number=t["number"], status=t.get("status", "open"),
                     requester_id=requester and requester.id, organisation_id=organisation and organisation.id,
                     template=t.get("quick_pick"), logging_technician_id=user(t.get("logging_technician")),
                     assignee_user_id=user(t.get("assignee_user")), assignee_group_id=group and group.id)
    for address in t.get("distribution", ()):
        found = tx.user_by_email(address)
        tx.add_distribution(t["number"], address, found and found.id)
    for message_id in t.get("message_ids", ()):
        tx.record_outgoing_message_id(message_id, t["number"])


def run(store, case, found) -> None:
    """Apply the case's decision for its mail (as the mailbox reads it) in one transaction, as the poller does."""
    with store.transaction() as tx:
        apply(tx, found.decision, found.message, case.mail.read_bytes(), KEY)


# ---- what the store holds ----

def snapshot(store) -> dict[str, Any]:
    """Everything apply can write, keyed by what identifies it, without ids and times."""
    with store.snapshot() as r:
        users = {u.id: u for u in r.users()}
        orgs = {o.id: o.name for o in r.organisations()}
        groups = {g.id: g.name for g in r.groups()}
        login = lambda uid: users[uid].login if uid in users else None  # noqa: E731
        tickets = r.tickets(limit=100_000)
        return {
            "users": {u.email: (u.login, u.name, u.role, orgs.get(u.organisation_id), u.location) for u in users.values()},
            "organisations": {o.name: tuple(sorted(o.domains)) for o in r.organisations()},
            "tickets": {t.number: {
                "subject": t.subject, "status": t.status, "closed": t.closed_at is not None, "type": t.type,
                "subtype": t.subtype, "ticket_class": t.ticket_class, "category": t.category, "priority": t.priority,
                "assignee_user": login(t.assignee_user_id), "assignee_group": groups.get(t.assignee_group_id),
                "requester": users[t.requester_id].email if t.requester_id in users else None,
                "organisation": orgs.get(t.organisation_id), "quick_pick": t.template,
                "source_mailbox": t.source_mailbox, "source": t.source,
                "logging_technician": login(t.logging_technician_id)} for t in tickets},
            "notes": {t.number: [(n.text, n.html, n.author_address, n.hidden_from_portal, n.message_id)
                                 for n in r.notes(t.number)] for t in tickets},
            "attachments": {t.number: sorted(_attachment(a) for a in r.attachments(t.number)) for t in tickets},
            "distribution": {t.number: sorted(e.address.lower() for e in r.distribution_list(t.number)) for t in tickets},
            "custom_fields": {t.number: r.custom_fields(t.number) for t in tickets},
            "tags": {t.number: r.tags(t.number) for t in tickets},
            "outbox": sorted((m.kind, m.to_addr, m.message_id, m.ticket_number, m.mailbox, m.body, m.headers)
                             for m in r.outbox_messages(limit=100_000)),
            "log": sorted((e.mailbox, e.message_key, e.outcome, e.reason, e.ticket_number, e.sender)
                          for e in r.processing_log(limit=100_000)),
            "quarantine": sorted((q.mailbox, q.message_key, q.size) for q in r.quarantined()),
        }


def _attachment(a) -> tuple:
    # An HTML rendering's bytes are apply's to choose; that one is there and not empty is the decision's.
    return a.filename, a.content_type, a.size > 0 if a.filename == RENDERING else a.size


RENDERING = "message.html"


# ---- what the decision says it must hold ----

def expected(before: dict, decision: Decision, raw: bytes) -> dict:
    """The snapshot the store must show after applying `decision` to the store of `before`."""
    after = copy.deepcopy(before)
    ticket = None
    if decision.outcome in CONTENT:
        for user in decision.users_to_create:
            after["users"].setdefault(user.email, (user.login, user.name, user.role, user.organisation, user.location))
        for domain in decision.organisations_to_create:
            after["organisations"].setdefault(domain, (domain,))
        ticket = _ticket_change(after, decision)
        _note(after, decision, ticket)
        _attachments(after, decision, raw, ticket)
        after["distribution"][ticket] = sorted({*after["distribution"][ticket], *decision.distribution_adds})
        after["custom_fields"][ticket] = {**after["custom_fields"][ticket], **dict(decision.ticket.custom_fields)}
        after["tags"][ticket] = sorted({*after["tags"][ticket], *decision.ticket.tags})
    if decision.outcome is Outcome.QUARANTINE or decision.keep_raw:  # a refused human mail is kept for replay
        after["quarantine"] = sorted([*after["quarantine"], (decision.mailbox, KEY, len(raw))])
    after["outbox"] = sorted([*after["outbox"], *((m.role, m.to, m.message_id.strip("<>"), ticket, decision.mailbox,
                                                   m.body, outgoing_headers(m)) for m in decision.outgoing)])
    after["log"] = sorted([*after["log"], (decision.mailbox, KEY, decision.outcome.value, decision.reason, ticket,
                                           decision.sender)])
    return after


FIELDS = ("type", "subtype", "ticket_class", "category", "priority")


def _ticket_change(after: dict, decision: Decision) -> int:
    change = decision.ticket
    fields = {k: getattr(change, k) for k in FIELDS if getattr(change, k) is not None}
    if change.assignee_user or change.assignee_group:
        fields.update(assignee_user=change.assignee_user, assignee_group=change.assignee_group)
    if change.status:
        fields.update(status=change.status, closed=change.status == "closed")
    if change.new:
        after["tickets"][change.number] = {
            "subject": change.subject, "status": "open", "closed": False, **dict.fromkeys(FIELDS),
            "assignee_user": None, "assignee_group": None, "requester": change.requester,
            "organisation": change.organisation, "quick_pick": change.quick_pick,
            "source_mailbox": change.source_mailbox, "source": "Email",
            "logging_technician": change.logging_technician, **fields}
        for part in ("notes", "attachments", "distribution", "tags"):
            after[part][change.number] = []
        after["custom_fields"][change.number] = {}
    else:
        after["tickets"][change.number].update(fields)
    return change.number


def _note(after: dict, decision: Decision, ticket: int) -> None:
    note = decision.note
    if note is None:
        return
    text = note.text
    message_id = note.message_id.strip("<>") if note.message_id else None
    after["notes"][ticket] = [*after["notes"][ticket],
                              (text, note.html, note.author, note.hidden_from_portal, message_id)]


def _attachments(after: dict, decision: Decision, raw: bytes, ticket: int) -> None:
    kept = [(a.filename or "attachment", a.content_type, a.size) for a in decision.attachments if a.kept]
    extras = {"raw_message": ("message.eml", "message/rfc822", len(raw)),
              "html_rendering": (RENDERING, "text/html", True)}
    kept += [extras[extra] for extra in decision.extra_attachments]
    after["attachments"][ticket] = sorted([*after["attachments"][ticket], *kept])


def differences(want: dict, got: dict, path: str = "store") -> list[str]:
    """Readable differences between the store the decision implies and the store apply left."""
    if isinstance(want, dict) and isinstance(got, dict):
        problems = []
        for key in sorted({*want, *got}, key=str):
            if key not in got:
                problems.append(f"{path}.{key}: the decision implies {want[key]!r}, the store has nothing")
            elif key not in want:
                problems.append(f"{path}.{key}: the store has {got[key]!r}, which the decision does not imply")
            else:
                problems += differences(want[key], got[key], f"{path}.{key}")
        return problems
    return [] if want == got else [f"{path}: the decision implies {want!r}, the store has {got!r}"]
