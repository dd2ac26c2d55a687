"""Config resolved once: files merged, then defaults filled, then one typed policy per mailbox (F-CFG-5).

SPEC IDs proved here: F-CFG-5, F-CFG-1, F-MB-6, F-PRE-1.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from engine.config.compile import load_ruleset
from engine.config.policy import DEFAULT, Section, knob_fields
from engine.config.schemas import resolve, schema_for
from engine.config.sections import MailboxPolicy, RulesKnobs
from engine.evaluate import evaluate
from engine.parse import parse
from engine.store.memory_state import from_ruleset

from tests.configtools import MAILBOX, small_config as _config

REPO = Path(__file__).resolve().parent.parent


def test_a_setting_moved_to_another_file_does_not_reset_smtp_F_CFG_5(tmp_path):
    """The reported bug: error_user in a later file made settings.smtp fall back to send: true."""
    config = _config(tmp_path, {
        "a-settings.yaml": "version: 1\nsettings:\n  smtp:\n    send: false\n    host: relay.example.org\n",
        "b-more.yaml": "version: 1\nsettings:\n  error_user: tech\n",
    })
    smtp = load_ruleset(config).settings.smtp
    assert (smtp.send, smtp.host, smtp.max_attempts) == (False, "relay.example.org", 8)
    assert smtp.where("send") == "rules/a-settings.yaml:4"
    assert smtp.where("max_attempts") == DEFAULT


def test_an_explicit_subject_limit_is_not_replaced_by_the_default_F_CFG_5_F_PRE_1(tmp_path):
    """limits.subject_max_length: 200 stays 200 whatever file follows, and the trace cites that line."""
    config = _config(tmp_path, {
        "a-limits.yaml": "version: 1\nlimits:\n  subject_max_length: 200\n",
        "b-keywords.yaml": "version: 1\nkeywords:\n  - {phrase: lottery}\n",
    })
    ruleset = load_ruleset(config)
    policy = ruleset.mailbox("mb").policy
    assert (policy.subject_max_length, policy.where("subject_max_length")) == (200, "rules/a-limits.yaml:3")
    mail = b"From: a@example.org\r\nTo: help@example.org\r\nSubject: " + b"x" * 300 + b"\r\n\r\nbody\r\n"
    decision = evaluate(parse(mail), ruleset, from_ruleset(ruleset), _now(), "mb")
    step = next(s for s in decision.trace if s.rule == "subject_max_length")
    assert (decision.reason, step.detail, step.origin) == ("subject_too_long", "300 characters, limit 200",
                                                           "rules/a-limits.yaml:3")


def test_mailbox_then_settings_then_default_each_with_its_origin_F_CFG_5_F_MB_6(tmp_path):
    mailbox = MAILBOX.replace("  protocol: maildir\n", "  protocol: maildir\n  subject_max_length: 50\n  from_name: Mb Desk\n")
    config = _config(tmp_path, {"s.yaml": "version: 1\nsettings:\n  from_name: Global Desk\n  error_user: tech\n"},
                     mailbox)
    policy = load_ruleset(config).mailbox("mb").policy
    assert (policy.from_name, policy.where("from_name")) == ("Mb Desk", "mailboxes.d/mb.yaml:7")
    assert (policy.subject_max_length, policy.where("subject_max_length")) == (50, "mailboxes.d/mb.yaml:6")
    assert (policy.error_user, policy.where("error_user")) == ("tech", "rules/s.yaml:4")
    # no return_address anywhere: the mailbox's own address, cited where it is written
    assert (policy.return_address, policy.where("return_address")) == ("help@example.org", "mailboxes.d/mb.yaml:4")
    assert (policy.accept_from, policy.where("accept_from")) == ("everyone", DEFAULT)
    assert (policy.loop_prevention.max_messages, policy.loop_prevention.where("max_messages")) == (5, DEFAULT)
    assert policy.outgoing.where("auto_reply") == "mailboxes.d/mb.yaml:10"


def test_policy_is_frozen_and_equal_across_loads_F_CFG_5():
    first, second = load_ruleset(REPO).mailbox("demo").policy, load_ruleset(REPO).mailbox("demo").policy
    assert first == second and hash(first) == hash(second)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.replies.closed_tickets = "ignore"


def _schema_object(kind: str, path: tuple) -> dict:
    node = resolve(schema_for(kind), kind)
    for part in path:
        node = resolve(node["properties"][part], kind)
    return node


# Policy fields that are not mailbox-schema properties: they come from the rules files alone.
FROM_RULES_ONLY = {"accept_from", "ticket_base_url", "portal_base_url"}


def _pairs(cls: type, kind: str, path: tuple):
    yield cls, kind, path
    for _, yaml_name, section in knob_fields(cls):
        if section is not None:
            yield from _pairs(section, kind, path + (yaml_name,))


SECTIONS = [*_pairs(MailboxPolicy, "mailbox", ("mailbox",)), *_pairs(RulesKnobs, "rules", ())]


@pytest.mark.parametrize("cls,kind,path", SECTIONS, ids=[c.__name__ for c, _, _ in SECTIONS])
def test_each_policy_section_has_exactly_the_schema_properties_F_CFG_5(cls, kind, path):
    """A knob added to the schema must be added to its section (and the other way round),
    or the policy would silently drop it."""
    assert issubclass(cls, Section)
    schema_keys = set(_schema_object(kind, path).get("properties", {}))
    if cls is RulesKnobs:
        schema_keys = {"settings", "limits", "filters"}
    elif kind == "rules" and path == ("filters",):
        schema_keys = {"accept_from"}  # senders/subjects compile into Filter rules, not knobs
    fields = {yaml_name for _, yaml_name, _ in knob_fields(cls)}
    if cls is MailboxPolicy:
        fields -= FROM_RULES_ONLY
    assert fields == schema_keys


def _now():
    from engine.commands.golden import DEFAULT_NOW
    return DEFAULT_NOW
