"""The compiled Ruleset: immutable, merged in sorted file order, equal across loads (F-CFG-5).

SPEC IDs proved here: F-BODY-1, F-CFG-1, F-CFG-3, F-CFG-5, F-OUT-4.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from engine.config.compile import load_ruleset, whitespace_tolerant
from engine.config.secrets import resolve_secret
from engine.errors import SecretError
from engine.errors import ConfigError
from engine.config.patterns import compile_safe
from tests.configtools import small_config

REPO = Path(__file__).resolve().parent.parent


def test_loading_twice_gives_equal_rulesets_F_CFG_5():
    first, second = load_ruleset(REPO), load_ruleset(REPO)
    assert first == second
    assert first is not second


def test_ruleset_is_immutable_F_CFG_5():
    ruleset = load_ruleset(REPO)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ruleset.settings = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        ruleset.mailbox("demo").policy.loop_prevention.max_messages = 1
    with pytest.raises(TypeError):
        ruleset.mailbox("demo").options["active"] = False


def test_defaults_from_the_seeds_are_filled_in():
    demo = load_ruleset(REPO).mailbox("demo")
    assert demo.options["loop_prevention"]["max_messages"] == 5
    assert demo.options["loop_prevention"]["window_minutes"] == 5
    assert demo.options["monitor"]["auth_failures_before_ticket"] == 3
    assert demo.options["size_limits"]["max_message_mb"] == 25
    assert demo.options["replies"]["require_visibility"] is True
    assert demo.policy.subject_max_length == 400 and demo.policy.where("subject_max_length") == "rules/00-settings.yaml:25"


def test_sections_merge_in_sorted_file_order_with_origins_F_CFG_1(tmp_path):
    config = small_config(tmp_path, {
        "b.yaml": "version: 1\nkeywords:\n  - {phrase: second}\n",
        "a.yaml": "version: 1\nkeywords:\n  - {phrase: first}\n",
    })
    forward = load_ruleset(config)
    assert [k.phrase for k in forward.keywords] == ["first", "second"]
    assert [k.origin for k in forward.keywords] == ["rules/a.yaml:3", "rules/b.yaml:3"]


def test_broken_config_raises_config_error_with_every_problem():
    with pytest.raises(ConfigError) as err:
        load_ruleset(REPO / "tests" / "config_cases" / "jinja-syntax-error-inline")
    assert len(err.value.problems) == 2


def test_templates_compile_in_the_sandbox_F_OUT_4():
    template = load_ruleset(REPO).templates["auto_reply"]
    text = template.compiled_body.render(ticket={"number": 7, "subject": "Printer", "url": "", "portal_url": ""},
                                         sender={"name": "Ann", "address": "ann@example.com"},
                                         mailbox={"from_name": "Desk"})
    assert "ticket 7" in text
    from jinja2.exceptions import SecurityError
    evil = load_ruleset(REPO).templates["auto_reply"].compiled_subject.environment.from_string(
        "{{ ''.__class__.__mro__ }}")
    with pytest.raises(SecurityError):
        evil.render()


def test_excluded_text_matches_across_line_breaks_F_BODY_1():
    regex = compile_safe(whitespace_tolerant("Please consider the environment"))
    assert regex.search("please  consider\nthe\r\n   environment before printing")


def test_secrets_resolve_from_env_and_file_never_literal_F_CFG_3(tmp_path, monkeypatch):
    monkeypatch.setenv("MG_TEST_SECRET", "s3cret")
    assert resolve_secret({"env": "MG_TEST_SECRET"}) == "s3cret"
    (tmp_path / "pw").write_text("from-file\n")
    assert resolve_secret({"file": "pw"}, tmp_path) == "from-file"
    monkeypatch.delenv("MG_TEST_SECRET")
    with pytest.raises(SecretError) as err:
        resolve_secret({"env": "MG_TEST_SECRET"})
    assert "s3cret" not in str(err.value)
