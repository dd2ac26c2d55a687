"""Editors and hooks (F-CFG-11): validate FILE… within its config, schema --write, real schema $ids,
the pre-commit hooks, did-you-mean for mistyped secret references. Commands run as subprocesses."""

from __future__ import annotations

import json
import re
import shlex
from urllib.parse import urlparse

import pytest
import yaml

from engine.cli import build_parser
from engine.config.schemas import KINDS, SCHEMA_BASE, schema_for
from tests.reviewtools import REPO, config_repo, edit, mailgate


@pytest.fixture
def repo(tmp_path):
    return config_repo(tmp_path)


def test_validate_files_within_their_config_F_CFG_11(repo):
    """A file is checked with the rest of its config (references resolve), and only its problems are printed."""
    edit(repo / "mailboxes.d" / "demo.yaml", "    folder: Processed", "    foldr: Processed")
    edit(repo / "rules" / "20-keywords.yaml", "where: subject, reason: Outlook auto-reply", "where: subjct, reason: Outlook auto-reply")
    done = mailgate(repo, "validate", "mailboxes.d/demo.yaml")
    assert done.returncode == 1
    assert "mailboxes.d/demo.yaml:16:5: unknown key 'foldr' in 'after_processing' — did you mean 'folder'?" in done.stdout
    assert "20-keywords" not in done.stdout
    assert "(1 more elsewhere in the config: `mailgate validate` shows them)" in done.stdout
    ok = mailgate(repo, "validate", "rules/60-catalog.yaml")  # names types and groups of other files: they resolve
    assert ok.returncode == 0 and "OK: 1 file(s) valid" in ok.stdout and "more elsewhere in the config" in ok.stdout
    outside = mailgate(repo.parent, "validate", "config/rules/60-catalog.yaml")  # run from elsewhere: its config is found
    assert "OK: 1 file(s) valid" in outside.stdout


def test_validate_a_golden_case_file_F_CFG_11(repo):
    case = repo / "tests" / "cases" / "new2-longest-match-wins.expected.yaml"
    edit(case, "expect:", "expct:")
    done = mailgate(repo, "validate", str(case.relative_to(repo)))
    assert done.returncode == 1 and "unknown key 'expct' in the document — did you mean 'expect'?" in done.stdout


def test_validate_usage_errors(repo):
    assert mailgate(repo, "validate", "mailboxes.d/nope.yaml").returncode == 2
    assert mailgate(repo, "validate", "nowhere").returncode == 2


def test_schema_write_points_every_file_at_its_schema_F_CFG_11(repo):
    done = mailgate(repo, "schema", "--write")
    assert done.returncode == 0, done.stderr
    assert "wrote schema/rules.schema.json" in done.stdout
    for kind, name in KINDS.items():
        assert json.loads((repo / "schema" / name).read_text()) == schema_for(kind)
    rules = (repo / "rules" / "60-catalog.yaml").read_text().splitlines()
    assert rules[0] == "# yaml-language-server: $schema=../schema/rules.schema.json"
    assert (repo / "mailboxes.d" / "demo.yaml").read_text().startswith(
        "# yaml-language-server: $schema=../schema/mailbox.schema.json\n")
    assert (repo / "tests" / "cases" / "new2-longest-match-wins.expected.yaml").read_text().startswith(
        "# yaml-language-server: $schema=../../schema/case.schema.json\n")
    again = mailgate(repo, "schema", "--write")
    assert "already point at schema/" in again.stdout and "wrote" not in again.stdout
    assert mailgate(repo, "validate", "--strict").returncode == 0
    # the trace cites lines one further down now; --update moves the cases along
    assert mailgate(repo, "test").returncode == 1
    assert mailgate(repo, "test", "--update").returncode == 0


def test_schema_ids_are_paths_in_this_repository_F_CFG_11():
    for kind, name in KINDS.items():
        schema_id = schema_for(kind)["$id"]
        assert schema_id.startswith(SCHEMA_BASE) and "/v1/" in schema_id
        assert (REPO / schema_id.removeprefix(SCHEMA_BASE)).is_file(), schema_id
        assert urlparse(schema_id).scheme == "https"


def test_pre_commit_hooks_run_real_commands_on_the_right_files_F_CFG_11():
    hooks = {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"mailgate-validate", "mailgate-test"}
    for hook in hooks.values():
        words = shlex.split(hook["entry"])
        assert words[0] == "mailgate" and hook["language"] == "python"
        build_parser(words[1]).parse_args(words[1:])
    validate = re.compile(hooks["mailgate-validate"]["files"])
    assert all(validate.search(p) for p in ("rules/60-catalog.yaml", "mailboxes.d/demo.yaml", "config/rules/x.yml",
                                            "rules/templates/auto_reply.txt.j2", "tests/cases/a.expected.yaml"))
    assert not any(validate.search(p) for p in ("README.md", "tests/cases/a.eml", "engine/cli.py"))
    assert hooks["mailgate-validate"]["pass_filenames"] is True and hooks["mailgate-test"]["pass_filenames"] is False


def test_mistyped_secret_reference_at_run_time_names_the_variable_that_is_set_F_CFG_11(monkeypatch):
    from engine.config.secrets import resolve_secret
    from engine.errors import SecretError

    monkeypatch.setenv("IMAP_PASSWORD", "not printed")
    with pytest.raises(SecretError) as raised:
        resolve_secret({"env": "IMAP_PASWORD"})
    assert str(raised.value) == "environment variable IMAP_PASWORD is not set — did you mean IMAP_PASSWORD? (set in the environment)"
    assert "not printed" not in str(raised.value)
