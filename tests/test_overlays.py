"""Overlays: a later rules file extends or replaces an earlier file's entry, so shipped rules stay untouched
(F-CFG-10). Commands run as subprocesses on an admin's config repository."""

from __future__ import annotations

import json

import pytest

from tests.reviewtools import REPO, commit, config_repo, mailgate

LOCAL = """version: 1
types:
  - extends: Hardware
    match: {contains: [docking station]}
    subtypes:
      - name: Dock
        match: {contains: [dock]}
      - extends: Printer
        match: {contains: [plotter]}
quick_picks:
  - replace: New starter
    type: Access
    priority: High
    class: Service Request
    category: HR
    assignee: {group: Service Desk}
    match: {contains: [new starter, leaver]}
directory:
  groups:
    - extends: Messaging
      members: [jdoe]
"""


@pytest.fixture
def repo(tmp_path):
    return config_repo(tmp_path)


def _mail(repo, name: str, subject: str) -> str:
    raw = (REPO / "samples" / "01-new-request.eml").read_text(encoding="utf-8")
    raw = raw.replace("Subject: Printer on floor 2 shows a paper jam", f"Subject: {subject}")
    (repo / name).write_text(raw, encoding="utf-8")
    return name


def _decision(repo, mail: str) -> dict:
    done = mailgate(repo, "dry-run", mail, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["decision"]


def test_an_overlay_file_extends_and_replaces_shipped_entries_F_CFG_10(repo):
    (repo / "rules" / "90-local.yaml").write_text(LOCAL)
    assert mailgate(repo, "validate", "--strict").returncode == 0
    plotter = _decision(repo, _mail(repo, "plotter.eml", "The plotter on floor 3 is out of ink"))
    assert (plotter["ticket"]["type"], plotter["ticket"]["subtype"]) == ("Hardware", "Printer")
    step = next(s for s in plotter["trace"] if s["rule"] == "subject_match")
    assert step["origin"] == "rules/90-local.yaml:9"  # the pattern the overlay added, cited where it is written
    dock = _decision(repo, _mail(repo, "dock.eml", "My dock stopped charging the laptop"))
    assert dock["ticket"]["subtype"] in ("Dock", "Laptop")
    leaver = _decision(repo, _mail(repo, "leaver.eml", "Leaver on Friday"))
    assert leaver["ticket"]["quick_pick"] == "New starter" and leaver["ticket"]["priority"] == "High"
    # the shipped files are untouched: the working tree differs from the commit by the new file only
    assert commit(repo, "local rules") and mailgate(repo, "diff", "--against", "HEAD~1", "samples").returncode in (0, 1)


def test_the_overlay_shows_in_mailgate_diff_against_the_shipped_rules_F_CFG_10_F_CFG_7(repo):
    _mail(repo, "plotter.eml", "The plotter on floor 3 is out of ink")
    commit(repo, "a sample")
    (repo / "rules" / "90-local.yaml").write_text(LOCAL)
    done = mailgate(repo, "diff", "plotter.eml", "--now", "2026-01-15T12:00:00Z")
    assert done.returncode == 1
    assert "ticket.subtype: (none) -> 'Printer'" in done.stdout
    assert "after   HIT  new_ticket/subject_match: contains 'plotter' chose type Hardware, subtype Printer  [rules/90-local.yaml:9]" in done.stdout


def test_plain_redefinition_stays_an_error_naming_both_places_F_CFG_10_F_CFG_1(repo):
    (repo / "rules" / "90-local.yaml").write_text("version: 1\ntypes:\n  - name: Hardware\n    match: {contains: [dock]}\n")
    done = mailgate(repo, "validate")
    assert done.returncode == 1
    assert ("rules/90-local.yaml:3:5: type 'Hardware' is defined twice: here and at rules/60-catalog.yaml:12:5 — keep one; "
            "to change the earlier one from this file, write `extends: Hardware` (add to it) or `replace: Hardware` "
            "instead of the name") in done.stdout


def test_overlay_mistakes_are_located_errors_F_CFG_10(repo):
    (repo / "rules" / "90-local.yaml").write_text(
        "version: 1\ntypes:\n  - extends: Hardwre\n    match: {contains: [dock]}\n"
        "  - extends: Software\n    name: Software\n"
        "quick_picks:\n  - extends: Password reset\n    priority: Low\n"
        "  - replace: Password reset\n    extends: Password reset\n")
    out = mailgate(repo, "validate").stdout
    assert "rules/90-local.yaml:3:14: there is no type 'Hardwre' to extend — did you mean 'Hardware'?" in out
    assert "rules/90-local.yaml:6:5: an entry with `extends:` takes no `name:`" in out
    assert ("rules/90-local.yaml:9:5: `extends: Password reset` cannot change 'priority': the quick pick sets it at "
            "rules/60-catalog.yaml:42:5 — use `replace: Password reset`") in out
    assert "rules/90-local.yaml:10:5: an entry with `extends:` takes no `replace:`" in out


def test_an_overlay_must_come_after_what_it_changes_F_CFG_10(repo):
    (repo / "rules" / "05-early.yaml").write_text("version: 1\ntypes:\n  - extends: Hardware\n    match: {contains: [dock]}\n")
    out = mailgate(repo, "validate").stdout
    assert "rules/05-early.yaml:3:14: there is no type 'Hardware' to extend" in out
    assert "rules files merge in file-name order" in out
