"""Golden cases (tests/cases) against the shipped config, their SPEC coverage, `mailgate test`, determinism and purity.

SPEC IDs proved here: F-ATT-2, F-CFG-1, F-CFG-5, F-PRE-3, F-TOK-3, F-USR-3.
"""

from __future__ import annotations

import builtins
import io
import os
import random
import re
import shutil
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from engine.cli import main
from engine.config.compile import load_ruleset
from engine.evaluate import evaluate
from engine.commands.golden import DEFAULT_NOW, find_cases, run_case, with_mailbox_options
from engine.store.memory_state import from_ruleset, load_fixture
from engine.parse import parse

REPO = Path(__file__).resolve().parent.parent
CASES_DIR = REPO / "tests" / "cases"
CASES = find_cases(CASES_DIR)
SPEC = REPO / "docs" / "spec.md"
# The engine's behaviours: every one of these must be proved by at least one golden case.
ENGINE_ID = re.compile(r"^- (F-(?:PRE|USR|REF|NEW|BODY|ATT|TOK|OUT)-\d+)\b", re.MULTILINE)


@pytest.fixture(scope="module")
def ruleset():
    """The shipped config in the repository root, compiled once."""
    return load_ruleset(REPO)


def _case_name(path: Path) -> str:
    return path.name.removesuffix(".expected.yaml")


def _ids_of(path: Path) -> list[str]:
    return list((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("ids") or [])


@pytest.mark.parametrize("case", CASES, ids=[_case_name(c) for c in CASES])
def test_golden_case_F_PRE_F_USR_F_REF_F_NEW_F_BODY_F_ATT_F_TOK_F_OUT(case, ruleset):
    """Each case's decision holds what its expected file says (the IDs it proves are in the file)."""
    result = run_case(case, ruleset)
    assert result.ids, f"{result.name} names no SPEC IDs"
    assert result.passed, f"{result.name} [{', '.join(result.ids)}]:\n  " + "\n  ".join(result.mismatches)


def test_there_are_at_least_60_cases_each_with_its_mail():
    assert len(CASES) >= 60
    for case in CASES:
        assert case.with_name(f"{_case_name(case)}.eml").is_file(), f"{case.name} has no .eml beside it"


def _spec_ids() -> set[str]:
    if not SPEC.is_file():
        pytest.fail(f"SPEC.md is missing at {SPEC}")
    return set(ENGINE_ID.findall(SPEC.read_text(encoding="utf-8")))


# Behaviours the spec lists that are not built yet. Each must leave this set in the
# commit that builds it: the test below fails once a case names one.
NOT_YET_BUILT: set[str] = set()
# Behaviours that happen after the decision, so no golden case can show them; the
# test named beside each proves it instead.
PROVED_AFTER_THE_DECISION = {"F-OUT-7": "tests/test_outgoing_oauth.py (SMTP XOAUTH2 and Graph sendMail transports)"}


def test_cases_name_every_engine_id_of_the_spec():
    """Every F-PRE/F-USR/F-REF/F-NEW/F-BODY/F-ATT/F-TOK/F-OUT ID has a golden case naming it."""
    wanted = _spec_ids()
    named = {i for case in CASES for i in _ids_of(case)}
    assert len(wanted) >= 40  # the parse found the IDs, not an empty set
    assert sorted(wanted - named - NOT_YET_BUILT - set(PROVED_AFTER_THE_DECISION)) == []
    for spec_id, test_file in PROVED_AFTER_THE_DECISION.items():
        assert spec_id.replace("-", "_") in (REPO / test_file.split()[0]).read_text(encoding="utf-8")
    assert sorted(NOT_YET_BUILT & named) == [], "built now: take these out of NOT_YET_BUILT"


def test_cases_name_only_ids_the_spec_has():
    """A typo in `ids:` (F-REF-11, F-PRE-02) would fake coverage."""
    known = set(re.findall(r"\bF-[A-Z]+-\d+\b", SPEC.read_text(encoding="utf-8"))) if SPEC.is_file() else _spec_ids()
    for case in CASES:
        assert set(_ids_of(case)) <= known, f"{case.name} names unknown IDs {set(_ids_of(case)) - known}"


def test_mailgate_test_cli_passes_on_the_shipped_cases(capsys):
    assert main(["test", str(CASES_DIR), "--config", str(REPO)]) == 0
    out = capsys.readouterr().out
    assert f"{len(CASES)} passed, 0 failed" in out


def test_mailgate_test_cli_fails_with_a_readable_diff(tmp_path, capsys):
    """A deliberately wrong expectation: exit 1, the case marked FAIL, each mismatch printed."""
    shutil.copy(CASES_DIR / "pre4-spam-tagged-subject-rejected.eml", tmp_path / "wrong.eml")
    (tmp_path / "wrong.expected.yaml").write_text(
        "ids: [F-PRE-4]\nexpect:\n  outcome: create_ticket\n  reason: keyword\n"
        "  trace:\n    - {rule: keywords, hit: false}\n", encoding="utf-8")
    assert main(["test", str(tmp_path), "--config", str(REPO)]) == 1
    out = capsys.readouterr().out
    assert "FAIL wrong  [F-PRE-4]" in out
    assert "decision.outcome: expected 'create_ticket', got 'reject'" in out
    assert "decision.trace: no step matching" in out
    assert "0 passed, 1 failed" in out


def _decide(case: Path, ruleset) -> str:
    """The canonical JSON decision of one case, as `run_case` computes it."""
    spec = yaml.safe_load(case.read_text(encoding="utf-8")) or {}
    mailbox = spec.get("mailbox") or "demo"
    rules = with_mailbox_options(ruleset, mailbox, spec.get("mailbox_options") or {})
    state = load_fixture(case.parent / spec["directory"], rules, DEFAULT_NOW) if spec.get("directory") else from_ruleset(rules)
    message = parse(case.with_name(f"{_case_name(case)}.eml").read_bytes())
    return evaluate(message, rules, state, DEFAULT_NOW, mailbox).to_json_text()


def test_same_inputs_give_byte_identical_decisions_F_CFG_5(ruleset):
    """Twice, a moment apart, with separately parsed messages and a freshly loaded config: same bytes."""
    first = {case.name: _decide(case, ruleset) for case in CASES}
    time.sleep(0.01)  # the clock moves on; the decision must not
    again = load_ruleset(REPO)
    assert {case.name: _decide(case, again) for case in CASES} == first


def _copy_config(source: Path, target: Path, order) -> None:
    """Copy the config's YAML and templates, creating the files in the order `order` gives."""
    files = [p for p in source.rglob("*") if p.is_file() and p.relative_to(source).parts[0] in ("rules", "mailboxes.d")]
    for path in order(sorted(files)):
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)


def test_decisions_do_not_depend_on_directory_listing_order_F_CFG_1(tmp_path, monkeypatch):
    """Merge order is sorted file-name order by design; creation and listing order must not matter."""
    forward, backward = tmp_path / "forward", tmp_path / "backward"
    _copy_config(REPO, forward, lambda files: files)
    _copy_config(REPO, backward, lambda files: list(reversed(files)))
    expected = {case.name: _decide(case, load_ruleset(forward)) for case in CASES}
    real_iterdir = Path.iterdir

    def shuffled_iterdir(self):
        entries = list(real_iterdir(self))
        random.Random(7).shuffle(entries)
        return iter(entries)

    monkeypatch.setattr(Path, "iterdir", shuffled_iterdir)
    real_listdir = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path=".": list(reversed(real_listdir(path))))
    shuffled = load_ruleset(backward)
    assert {case.name: _decide(case, shuffled) for case in CASES} == expected


def _forbidden(what: str):
    def refuse(*args, **kwargs):
        raise AssertionError(f"evaluate() must not use {what}")
    return refuse


def test_evaluate_is_pure_no_network_files_or_clock(ruleset, monkeypatch):
    """With sockets, file opening and the clock made to fail, every case still evaluates, identically."""
    inputs = []
    for case in CASES:
        spec = yaml.safe_load(case.read_text(encoding="utf-8")) or {}
        mailbox = spec.get("mailbox") or "demo"
        rules = with_mailbox_options(ruleset, mailbox, spec.get("mailbox_options") or {})
        state = load_fixture(case.parent / spec["directory"], rules, DEFAULT_NOW) if spec.get("directory") else from_ruleset(rules)
        inputs.append((parse(case.with_name(f"{_case_name(case)}.eml").read_bytes()), rules, state, mailbox))
    expected = [evaluate(m, r, s, DEFAULT_NOW, mb).to_json_text() for m, r, s, mb in inputs]
    for module, name in ((socket, "socket"), (socket, "create_connection"), (socket, "getaddrinfo"),
                         (builtins, "open"), (io, "open"), (os, "open"), (os, "listdir"), (os, "scandir"),
                         (time, "time"), (time, "time_ns"), (time, "localtime"), (time, "gmtime")):
        monkeypatch.setattr(module, name, _forbidden(f"{module.__name__}.{name}"))
    for (message, rules, state, mailbox), want in zip(inputs, expected):
        assert evaluate(message, rules, state, DEFAULT_NOW, mailbox).to_json_text() == want


def test_evaluate_stages_never_name_the_clock_or_io():
    """The stage modules read `now` from the caller: no datetime.now, time.time, open() or sockets in the source."""
    forbidden = re.compile(r"datetime\.now|datetime\.utcnow|date\.today|time\.time|\bopen\(|import (?:socket|requests|urllib|logging|time)\b|getLogger")
    for module in sorted((REPO / "engine" / "evaluate").glob("*.py")):
        hits = forbidden.findall(module.read_text(encoding="utf-8"))
        assert not hits, f"{module.name} uses {hits}"


def test_arrival_and_now_are_the_only_time_inputs_F_PRE_5(ruleset):
    """Loops are judged by when a mail ARRIVED: reading the burst's sixth mail later (a backlog)
    still finds the loop, the same mail arriving 10 minutes later does not; the wall clock never counts."""
    case = CASES_DIR / "pre5-loop-sixth-message-rejected.expected.yaml"
    spec = yaml.safe_load(case.read_text(encoding="utf-8"))
    message = parse((CASES_DIR / "pre5-loop-sixth-message-rejected.eml").read_bytes())
    state = load_fixture(CASES_DIR / spec["directory"], ruleset, DEFAULT_NOW)
    assert evaluate(message, ruleset, state, DEFAULT_NOW, "demo").outcome.value == "reject"
    later = datetime(2026, 1, 15, 12, 10, tzinfo=timezone.utc)  # the burst is now 10+ minutes old
    assert evaluate(message, ruleset, state, later, "demo").outcome.value == "reject"  # read late, arrived then
    decision = evaluate(message, ruleset, state, later, "demo", arrived=later)
    assert (decision.outcome.value, decision.arrived) == ("create_ticket", later.isoformat())


def test_accept_from_technicians_ignores_requesters_F_PRE_3(ruleset):
    """accept_from is a rules-wide filter (rules/10-filters.yaml), so it is proved here, not by a case."""
    import dataclasses

    demo = ruleset.mailbox("demo")
    strict = ruleset.with_mailbox(dataclasses.replace(demo, policy=dataclasses.replace(demo.policy, accept_from="technicians")))
    state = from_ruleset(strict)
    requester = parse((CASES_DIR / "pre3-accept-from-everyone-takes-unknown-sender.eml").read_bytes())
    technician = parse((CASES_DIR / "usr1-technician-address-in-capitals.eml").read_bytes())
    refused = evaluate(requester, strict, state, DEFAULT_NOW, "demo")
    assert (refused.outcome.value, refused.reason, refused.outgoing) == ("ignore", "sender_not_accepted", ())
    assert evaluate(technician, strict, state, DEFAULT_NOW, "demo").outcome.value == "create_ticket"


def test_blocked_attachment_by_sha256_F_ATT_2(ruleset):
    """A rule naming a SHA-256 (a known signature logo) leaves exactly that file out."""
    import dataclasses

    from engine.config.ruleset import BlockedAttachment

    case = "att3-inline-screenshot-becomes-attachment"
    message = parse((CASES_DIR / f"{case}.eml").read_bytes())
    digest = message.attachments[0].sha256
    fields = {f.name: None for f in dataclasses.fields(BlockedAttachment)}
    rule = BlockedAttachment(**{**fields, "sha256": digest, "reason": "known logo", "origin": "rules/x.yaml:1"})
    rules = dataclasses.replace(ruleset, blocked_attachments=(rule,))
    decision = evaluate(message, rules, from_ruleset(rules), DEFAULT_NOW, "demo")
    assert [(a.kept, a.reason) for a in decision.attachments] == [(False, "blocked: known logo")]
    assert "Email Received: these attachments were left out" in decision.note.text


@pytest.mark.parametrize("allowed", [False, True])
def test_close_anonymously_decides_for_unknown_senders_F_USR_3_F_TOK_3(ruleset, allowed):
    """With #close open to requesters, an unknown sender closes a ticket only when close_anonymously is on."""
    import dataclasses

    tokens = tuple(dataclasses.replace(t, roles=("requester", "technician")) if t.effect == "close" else t
                   for t in ruleset.tokens)
    rules = with_mailbox_options(dataclasses.replace(ruleset, tokens=tokens), "demo",
                                 {"unknown_senders": {"close_anonymously": allowed},
                                  "replies": {"require_visibility": False}})
    mail = (b"From: Someone <someone@freemail.test>\r\nTo: support@example.com\r\n"
            b"Subject: Re: VPN disconnects every hour [Ticket#1001]\r\nMessage-ID: <anon-close@freemail.test>\r\n"
            b"Date: Thu, 15 Jan 2026 11:00:00 +0000\r\n\r\nFixed on my side.\r\n#close\r\n")
    state = load_fixture(CASES_DIR / "fixtures" / "helpdesk.yaml", rules, DEFAULT_NOW)
    decision = evaluate(parse(mail), rules, state, DEFAULT_NOW, "demo")
    assert decision.outcome.value == "add_note"
    assert [(t.applied, t.reason) for t in decision.tokens] == [
        (True, "") if allowed else (False, "unknown senders may not close tickets")]
    assert decision.ticket.status == ("closed" if allowed else None)
