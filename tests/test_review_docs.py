"""The CI snippets in docs/review.md are valid YAML and every mailgate command in them parses (F-CFG-7)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from engine.cli import build_parser

DOC = Path(__file__).resolve().parent.parent / "docs" / "review.md"


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def _commands(text: str) -> list[list[str]]:
    """Each `mailgate …` command line of a shell script, up to a redirection or `||`."""
    found = []
    for match in re.finditer(r"\bmailgate (\w[^\n|>]*)", text):
        words = shlex.split(match.group(1).replace("${{", "").replace("}}", ""))
        found.append(words)
    return found


def test_the_github_and_gitlab_jobs_are_yaml_and_run_real_commands():
    blocks = [yaml.safe_load(block) for block in _blocks("yaml")]
    [github] = [b for b in blocks if isinstance(b, dict) and "jobs" in b]
    [gitlab] = [b for b in blocks if isinstance(b, dict) and "mailgate-review" in b]
    steps = github["jobs"]["review"]["steps"]
    scripts = "\n".join(step.get("run", "") for step in steps) + "\n" + "\n".join(gitlab["mailgate-review"]["script"])
    commands = _commands(scripts)
    assert {words[0] for words in commands} == {"validate", "test", "diff"}
    for words in commands:
        build_parser(words[0]).parse_args(words)  # argparse exits on an unknown option
    assert any("--format" in w and "markdown" in w for w in commands)
    assert "gh pr comment" in scripts and "merge_requests/$CI_MERGE_REQUEST_IID/notes" in scripts


def test_the_pre_commit_example_names_the_shipped_hooks():
    blocks = [yaml.safe_load(block) for block in _blocks("yaml")]
    [config] = [b for b in blocks if isinstance(b, dict) and "repos" in b]
    hooks = {hook["id"] for repo in config["repos"] for hook in repo["hooks"]}
    shipped = {hook["id"] for hook in yaml.safe_load((DOC.parent.parent / ".pre-commit-hooks.yaml").read_text())}
    assert hooks == shipped == {"mailgate-validate", "mailgate-test"}
