"""`mailgate diff`: sample mails decided under the config at a git revision and under the working tree (F-CFG-7).

Each test is an admin's repository: a temporary git repository with commits of a config, and the
command run as a subprocess in it, as CI runs it on a pull request."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.reviewtools import commit, config_repo, edit, git, mailgate

HARDWARE = "    match: {contains: [hardware]}"
PRINTER_IN_HARDWARE = "    match: {contains: [hardware, printer]}"


@pytest.fixture
def repo(tmp_path):
    return config_repo(tmp_path)


def test_no_change_exits_0_and_says_so_F_CFG_7(repo):
    done = mailgate(repo, "diff", "samples", "tests/cases")
    assert done.returncode == 0, done.stderr
    assert "no change: all 10 sample mail(s) are decided as at HEAD" in done.stdout


def test_a_rule_change_names_each_changed_field_and_where_the_paths_part_F_CFG_7(repo):
    """Adding 'printer' to type Hardware takes printer mail from subtype Printer: the diff shows it, exit 1."""
    edit(repo / "rules" / "60-catalog.yaml", HARDWARE, PRINTER_IN_HARDWARE)
    done = mailgate(repo, "diff", "samples", "tests/cases")
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert "== tests/cases/usr1-technician-address-in-capitals.expected.yaml  (mailbox demo)" in out
    assert "   ticket.subtype: 'Printer' -> (none)" in out
    assert "the paths part at trace step" in out
    assert "before  HIT  new_ticket/subject_match: contains 'printer' chose type Hardware, subtype Printer (1 other" in out
    assert "after   HIT  new_ticket/subject_match: contains 'printer' chose type Hardware (2 other" in out
    assert "[rules/60-catalog.yaml:13]" in out  # the pattern that now wins, where it is written
    # "paper jam" is longer than "printer": that sample keeps its subtype, so it is not listed
    assert "samples/01-new-request.eml" not in out
    assert "1 of 10 sample mail(s) decided differently than at HEAD" in out


def test_against_an_older_revision_compares_committed_changes_F_CFG_7(repo):
    """In CI the change is committed: --against the base branch's commit shows what the branch changes."""
    edit(repo / "rules" / "20-keywords.yaml", '  - {phrase: "[SPAM]", where: subject, reason: tagged as spam by the gateway}\n', "")
    edit(repo / "rules" / "20-keywords.yaml", '  - {phrase: "***SPAM***", where: subject, reason: tagged as spam by the gateway}\n', "")
    commit(repo, "stop rejecting gateway-tagged spam")
    assert mailgate(repo, "diff", "tests/cases").returncode == 0  # HEAD has the change: nothing differs
    done = mailgate(repo, "diff", "--against", "HEAD~1", "tests/cases", "--format", "json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["against"] == "HEAD~1" and len(report["commit"]) == 40
    assert report["mails"] == 4 and report["changed"] == 1
    [spam] = [r for r in report["results"] if r["changed"]]
    assert spam["file"] == "tests/cases/pre4-spam-tagged-subject-rejected.expected.yaml"
    fields = {c["field"]: (c["before"], c["after"]) for c in spam["changes"]}
    assert fields["outcome"] == ("reject", "create_ticket")
    assert fields["reason"] == ("keyword", "new_ticket")
    assert fields["ticket.number"] == (None, 1) and fields["ticket.new"] == (None, True)
    assert spam["parting"]["before"]["rule"] == "keywords" and spam["parting"]["before"]["hit"] is True
    assert spam["parting"]["after"]["rule"] == "keywords" and spam["parting"]["after"]["hit"] is False


def test_outgoing_mail_and_text_changes_are_shown_F_CFG_7(repo):
    """A template change shows in the mail that goes out, the text as a unified diff."""
    edit(repo / "rules" / "templates" / "auto_reply.txt.j2", "thank you for your message.", "thanks for writing.")
    done = mailgate(repo, "diff", "samples/01-new-request.eml", "--now", "2026-02-01T10:00:00Z")
    assert done.returncode == 1, done.stderr
    assert "   outgoing[0].body:" in done.stdout
    assert "-thank you for your message. We have opened ticket 1:" in done.stdout
    assert "+thanks for writing. We have opened ticket 1:" in done.stdout


def test_same_state_and_now_on_both_sides_F_CFG_7(repo):
    """The fixture and --now given apply to both configs: only the config differs."""
    fixture = "tests/cases/fixtures/helpdesk.yaml"
    done = mailgate(repo, "diff", "samples", "--directory", fixture, "--now", "2026-01-15T12:00:00Z", "--format", "json")
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["now"] == "2026-01-15T12:00:00+00:00" and report["changed"] == 0


def test_markdown_for_a_pull_request_comment_F_CFG_7(repo):
    edit(repo / "rules" / "60-catalog.yaml", HARDWARE, PRINTER_IN_HARDWARE)
    done = mailgate(repo, "diff", "tests/cases", "--format", "markdown")
    assert done.returncode == 1
    assert done.stdout.startswith("### mailgate diff: 1 of 4 sample mail(s) decided differently than at HEAD")
    assert "| `ticket.subtype` | 'Printer' | (none) |" in done.stdout


def test_a_config_below_the_top_of_the_repository(tmp_path):
    """The config may live in a folder of a bigger repository: the same folder is read at the revision."""
    repo = config_repo(tmp_path)
    outer = tmp_path / "outer"
    outer.mkdir()
    shutil.rmtree(repo / ".git")
    shutil.move(str(repo), outer / "helpdesk")
    git(outer, "init", "-q", "-b", "main")
    commit(outer, "config in a subfolder")
    edit(outer / "helpdesk" / "rules" / "60-catalog.yaml", HARDWARE, PRINTER_IN_HARDWARE)
    done = mailgate(outer, "diff", "--config", "helpdesk", "helpdesk/tests/cases")
    assert done.returncode == 1, done.stderr
    assert "ticket.subtype: 'Printer' -> (none)" in done.stdout


def test_usage_errors_exit_2(repo, tmp_path):
    assert mailgate(repo, "diff", "--against", "no-such-branch", "samples").returncode == 2
    assert "'no-such-branch' is not a revision" in mailgate(repo, "diff", "--against", "no-such-branch", "samples").stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    assert mailgate(repo, "diff", str(empty)).returncode == 2
    not_git = tmp_path / "plain"
    shutil.copytree(repo, not_git, ignore=shutil.ignore_patterns(".git"))
    done = mailgate(not_git, "diff", "samples")
    assert done.returncode == 2 and "not in a git repository" in done.stderr
