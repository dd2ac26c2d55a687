"""Golden cases that cannot pass while checking nothing, `mailgate test --update`, CI report formats (F-CFG-8),
and dry-run/test routing a mail to the mailbox it was sent to (F-CFG-12). Commands run as subprocesses."""

from __future__ import annotations

import json
import shutil
from xml.etree import ElementTree as ET

import pytest
import yaml

from tests.reviewtools import REPO, commit, config_repo, edit, git, mailgate

SPAM = "pre4-spam-tagged-subject-rejected"


@pytest.fixture
def repo(tmp_path):
    return config_repo(tmp_path)


def _case(repo, name: str, text: str, mail: str = SPAM) -> None:
    shutil.copy(REPO / "tests" / "cases" / f"{mail}.eml", repo / "tests" / "cases" / f"{name}.eml")
    (repo / "tests" / "cases" / f"{name}.expected.yaml").write_text(text, encoding="utf-8")


def test_unknown_keys_anywhere_are_located_errors_with_did_you_mean_F_CFG_8(repo):
    _case(repo, "typo-top", "ids: [X-1]\nexpct: {outcome: reject}\n")
    _case(repo, "typo-deep", "expect:\n  outcome: reject\n  ticket: {tpye: Hardware}\n  outgoing:\n"
                             "    - {role: rejected, bdy_contains: spam}\n  trace:\n    - {rul: keywords}\n")
    done = mailgate(repo, "test", "-k", "typo")
    assert done.returncode == 1
    out = done.stdout
    assert "tests/cases/typo-top.expected.yaml:2:1: unknown key 'expct' in the document — did you mean 'expect'?" in out
    assert "tests/cases/typo-top.expected.yaml:1:1: the document is missing the required key 'expect'" in out
    assert "tests/cases/typo-deep.expected.yaml:3:12: unknown key 'tpye' in 'ticket' — did you mean 'type'?" in out
    assert "typo-deep.expected.yaml:5:24: unknown key 'bdy_contains' in 'outgoing' — did you mean 'body_contains'?" in out
    assert "typo-deep.expected.yaml:7:8: unknown key 'rul' in 'trace' — did you mean 'rule'?" in out
    assert "0 passed, 2 failed" in out


def test_expect_is_required_and_not_empty_F_CFG_8(repo):
    _case(repo, "no-expect", "ids: [X-1]\ndescription: forgot the point\n")
    _case(repo, "empty-expect", "expect: {}\n")
    out = mailgate(repo, "test", "-k", "expect").stdout
    assert "no-expect.expected.yaml:1:1: the document is missing the required key 'expect'" in out
    assert "empty-expect.expected.yaml:1:9: 'expect' must not be empty" in out
    assert "0 passed, 2 failed" in out


def test_orphans_are_reported_both_ways_F_CFG_8(repo):
    shutil.copy(REPO / "tests" / "cases" / f"{SPAM}.eml", repo / "tests" / "cases" / "lonely.eml")
    (repo / "tests" / "cases" / "ghost.expected.yaml").write_text("expect: {outcome: reject}\n")
    done = mailgate(repo, "test")
    assert done.returncode == 1
    assert "FAIL tests/cases/lonely.eml:1:1: no expectations beside this mail, so nothing checks it" in done.stdout
    assert "tests/cases/ghost.expected.yaml:1:1: no ghost.eml beside this case" in done.stdout
    assert "4 passed, 1 failed, 1 mail(s) unchecked" in done.stdout


def test_each_failure_prints_the_command_that_reproduces_it_F_CFG_8(repo):
    edit(repo / "rules" / "60-catalog.yaml", "    match: {contains: [hardware]}", "    match: {contains: [hardware, printer]}")
    done = mailgate(repo, "test")
    assert done.returncode == 1
    assert "FAIL usr1-technician-address-in-capitals  [F-USR-1, F-USR-4, F-NEW-2]" in done.stdout
    assert "decision.ticket.subtype: expected 'Printer', got None" in done.stdout
    assert "       mailbox demo (its address support@example.com is in To)\n" in done.stdout
    line = "reproduce: mailgate dry-run tests/cases/usr1-technician-address-in-capitals.expected.yaml"
    assert line in done.stdout
    again = mailgate(repo, *line.removeprefix("reproduce: mailgate ").split())
    assert again.returncode == 0
    assert "new_ticket/subject_match: contains 'printer' chose type Hardware" in again.stdout


def test_update_rewrites_only_the_pinned_values_in_place_F_CFG_8(repo):
    """A rule change, then --update: the case file changes by exactly the values that changed, comments kept."""
    case = repo / "tests" / "cases" / "usr1-technician-address-in-capitals.expected.yaml"
    before = case.read_text()
    edit(repo / "rules" / "60-catalog.yaml", "    match: {contains: [hardware]}", "    match: {contains: [hardware, printer]}")
    commit(repo, "printer mail is plain Hardware")
    done = mailgate(repo, "test", "--update", "-k", "usr1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"updated {case.relative_to(repo)}: 1 value(s)" in done.stdout
    assert "1 passed, 0 failed" in done.stdout
    after = case.read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert len(before.splitlines()) == len(after.splitlines()) and len(changed) == 1
    assert "subtype: Printer" in changed[0][0] and "subtype: null" in changed[0][1]
    assert git(repo, "diff", "--stat").count("|") == 1  # the reviewer sees one file, one line


def test_update_all_pins_the_whole_decision_and_new_mail_gets_a_case_F_CFG_8(repo):
    shutil.copy(REPO / "samples" / "02-password-reset.eml", repo / "tests" / "cases" / "password.eml")
    done = mailgate(repo, "test", "--update", "-k", "password")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "created tests/cases/password.expected.yaml (mailbox demo: its address support@example.com is in To)" in done.stdout
    created = yaml.safe_load((repo / "tests" / "cases" / "password.expected.yaml").read_text())
    assert created["expect"]["outcome"] == "create_ticket"
    assert created["expect"]["ticket"]["type"] == "Access" and created["expect"]["ticket"]["subtype"] == "Password"
    assert created["expect"]["outgoing"] == [{"role": "auto_reply", "to": "joerg.mueller@example.com"}]
    done = mailgate(repo, "test", "--update", "--all", "-k", "password")
    assert done.returncode == 0
    pinned = yaml.safe_load((repo / "tests" / "cases" / "password.expected.yaml").read_text())["expect"]
    assert {"note", "attachments", "tokens", "users_to_create"} <= set(pinned) and "trace" not in pinned
    assert "Submitted by direct email to support@example.com" in pinned["note"]["text"]


def test_json_and_junit_reports_F_CFG_8(repo):
    _case(repo, "wrong", "ids: [X-1]\nexpect: {outcome: create_ticket}\n")
    done = mailgate(repo, "test", "--format", "json")
    report = json.loads(done.stdout)
    assert done.returncode == 1 and report["passed"] == 4 and report["failed"] == 1
    [wrong] = [c for c in report["cases"] if not c["passed"]]
    assert wrong["mismatches"] == ["decision.outcome: expected 'create_ticket', got 'reject'"]
    assert wrong["reproduce"] == "mailgate dry-run tests/cases/wrong.expected.yaml"
    xml = ET.fromstring(mailgate(repo, "test", "--format", "junit").stdout)
    suite = xml.find("testsuite")
    assert suite.get("tests") == "5" and suite.get("failures") == "1"
    failure = [c for c in suite.iter("testcase") if c.get("name") == "wrong"][0].find("failure")
    assert "expected 'create_ticket', got 'reject'" in failure.text and "reproduce: mailgate dry-run" in failure.text


def _two_mailboxes(repo) -> None:
    (repo / "mailboxes.d" / "sales.yaml").write_text(
        "version: 1\nmailbox:\n  name: sales\n  address: sales@example.com\n  protocol: maildir\n"
        "  maildir: {path: var/maildir/sales}\n  new_tickets: {issue_type: General, priority: High}\n")


def test_dry_run_routes_by_recipient_and_says_why_F_CFG_12(repo):
    _two_mailboxes(repo)
    mail = (REPO / "samples" / "01-new-request.eml").read_bytes()
    (repo / "to-sales.eml").write_bytes(mail.replace(b"To: Example Helpdesk <support@example.com>", b"To: sales@example.com"))
    (repo / "delivered.eml").write_bytes(b"Delivered-To: sales@example.com\r\n" + mail)
    (repo / "both.eml").write_bytes(mail.replace(b"To: Example Helpdesk <support@example.com>",
                                                 b"To: Example Helpdesk <support@example.com>, sales@example.com"))
    out = mailgate(repo, "dry-run", "samples/01-new-request.eml", "to-sales.eml", "delivered.eml").stdout
    assert "mailbox demo (its address support@example.com is in To)" in out
    assert "mailbox sales (its address sales@example.com is in To)" in out
    assert "mailbox sales (its address sales@example.com is in Delivered-To)" in out  # the envelope settles it
    both = mailgate(repo, "dry-run", "both.eml")
    assert both.returncode == 2
    assert ("the mail is addressed to several mailboxes: demo (support@example.com in To); "
            "sales (sales@example.com in To) — pick one with --mailbox NAME") in both.stderr
    forced = mailgate(repo, "dry-run", "both.eml", "--mailbox", "sales", "--format", "json")
    assert json.loads(forced.stdout)["route"] == {"mailbox": "sales", "why": "named by --mailbox"}


def test_mail_to_no_mailbox_with_several_active_is_a_usage_error_F_CFG_12(repo):
    _two_mailboxes(repo)
    mail = (REPO / "samples" / "01-new-request.eml").read_bytes()
    (repo / "elsewhere.eml").write_bytes(mail.replace(b"To: Example Helpdesk <support@example.com>", b"To: someone@else.test"))
    done = mailgate(repo, "dry-run", "elsewhere.eml")
    assert done.returncode == 2
    assert "several mailboxes could take it: demo (support@example.com), sales (sales@example.com)" in done.stderr


def test_test_routes_cases_by_recipient_F_CFG_12(repo):
    """A second active mailbox no longer takes the shipped cases: each goes where its mail was sent."""
    _two_mailboxes(repo)
    assert mailgate(repo, "test").returncode == 0


def test_the_published_case_schema_is_the_one_built_from_the_decision_F_CFG_8():
    """schema/case.schema.json (for editors) is what mailgate checks cases with: a new decision field is in both."""
    from engine.commands.case_schema import case_schema

    published = json.loads((REPO / "schema" / "case.schema.json").read_text(encoding="utf-8"))
    assert published == case_schema(), "run: python -c 'from engine.commands.case_schema import write; write()'"
