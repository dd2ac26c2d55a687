"""mailgate validate: shipped config, schemas, and located errors for broken configs (F-CFG-1..4).

SPEC IDs proved here: F-CFG-1, F-CFG-2, F-CFG-3, F-CFG-4.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from engine.cli import main
from engine.config.schemas import schema_for
from engine.config.validate import check

REPO = Path(__file__).resolve().parent.parent
CASES = sorted((REPO / "tests" / "config_cases").iterdir())


def test_shipped_config_validates_F_CFG_2_F_CFG_4():
    files, problems = check(REPO)
    assert [str(p) for p in problems] == []
    labels = {f.label for f in files}
    assert "mailboxes.d/demo.yaml" in labels
    for example in ("example-imap", "example-pop3", "example-ews", "example-m365"):
        assert f"mailboxes.d/{example}.yaml" in labels


@pytest.mark.parametrize("kind", ["mailbox", "rules"])
def test_schemas_are_valid_2020_12_with_versioned_id_F_CFG_4(kind):
    schema = schema_for(kind)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "/v1/" in schema["$id"]


def _properties(schema, path=()):
    if isinstance(schema, dict):
        for name, sub in schema.get("properties", {}).items():
            yield path + (name,), sub
        for key, value in schema.items():
            yield from _properties(value, path + (key,))
    elif isinstance(schema, list):
        for i, item in enumerate(schema):
            yield from _properties(item, path + (i,))


@pytest.mark.parametrize("kind", ["mailbox", "rules"])
def test_every_property_is_described_and_unknown_keys_are_errors_F_CFG_4(kind):
    schema = schema_for(kind)
    undocumented = [p for p, sub in _properties(schema)
                    if "description" not in sub and "$ref" not in sub and p[-1] != "version"
                    and "oneOf" not in p and "allOf" not in p]
    assert undocumented == []
    objects = [sub for _, sub in _properties(schema) if isinstance(sub, dict) and sub.get("type") == "object"]
    assert objects and all(o.get("additionalProperties") is False for o in objects if "properties" in o)


def test_seed_defaults_are_in_the_schema():
    """Loop 5 in 5 minutes (seed 000), subject max 400 and auth-failure ticket after 3 (seed 004)."""
    mailbox = schema_for("mailbox")["$defs"]["mailbox"]["properties"]
    loop = mailbox["loop_prevention"]["properties"]
    assert (loop["max_messages"]["default"], loop["window_minutes"]["default"]) == (5, 5)
    assert mailbox["monitor"]["properties"]["auth_failures_before_ticket"]["default"] == 3
    assert schema_for("rules")["properties"]["limits"]["properties"]["subject_max_length"]["default"] == 400


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_broken_config_gives_exact_located_error_F_CFG_2(case):
    _, problems = check(case)
    expected = (case / "expected.txt").read_text(encoding="utf-8").splitlines()
    assert [str(p) for p in problems] == expected
    assert expected, "every broken config must produce at least one error"


def test_there_are_at_least_30_broken_configs():
    assert len(CASES) >= 30


def test_literal_secret_fails_validation_F_CFG_3():
    _, problems = check(REPO / "tests" / "config_cases" / "literal-password")
    assert any("literal secret" in p.message and "{env: VARIABLE}" in p.hint for p in problems)


def test_duplicate_across_files_names_both_places_F_CFG_1():
    _, problems = check(REPO / "tests" / "config_cases" / "duplicate-mailbox-across-files")
    (problem,) = problems
    assert problem.file == "mailboxes.d/mb2.yaml" and "mailboxes.d/mb.yaml:3:3" in problem.message


def test_errors_from_several_files_come_in_one_run_sorted(tmp_path):
    base = REPO / "tests" / "config_cases"
    shutil.copytree(base / "unknown-key-typo", tmp_path, dirs_exist_ok=True)
    shutil.copy(base / "wrong-version" / "rules" / "base.yaml", tmp_path / "rules" / "base.yaml")
    _, problems = check(tmp_path)
    assert [p.file for p in problems] == ["mailboxes.d/mb.yaml", "rules/base.yaml"]
    assert problems == sorted(problems)


def test_a_mistake_in_a_shipped_file_points_at_its_line(tmp_path):
    for folder in ("mailboxes.d", "rules"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    path = tmp_path / "rules" / "10-filters.yaml"
    lines = path.read_text().splitlines()
    number = next(i for i, line in enumerate(lines) if "accept_from" in line)
    lines[number] = lines[number].replace("everyone", "everybody")
    path.write_text("\n".join(lines) + "\n")
    _, problems = check(tmp_path)
    assert [(p.file, p.line) for p in problems] == [("rules/10-filters.yaml", number + 1)]
    assert "did you mean 'everyone'?" in str(problems[0])


def test_validate_cli_exit_codes_and_json_F_CFG_2(capsys):
    assert main(["validate", str(REPO)]) == 0
    assert "OK" in capsys.readouterr().out
    broken = REPO / "tests" / "config_cases" / "bad-enum-protocol"
    assert main(["validate", "--format", "json", "--config", str(broken)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    (problem,) = report["problems"]
    assert (problem["file"], problem["line"], problem["column"]) == ("mailboxes.d/mb.yaml", 5, 13)
    assert main(["validate", str(REPO / "no-such-dir")]) == 2


def test_validate_uses_mailgate_config_env(monkeypatch, capsys):
    monkeypatch.setenv("MAILGATE_CONFIG", str(REPO / "tests" / "config_cases" / "wrong-version"))
    assert main(["validate"]) == 1
    assert "rules/base.yaml:1:10" in capsys.readouterr().out


def test_usage_error_exits_2():
    with pytest.raises(SystemExit) as exit_:
        main(["validate", "--format", "yaml"])
    assert exit_.value.code == 2


@pytest.mark.parametrize("kind", ["mailbox", "rules"])
def test_schema_command_prints_the_published_schema_F_CFG_4(kind, capsys):
    assert main(["schema", "--kind", kind]) == 0
    assert json.loads(capsys.readouterr().out) == schema_for(kind)
