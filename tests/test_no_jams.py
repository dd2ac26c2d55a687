"""No jams: a second copy of ANY mail, whatever its first copy became, is a logged duplicate and
the mailbox keeps flowing, on SQLite and PostgreSQL.

Every reason evaluate() can give (checked against the source below) has a scenario: a mailbox
whose options produce it, the first copy (after any setup mail), then, in a later poll, a
second copy of exactly the same bytes and one ordinary mail after it. The second copy must be
logged as a duplicate naming what the first became, send nothing, and be acknowledged; the
mail after it must make its ticket and be acknowledged too.

SPEC IDs proved here: F-PRE-6, F-FAIL-1, F-OUT-5.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

import engine.run.poll
from engine.cli import main
from tests.polltools import REPO, drop, files, maildir_box, make_mail, open_store, write_config

NEXT_ADDRESS = "jane.doe@example.com"  # a technician: every mailbox here takes her new mail
NEXT = f"Jane Doe <{NEXT_ADDRESS}>"
GARBAGE = b"\x00\x01\x02\xff\xfe not a mail at all \x00\x00\x89PNG\r\n\x1a\n" * 20


@dataclass
class Context:
    """What a scenario's first copy may refer to: tickets and mail made by its setup."""

    store: object
    box: str

    def ticket(self, subject: str) -> int:
        return next(t.number for t in self.store.tickets(mailbox=self.box) if t.subject == subject)

    def auto_reply_id(self) -> str:
        return next(m.message_id for m in self.store.outbox_messages() if m.mailbox == self.box and m.kind == "auto_reply")


@dataclass
class Scenario:
    """A mailbox (options) whose first copy ends with `reason`."""

    outcome: str
    reason: str
    first: Callable[[Context], bytes]
    options: dict = field(default_factory=dict)
    setup: list[bytes] = field(default_factory=list)
    close_setup_ticket: bool = False
    accept_from: str = "everyone"  # rules-wide: scenarios that change it get a config of their own
    after: str = "create_ticket"  # what the ordinary mail after the copy becomes in this mailbox


def _mail(subject: str, sender: str = "Alice Archer <alice@acme.test>", **kw) -> Callable[[Context], bytes]:
    return lambda ctx: make_mail(subject, sender=sender, **kw)


def _reply(sender: str = "Alice Archer <alice@acme.test>") -> Callable[[Context], bytes]:
    return lambda ctx: make_mail(f"Re: Seed request [Ticket#{ctx.ticket('Seed request')}]", sender=sender,
                                 body="Any news on this?\n")


def _no_sender(ctx: Context) -> bytes:
    return b"To: support@example.com\r\nSubject: Who am I\r\nMessage-ID: <nobody.1@nowhere.test>\r\n\r\nHello\r\n"


def _bounce(ctx: Context) -> bytes:
    original = ctx.auto_reply_id()  # the auto-reply to Bea's seed request
    return (f"Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example.com (Mail Delivery System)\r\n"
            f"To: support@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            f"Message-ID: <bounce.{original}>\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
            f"--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
            f"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
            f"Final-Recipient: rfc822; bea@acme.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
            f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: support@example.com\r\n"
            f"To: bea@acme.test\r\nMessage-ID: <{original}>\r\n\r\n--B--\r\n").encode()


def seed(sender: str = "Alice Archer <alice@acme.test>") -> bytes:
    """The request a scenario's reply refers to (fresh bytes each: the same mail in two mailboxes is one)."""
    return make_mail("Seed request", sender=sender, body="Please look at this.\n")


def _twice(raw: bytes) -> Scenario:
    """A first copy that is itself a copy of a mail processed before."""
    return Scenario("ignore", "duplicate", lambda ctx: raw, setup=[raw])


LOOPER = "Loop Bot <bot@loop.test>"
SCENARIOS = {
    "new_ticket": Scenario("create_ticket", "new_ticket", _mail("Monitor flickers")),
    "reply": Scenario("add_note", "reply", _reply(), setup=[seed()]),
    "reopened": Scenario("add_note", "reopened", _reply(), setup=[seed()], close_setup_ticket=True),
    "reply_to_closed": Scenario("add_note", "reply_to_closed", _reply(), setup=[seed()], close_setup_ticket=True,
                                options={"replies": {"closed_tickets": "note"}}),
    "ticket_closed": Scenario("ignore", "ticket_closed", _reply(), setup=[seed()], close_setup_ticket=True,
                              options={"replies": {"closed_tickets": "ignore"}}),
    "bounce_filed": Scenario("add_note", "bounce_filed", _bounce, setup=[seed("Bea <bea@acme.test>")]),
    "auto_bundled": Scenario("bundle", "auto_bundled", _mail("Scanner offline", sender="Ann <ann@acme.test>"),
                             setup=[make_mail("Scanner offline", sender="Ann <ann@acme.test>")]),
    "unknown_reference": Scenario("reject", "unknown_reference", _mail("Re: Old thing [Ticket#9999]"),
                                  options={"replies": {"unknown_reference": "reject"}}),
    "not_visible": Scenario("reject", "not_visible", _reply("Email Guest <guest@example.com>"), setup=[seed()]),
    "anonymous_update": Scenario("reject", "anonymous_update", _reply("Stranger <stranger@elsewhere.test>"),
                                 setup=[seed()], options={"unknown_senders": {"update_anonymously": False}}),
    "anonymous_create": Scenario("reject", "anonymous_create", _mail("Hi", sender="Stranger <stranger@elsewhere.test>"),
                                 options={"unknown_senders": {"create_anonymously": False}}),
    "unknown_sender": Scenario("reject", "unknown_sender", _mail("Hi", sender="Stranger <stranger@elsewhere.test>"),
                               options={"unknown_senders": {"policy": "reject"}}),
    "reply_only_mailbox": Scenario("reject", "reply_only_mailbox", _mail("Brand new request"),
                                   options={"new_tickets": {"create_tickets": False}}, after="reject"),
    "too_large": Scenario("reject", "too_large", _mail("Huge scan", body="x" * 4000 + "\n"),
                          options={"size_limits": {"max_message_mb": 0.002}}),
    "subject_too_long": Scenario("reject", "subject_too_long", _mail("Long " * 100)),
    "auto_generated": Scenario("ignore", "auto_generated", _mail("I am away", headers={"Auto-Submitted": "auto-replied"})),
    "sender_filtered": Scenario("ignore", "sender_filtered", _mail("Patch night", sender="System Administrator <root@acme.test>")),
    "subject_filtered": Scenario("ignore", "subject_filtered", _mail("Out of Office")),
    "keyword": Scenario("reject", "keyword", _mail("[SPAM] cheap watches")),
    "mail_loop": Scenario("reject", "mail_loop", _mail("Alert 6", sender=LOOPER),
                          setup=[make_mail(f"Alert {i}", sender=LOOPER) for i in range(1, 6)]),
    "mail_loop_ignored": Scenario("ignore", "mail_loop", _mail("Alert 6", sender=LOOPER),
                                  setup=[make_mail(f"Alert {i}", sender=LOOPER) for i in range(1, 6)],
                                  options={"loop_prevention": {"action": "ignore"}}),
    # The shipped example routes: spam-trap ignores, blocked-partner rejects (F-ROUTE-1).
    "route_ignore": Scenario("ignore", "route", _mail("Great offer", sender="Sam <sam@elsewhere.test>",
                                                      to="trap@example.com")),
    "route_reject": Scenario("reject", "route", _mail("Hello again", sender="Pat <pat@former-partner.example>")),
    "no_sender": Scenario("reject", "no_sender", _no_sender),
    "duplicate": _twice(seed()),
    "unreadable": Scenario("quarantine", "unreadable", lambda ctx: GARBAGE),
    "processing_failed": Scenario("quarantine", "processing_failed", _mail("BOOM: apply fails on this one")),
    "sender_not_accepted": Scenario("ignore", "sender_not_accepted", _mail("Requester mail"), accept_from="technicians"),
}


def test_every_reason_evaluate_gives_has_a_scenario():
    """A reason added to the engine later must get a second-copy scenario here too."""
    source = "\n".join(p.read_text() for p in (REPO / "engine" / "evaluate").glob("*.py"))
    reasons = set(re.findall(r'finish\(Outcome\.[A-Z_]+, "([a-z_]+)"', source)) | {"processing_failed"}
    assert reasons <= {s.reason for s in SCENARIOS.values()}, reasons - {s.reason for s in SCENARIOS.values()}


def _poll(config: Path, store_url: str | None) -> None:
    assert main(["poll", "--once", "--config", str(config), *(("--store", store_url) if store_url else ())]) == 0


def _failing_apply(real):
    def apply(tx, decision, message, *args, **kwargs):
        if message.subject.startswith("BOOM") and decision.reason not in ("duplicate", "processing_failed"):
            raise RuntimeError("a bug in apply")
        return real(tx, decision, message, *args, **kwargs)
    return apply


def _run_group(root: Path, scenarios: dict[str, Scenario], store_url: str | None) -> list[str]:
    """Setup poll, first-copy poll, second-copy poll for every scenario in one config; the problems found."""
    # The first mailbox has the settings' return address (F-OUT-6); each other one its own.
    addresses = ["support@example.com"] + [f"{name.replace('_', '-')}@example.com" for name in list(scenarios)[1:]]
    boxes = {name: maildir_box(name.replace("_", "-"), address, f"var/maildir/{name}", **s.options)
             for (name, s), address in zip(scenarios.items(), addresses)}
    config = write_config(root, list(boxes.values()))
    accept = {s.accept_from for s in scenarios.values()}.pop()
    filters = config / "rules" / "10-filters.yaml"
    filters.write_text(filters.read_text().replace("accept_from: everyone", f"accept_from: {accept}"))
    maildir = {name: config / "var" / "maildir" / name for name in scenarios}
    for name, s in scenarios.items():
        for i, raw in enumerate(s.setup):
            drop(maildir[name], raw, f"0{i}.setup")
    _poll(config, store_url)
    store = open_store(config, store_url)
    try:
        for name, s in scenarios.items():
            if s.close_setup_ticket:
                with store.transaction() as tx:
                    tx.set_ticket_fields(Context(store, boxes[name]["name"]).ticket("Seed request"), status="closed")
            drop(maildir[name], s.first(Context(store, boxes[name]["name"])), "1.first")
    finally:
        store.close()
    _poll(config, store_url)
    store = open_store(config, store_url)
    outbox_before = len(store.outbox_messages(limit=10_000))
    store.close()
    for name in scenarios:
        raw = next(p for p in (maildir[name] / "cur").iterdir() if p.name.startswith("1.first")).read_bytes()
        drop(maildir[name], raw, "2.second")
        drop(maildir[name], make_mail(f"After the copy in {name}", sender=NEXT), "3.next")
    _poll(config, store_url)
    return _problems(config, store_url, scenarios, boxes, maildir, outbox_before)


def _problems(config, store_url, scenarios, boxes, maildir, outbox_before) -> list[str]:
    problems = []
    store = open_store(config, store_url)
    try:
        for name, s in scenarios.items():
            box = boxes[name]["name"]
            first, second, after = (store.processed(box, key) for key in ("1.first", "2.second", "3.next"))
            if (first.outcome, first.reason) != (s.outcome, s.reason):
                problems.append(f"{name}: first copy became {first.outcome} ({first.reason}), not {s.outcome} ({s.reason})")
                continue
            steps = [step for step in second.trace if step.get("rule") == "duplicate" and step.get("hit")]
            if (second.outcome, second.reason) != ("ignore", "duplicate") or not steps:
                problems.append(f"{name}: second copy became {second.outcome} ({second.reason})")
            elif s.reason != "duplicate" and f"a copy was {s.outcome} ({s.reason})" not in steps[0]["detail"]:
                problems.append(f"{name}: the duplicate's trace does not say what the first became: {steps[0]['detail']}")
            if after is None or after.outcome != s.after:
                problems.append(f"{name}: the mail after the copy was not processed: {after}")
            acked = sorted(p.name.split(":")[0] for p in (maildir[name] / "cur").iterdir())
            if not {"2.second", "3.next"} <= set(acked) or files(maildir[name])["new"]:
                problems.append(f"{name}: not acknowledged: {files(maildir[name])}")
        queued = store.outbox_messages(limit=10_000)  # newest first
        by_copies = [(m.kind, m.to_addr, m.about) for m in queued[: len(queued) - outbox_before] if m.about != NEXT_ADDRESS]
        if by_copies:
            problems.append(f"the copies sent mail: {by_copies}")
    finally:
        store.close()
    return problems


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request) -> str | None:
    return None if request.param == "sqlite" else request.getfixturevalue("postgres_url")


def test_a_second_copy_of_every_outcome_is_a_logged_duplicate_and_the_mailbox_flows_F_PRE_6_F_FAIL_1(
        tmp_path, store_url, monkeypatch):
    monkeypatch.setattr(engine.run.poll, "apply", _failing_apply(engine.run.poll.apply))
    groups: dict[str, dict[str, Scenario]] = {}
    for name, scenario in SCENARIOS.items():
        groups.setdefault(scenario.accept_from, {})[name] = scenario
    problems = []
    for accept, scenarios in groups.items():
        problems += _run_group(tmp_path / accept, scenarios, store_url)
    assert problems == []
