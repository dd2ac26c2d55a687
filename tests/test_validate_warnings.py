"""`mailgate validate` warns about a valid config that cannot do what it says (F-CFG-9): exit 0, 1 with --strict."""

from __future__ import annotations

import json

from tests.configtools import small_config
from tests.reviewtools import REPO, config_repo, edit, mailgate

HARDWARE = "    match: {contains: [hardware]}"


def _warnings(config, *extra) -> tuple[int, str]:
    done = mailgate(config, "validate", *extra)
    return done.returncode, done.stdout + done.stderr


def test_shipped_config_has_no_warnings_F_CFG_9():
    done = mailgate(REPO, "validate", "--strict")
    assert done.returncode == 0 and "warning" not in done.stdout, done.stdout


def test_a_pattern_its_type_already_has_and_the_subtype_it_starves_F_CFG_9(tmp_path):
    """The issue's case: 'printer' added to type Hardware can never again choose subtype Printer by that word."""
    repo = config_repo(tmp_path)
    edit(repo / "rules" / "60-catalog.yaml", HARDWARE, "    match: {contains: [hardware, printer]}")
    status, out = _warnings(repo)
    assert status == 0
    assert ("rules/60-catalog.yaml:16:28: warning: subject pattern 'printer' of subtype Printer (type Hardware) can "
            "never win: type Hardware's 'printer' at rules/60-catalog.yaml:13:34 is declared earlier") in out
    rules_files = len(list((repo / "rules").glob("*.yaml")))
    assert f"OK: 1 mailbox file(s), {rules_files} rules file(s) valid, 1 warning(s)" in out
    status, _ = _warnings(repo, "--strict")
    assert status == 1
    edit(repo / "rules" / "60-catalog.yaml", "    match: {contains: [hardware, printer]}",
         "    match: {contains: [hardware, printer, toner, paper jam]}")
    status, out = _warnings(repo)
    assert ("rules/60-catalog.yaml:15:9: warning: subtype Printer (type Hardware) can never be chosen from the subject: "
            "its type's own pattern wins") in out
    report = json.loads(mailgate(repo, "validate", "--format", "json").stdout)
    assert report["ok"] is True and {p["severity"] for p in report["problems"]} == {"warning"}


def test_exact_pattern_after_a_contains_one_never_wins_but_the_reverse_does_F_CFG_9(tmp_path):
    config = small_config(tmp_path, {"types.yaml": (
        "version: 1\ntypes:\n  - name: A\n    match: {contains: [vpn], exact: [wifi]}\n"
        "  - name: B\n    match: {exact: [vpn], contains: [wifi]}\n")})
    _, out = _warnings(config)
    assert "subject pattern 'vpn' of type B can never win: type A's 'vpn'" in out
    assert "'wifi' of type B" not in out  # a longer subject holding "wifi" still goes to B


def test_keywords_filters_and_excluded_texts_that_never_fire_F_CFG_9(tmp_path):
    config = small_config(tmp_path, {"rules.yaml": (
        "version: 1\n"
        "keywords:\n"
        "  - {phrase: you have won, where: both}\n"
        "  - {phrase: you have won a prize, where: subject}\n"
        "  - {phrase: lottery, where: subject}\n"
        "  - {phrase: national lottery, where: body}\n"
        "filters:\n"
        "  subjects:\n"
        "    - Returned Mail\n"
        "    - {pattern: 'Returned Mail: no such user', match: full}\n"
        "excluded_text:\n"
        "  - {name: short, text: Please consider the environment}\n"
        "  - {name: long, text: Please consider the environment before printing.}\n")})
    _, out = _warnings(config)
    assert ("rules/rules.yaml:4:14: warning: keyword 'you have won a prize' can never fire: the earlier keyword "
            "'you have won' at rules/rules.yaml:3:14 is in it and is checked there too") in out
    assert "'national lottery'" not in out  # the earlier 'lottery' is checked in subjects only
    assert ("warning: subject filter 'Returned Mail: no such user' can never fire: the earlier filter 'Returned Mail' "
            "at rules/rules.yaml:9:7 matches wherever it does") in out
    assert "warning: excluded text 'long' is never found whole: the earlier excluded text 'short'" in out


def test_regexes_that_match_the_empty_string_F_CFG_9(tmp_path):
    config = small_config(tmp_path, {"rules.yaml": (
        "version: 1\nfilters:\n  senders:\n    - {pattern: '(noreply)?', match: regex}\n"
        "excluded_text:\n  - {name: banner, regex: '(\\[EXTERNAL\\])?\\s*'}\n  - {name: fine, regex: 'EXTERNAL:\\s+'}\n")})
    _, out = _warnings(config)
    assert ("rules/rules.yaml:4:7: warning: sender filter regex '(noreply)?' matches the empty string: it matches every "
            "sender, so it ignores all mail") in out
    assert "excluded text regex '(\\[EXTERNAL\\])?\\s*' matches the empty string: it is found in every body" in out
    assert "EXTERNAL:\\s+" not in out


def test_templates_and_users_only_an_inactive_mailbox_uses_F_CFG_9(tmp_path):
    mailbox = ("version: 1\nmailbox:\n  name: old\n  address: old@example.org\n  protocol: maildir\n  active: false\n"
               "  maildir: {path: maildir}\n  error_user: archivist\n"
               "  outgoing: {auto_reply: true, templates: {auto_reply: old_reply}, error_notices: false, closed_ticket_replies: false}\n")
    config = small_config(tmp_path, {"more.yaml": (
        "version: 1\ndirectory:\n  users:\n    - {login: archivist, email: archive@example.org}\n"
        "templates:\n  old_reply: {subject: Thanks, body: Thanks}\n")})
    (config / "mailboxes.d" / "old.yaml").write_text(mailbox)
    _, out = _warnings(config)
    assert ("rules/more.yaml:6:3: warning: template 'old_reply' is used only by inactive mailbox(es) old: no active "
            "mailbox uses it") in out
    assert "warning: user 'archivist' is used only by inactive mailbox(es) old" in out
