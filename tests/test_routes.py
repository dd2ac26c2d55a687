"""Routing rules (F-ROUTE-1): every condition and action, order and precedence, the index, and validate.

Each test compiles the shipped config plus one routes file of its own and evaluates
a mail with the same evaluate() the poller runs; the golden cases route1-* cover the
shipped example routes.
"""

from __future__ import annotations

import random
import shutil
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest

from engine.config.compile import load_ruleset
from engine.config.routes import RouteIndex, build_routes
from engine.config.validate import check
from engine.errors import ConfigError
from engine.evaluate import evaluate
from engine.parse import parse
from engine.store.memory_state import load_fixture

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
FIXTURE = REPO / "tests" / "cases" / "fixtures" / "helpdesk.yaml"


def config(tmp_path: Path, routes_yaml: str, extra: str = "") -> Path:
    """The shipped config with its example routes replaced by `routes_yaml`."""
    shutil.copytree(REPO / "rules", tmp_path / "rules")
    shutil.copytree(REPO / "mailboxes.d", tmp_path / "mailboxes.d")
    (tmp_path / "rules" / "65-routes.yaml").write_text(
        "version: 1\ncalendars:\n  - {name: office, time_zone: Europe/Berlin, hours: '08:00-17:00'}\n"
        + extra + "routes:\n" + routes_yaml)
    return tmp_path


def mail(sender="Alice Archer <alice@acme.test>", to="support@example.com", subject="Printer jam",
         body="The printer on floor 2 jams.\n", headers=None, attachments=()) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"], message["Message-ID"] = "Wed, 14 Jan 2026 09:00:00 +0100", "<m1@acme.test>"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return bytes(message)


def decide(directory: Path, raw: bytes, now: datetime = NOW, arrived: datetime | None = None):
    ruleset = load_ruleset(directory)
    return evaluate(parse(raw), ruleset, load_fixture(FIXTURE, ruleset, now), now, "demo", arrived)


def route(name: str, when: str, then: str = "{tags: [hit]}", more: str = "") -> str:
    return f"  - name: {name}\n    when: {when}\n    then: {then}\n{more}"


def tags(decision) -> tuple:
    return decision.ticket.tags if decision.ticket else ()


@pytest.mark.parametrize("when, raw, hits", [
    ("{sender: {equals: alice@acme.test}}", mail(), True),
    ("{sender_domain: {contains: acme}}", mail(), True),
    ("{sender_name: {matches: '^alice'}}", mail(), True),
    ("{sender_name: {matches: '^alice', case_sensitive: true}}", mail(), False),
    ("{subject: {contains: [toner, jam]}}", mail(), True),
    ("{subject: {equals: printer}}", mail(), False),
    ("{recipient: {equals: billing@example.com}}", mail(to="support@example.com, Billing@Example.com"), True),
    ("{recipient: {equals: billing@example.com}}", mail(headers={"Delivered-To": "billing@example.com"}), True),
    ("{body: {contains: floor 2}}", mail(), True),
    ("{attachment_name: {matches: '\\.xlsx$'}}", mail(attachments=[("q.xlsx", "application/vnd.ms-excel", b"x")]), True),
    ("{attachment_type: {equals: application/pdf}}", mail(attachments=[("a.pdf", "application/pdf", b"%PDF")]), True),
    ("{attachment_count: {min: 2}}", mail(attachments=[("a.txt", "text/plain", b"a")]), False),
    ("{attachment_bytes: {min: 1000}}", mail(attachments=[("a.bin", "application/octet-stream", b"x" * 2000)]), True),
    ("{header: {name: X-Priority, matches: '^1'}}", mail(headers={"X-Priority": "1 (Highest)"}), True),
    ("{header: {name: X-Priority, exists: false}}", mail(), True),
    ("{auto_generated: none}", mail(), True),
    ("{auto_generated: out_of_office}", mail(headers={"Auto-Submitted": "auto-replied"}), False),  # ignored before routes
    ("{authentication: none}", mail(), True),
    ("{mailbox: demo}", mail(), True),
    ("{is: new}", mail(), True),
    ("{organisation: {equals: Acme Ltd}}", mail(), True),
    ("{requester_group: Messaging}", mail(sender="Rob Smith <rob.smith@example.com>"), True),
    ("{any: [{subject: {contains: toner}}, {sender_domain: {equals: acme.test}}]}", mail(), True),
    ("{not: {sender_domain: {equals: acme.test}}}", mail(), False),
    ("{all: [{sender_domain: {equals: acme.test}}, {is: reply}]}", mail(), False),
])
def test_each_condition_F_ROUTE_1(tmp_path, when, raw, hits):
    decision = decide(config(tmp_path, route("probe", when)), raw)
    assert ("hit" in tags(decision)) is hits
    step = next((s for s in decision.trace if s.stage == "routes" and s.rule == "probe"), None)
    if step is None:  # the index ruled it out (or the mail was settled before routes): a miss
        assert not hits
    else:  # tested: hit or miss, with the file:line and the condition that decided
        assert step.hit is hits and step.origin == "rules/65-routes.yaml:5" and step.detail


@pytest.mark.parametrize("headers", [
    {"Auto-Submitted": "auto-replied", "Precedence": "bulk"},  # an out-of-office sent as bulk
    {"Precedence": "bulk", "Auto-Submitted": "auto-generated"},  # monitoring sent as bulk
    {"X-Failed-Recipients": "a@acme.test", "Auto-Submitted": "auto-replied"},  # a bounce that says auto-replied
    {"X-Loop": "robot"},
])
def test_routes_and_the_mailbox_kind_actions_read_one_classifier_F_ROUTE_1_F_PRE_2(tmp_path, headers):
    """A mail with the marks of several kinds is the same kind for `auto_generated:` routes as
    for the mailbox's per-kind action: both read parse's one classifier."""
    kinds = ("delivery_report", "out_of_office", "list", "auto_submitted")
    directory = config(tmp_path, "".join(route(kind, f"{{auto_generated: {kind}}}",
                                               f"{{process_auto_generated: true, tags: [{kind}]}}") for kind in kinds))
    decision = decide(directory, mail(headers=headers))
    precheck = next(s for s in decision.trace if s.stage == "prechecks" and s.rule == "auto_generated")
    assert tags(decision) == (precheck.detail.split(":")[0],)


def test_body_is_tested_after_excluded_text_is_cut_F_ROUTE_1_F_BODY_1(tmp_path):
    directory = config(tmp_path, route("confidential", "{body: {contains: confidential}}"))
    disclaimer = ("This e-mail and any attachments are confidential and intended solely for the addressee. If you "
                  "have received it in error, please notify the sender and delete it. Any unauthorised use or "
                  "disclosure is prohibited.")  # the shipped example disclaimer (rules/30-excluded-text.yaml)
    assert "hit" not in tags(decide(directory, mail(body=f"Printer jams.\n\n{disclaimer}\n")))
    assert "hit" in tags(decide(directory, mail(body="This is confidential: the printer in HR jams.\n")))


def test_reply_condition_and_fields_on_an_existing_ticket_F_ROUTE_1(tmp_path):
    directory = config(tmp_path, route("follow-up", "{is: reply}", "{priority: High, tags: [followed-up]}"))
    raw = mail(sender="Carol Chen <carol@globex.test>", subject="Re: VPN disconnects every hour [Ticket#1001]")
    decision = decide(directory, raw)
    assert decision.outcome.value == "add_note"
    assert (decision.ticket.number, decision.ticket.priority, decision.ticket.tags) == (1001, "High", ("followed-up",))


def test_business_hours_use_the_calendar_zone_days_and_holidays_F_ROUTE_1(tmp_path):
    extra = "  - {name: shop, time_zone: America/New_York, weekdays: [mon, tue], hours: '09:00-12:00', holidays: ['2026-01-13']}\n"
    directory = config(tmp_path, route("open", "{business_hours: {calendar: shop}}"), extra)
    at = lambda iso: decide(directory, mail(), NOW, datetime.fromisoformat(iso))  # noqa: E731
    assert "hit" in tags(at("2026-01-12T15:00:00+00:00"))  # Monday 10:00 in New York
    assert "hit" not in tags(at("2026-01-12T19:00:00+00:00"))  # Monday 14:00: after hours
    assert "hit" not in tags(at("2026-01-13T15:00:00+00:00"))  # Tuesday, a holiday
    assert "hit" not in tags(at("2026-01-14T15:00:00+00:00"))  # Wednesday: no working day


def test_business_hours_judge_when_the_mail_arrived_not_when_it_is_read_F_ROUTE_1_F_PRE_5(tmp_path):
    """A backlog read at 10:00 on Monday holds mail that came in on Sunday night: after hours."""
    routes = route("after-hours", "{business_hours: {calendar: office, within: false}}")
    directory = config(tmp_path, routes)
    monday_10 = datetime(2026, 1, 12, 9, 0, tzinfo=timezone.utc)  # 10:00 in Berlin
    sunday_night = datetime(2026, 1, 11, 22, 30, tzinfo=timezone.utc)
    read_late = decide(directory, mail(), monday_10, arrived=sunday_night)
    assert "hit" in tags(read_late)
    assert any(s.rule == "after-hours" and "arrived outside office hours" in s.detail for s in read_late.trace)
    assert "hit" not in tags(decide(directory, mail(), monday_10, arrived=monday_10))
    # No time from the source: the topmost Received: header (our MTA wrote it) is the arrival.
    received = mail(headers={"Received": "from mx.acme.test by mx.example.com; Sun, 11 Jan 2026 23:30:00 +0100"})
    assert "hit" in tags(decide(directory, received, monday_10))


def test_first_match_stops_unless_continue_and_later_routes_override_F_ROUTE_1(tmp_path):
    routes = (route("first", "{sender_domain: {equals: acme.test}}", "{priority: High, tags: [first]}", "    continue: true\n")
              + route("second", "{subject: {contains: printer}}", "{priority: Low, group: Network, tags: [second]}")
              + route("third", "{subject: {contains: jam}}", "{tags: [third]}"))
    decision = decide(config(tmp_path, routes), mail())
    assert decision.ticket.priority == "Low" and decision.ticket.assignee_group == "Network"
    assert decision.ticket.tags == ("first", "second")  # second stopped the walk: third never ran
    setters = [s.rule for s in decision.trace if s.stage == "routes" and s.rule.endswith(": priority")]
    assert setters == ["first: priority", "second: priority"]  # the trace says which route set each field


def test_precedence_subject_type_then_routes_then_tokens_F_ROUTE_1_F_TOK_1(tmp_path):
    """Mailbox default < type from the subject < routes < an authenticated technician's tokens."""
    routes = route("hw", "{sender_domain: {equals: example.com}}", "{type: Software, priority: High}")
    directory = config(tmp_path, routes)
    demo = directory / "mailboxes.d" / "demo.yaml"
    demo.write_text(demo.read_text() + "  tokens: {require_authentication: none}\n")
    raw = mail(sender="Jane Doe <jane.doe@example.com>", subject="hardware: printer broken",
               body="#priority Urgent\nThe printer is broken.\n")
    decision = decide(directory, raw)
    assert decision.ticket.type == "Software"  # the route beat the subject's Hardware
    assert decision.ticket.priority == "Urgent"  # the token beat the route


def test_ignore_and_reject_settle_before_reply_handling_F_ROUTE_1(tmp_path):
    directory = config(tmp_path, route("drop", "{subject: {contains: vpn}}", "{ignore: not ours}"))
    raw = mail(sender="Carol Chen <carol@globex.test>", subject="Re: VPN disconnects every hour [Ticket#1001]")
    decision = decide(directory, raw)
    assert (decision.outcome.value, decision.reason, decision.detail) == ("ignore", "route", "route drop: not ours")


def test_distribution_and_auto_reply_template_F_ROUTE_1(tmp_path):
    routes = route("cc", "{subject: {contains: printer}}",
                   "{distribution: [facilities@example.org, Support@Example.com], auto_reply: closed_updated}")
    decision = decide(config(tmp_path, routes), mail())
    assert decision.distribution_adds == ("facilities@example.org",)  # our own mailbox never joins
    [reply] = [m for m in decision.outgoing if m.role == "auto_reply"]
    assert "Your message has been added to it" in reply.body  # the closed_updated template, not auto_reply


def test_the_index_never_misses_a_route_that_matches_F_ROUTE_1():
    """Candidates from the index always include every route whose conditions hold (random routes and mails)."""
    rng = random.Random(18)
    words = ["printer", "vpn", "invoice", "alpha", "beta", "ACME", "acme.test", "x-1"]
    specs = []
    for i in range(300):
        field = rng.choice(["subject", "sender_domain", "sender", "recipient"])
        test = rng.choice([{"equals": rng.choice(words)}, {"contains": rng.choice(words)},
                           {"matches": rng.choice(words).replace(".", r"\.")},
                           {"contains": rng.choice(words), "case_sensitive": True}])
        when = {field: test} if rng.random() < 0.7 else {"all": [{field: test}, {"is": "new"}]}
        specs.append(({"name": f"r{i}", "when": when, "then": {"tags": ["t"]}}, f"r.yaml:{i}"))
    index = RouteIndex(build_routes(specs))

    class Facts:
        def __init__(self, values):
            self._values = values

        def values(self, name):
            return self._values.get(name, ())

        def header(self, name):
            return ()

        def is_reply(self):
            return False

    for _ in range(300):
        values = {f: tuple(rng.choice(words) + rng.choice(["", " ", "x"]) for _ in range(2))
                  for f in ("subject", "sender_domain", "sender", "recipient")}
        facts = Facts(values)
        matching = {r.name for r in index.routes if r.when.check(facts)[0]}
        candidates = {r.name for r in index.candidates(facts.values)}
        assert matching <= candidates


def test_validate_refuses_unknown_references_and_late_conditions_in_machine_routes_F_ROUTE_1(tmp_path):
    routes = (route("a", "{recipient: {equals: x@example.com}}", "{group: Nowhere, type: Hardware, subtype: Toaster}")
              + route("b", "{business_hours: {calendar: moon}}", "{custom_fields: {Colour: red}}")
              + route("c", "{all: [{header: {name: List-Id, contains: x}}, {is: reply}]}",
                      "{process_auto_generated: true}")
              + route("d", "{subject: {matches: '(a)\\1'}}")
              + route("a", "{subject: {contains: dup}}"))
    _, problems = check(config(tmp_path, routes))
    text = "\n".join(str(p) for p in problems)
    assert "unknown group 'Nowhere'" in text and "unknown subtype (of type 'Hardware') 'Toaster'" in text
    assert "unknown calendar 'moon'" in text and "unknown custom field 'Colour'" in text
    assert "a route with process_auto_generated cannot test 'is'" in text
    assert "does not compile" in text or "RE2" in text  # a backreference is refused
    assert "route 'a' is defined twice" in text or "defined twice" in text
    with pytest.raises(ConfigError):
        load_ruleset(tmp_path)


def test_validate_warns_of_routes_that_never_run_or_never_match_F_ROUTE_1(tmp_path):
    from engine.config.warnings import config_warnings

    routes = (route("first", "{subject: {contains: printer}}")
              + route("again", "{subject: {contains: printer}}")
              + route("bcc", "{header: {name: Bcc, contains: boss@example.com}}")
              + route("sizes", "{attachment_count: {min: 3, max: 1}}"))
    directory = config(tmp_path, routes)
    files, problems = check(directory)
    assert problems == []
    text = "\n".join(str(w) for w in config_warnings(files, load_ruleset(directory)))
    assert "rules/65-routes.yaml:8:5: warning: route 'again' never runs: route 'first' at rules/65-routes.yaml:5" in text
    assert "route 'bcc' can never match: it tests the Bcc header" in text
    assert "route 'sizes' can never match: its attachment_count min is above its max" in text


def test_a_polled_mail_is_stored_as_the_route_decided_F_ROUTE_1(tmp_path):
    """Through apply into the store: group, category, tags and the distribution list as the route set them."""
    from engine.cli import main
    from tests.polltools import drop, maildir_box, open_store, write_config

    config_dir = write_config(tmp_path / "config", [maildir_box("demo", "support@example.com", "var/maildir/demo")])
    drop(config_dir / "var" / "maildir" / "demo",
         mail(to="support@example.com, billing@example.com", subject="Invoice charges a licence twice"), "1.m")
    assert main(["poll", "--once", "--config", str(config_dir)]) == 0
    store = open_store(config_dir)
    try:
        [ticket] = store.tickets()
        assert ticket.assignee_group_id == store.group("Billing").id and ticket.assignee_user_id is None
        assert (ticket.category, store.tags(ticket.number)) == ("Facilities", ["billing"])
    finally:
        store.close()
