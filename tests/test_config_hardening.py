"""A hostile or careless config cannot eat memory, read files outside the config, or hang a render (issue 16).

The located errors themselves are config cases (tests/config_cases: yaml-alias-bomb,
body-file-outside, template-*); here: memory, symbolic links, size, and a template
breaching a limit at run time.

SPEC IDs proved here: F-CFG-2, F-OUT-4.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from engine.config.compile import compile_files
from engine.config.load import MAX_FILE_BYTES
from engine.config.render_limits import TemplateLimitError
from engine.config.templates import environment
from engine.config.validate import check
from engine.evaluate import evaluate
from engine.parse import parse
from engine.store.memory_state import from_ruleset

REPO = Path(__file__).resolve().parent.parent
CASES = REPO / "tests" / "config_cases"
MEMORY_CAP = 1536 * 1024 * 1024  # address space for `mailgate validate`: the billion laughs took 2 GB


def base_config(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    shutil.copytree(CASES / "jinja-syntax-error-inline" / "mailboxes.d", root / "mailboxes.d")
    (root / "rules").mkdir()
    (root / "rules" / "base.yaml").write_text("version: 1\npriorities: [Low, High]\n")
    return root


def problems_of(root: Path) -> list[str]:
    return [str(p) for p in check(root)[1]]


def test_a_billion_laughs_is_refused_within_bounded_memory_F_CFG_2():
    """Issue 16: `validate` on 9 levels of 10 aliases ran into MemoryError at 2 GB."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    run = subprocess.run([sys.executable, "-m", "engine.cli", "validate", "--config", str(CASES / "yaml-alias-bomb")],
                         cwd=REPO, capture_output=True, text=True, timeout=300, preexec_fn=cap)
    assert run.returncode == 1, run.stderr
    assert "rules/base.yaml:4:17: YAML aliases expand to more than 10,000 values" in run.stdout
    assert "MemoryError" not in run.stderr and "Traceback" not in run.stderr


def test_merge_keys_still_work_F_CFG_2(tmp_path):
    root = base_config(tmp_path)
    (root / "rules" / "base.yaml").write_text(
        "version: 1\npriorities: [Low, High]\nx-kw: &kw {where: subject, reason: spam}\n"
        "keywords:\n  - {<<: *kw, phrase: lottery}\n  - {<<: *kw, phrase: casino}\n")
    problems = problems_of(root)
    assert not any("alias" in p for p in problems)


def test_a_config_file_over_the_size_cap_is_refused_before_parsing_F_CFG_2(tmp_path):
    root = base_config(tmp_path)
    big = root / "rules" / "big.yaml"
    with big.open("w") as fh:
        fh.write("version: 1\n")
        while fh.tell() <= MAX_FILE_BYTES:
            fh.write("# " + "x" * 1000 + "\n")
    assert problems_of(root) == [
        "rules/big.yaml:1:1: the file is 8.0 MB, more than the 8 MB a config file may be — split it into several files"]


def test_a_symlink_leaving_the_config_directory_is_refused_F_CFG_2(tmp_path):
    """Issue 16: a link in rules/ pointing outside the config was loaded as one of its files."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "evil.yaml").write_text("version: 1\nthis_key_is_unknown: true\n")
    root = base_config(tmp_path)
    (root / "rules" / "zz-linked.yaml").symlink_to(elsewhere / "evil.yaml")
    (root / "shared").mkdir()  # a link within the config directory is fine
    (root / "shared" / "keywords.yaml").write_text("version: 1\nkeywords:\n  - {phrase: lottery}\n")
    (root / "rules" / "kw.yaml").symlink_to(root / "shared" / "keywords.yaml")
    assert problems_of(root) == [
        "rules/zz-linked.yaml:1:1: is a symbolic link to a file outside the config directory — "
        "copy the file into the config directory instead of linking to it"]


def test_a_linked_rules_folder_outside_the_config_is_refused_F_CFG_2(tmp_path):
    root = base_config(tmp_path)
    shutil.move(root / "rules", tmp_path / "shared-rules")
    (root / "rules").symlink_to(tmp_path / "shared-rules")
    assert [p.split(":")[0] for p in problems_of(root)] == ["rules/base.yaml"]


def test_a_body_file_linked_to_outside_is_refused_F_CFG_2_F_OUT_4(tmp_path):
    """Its text would be mailed to whoever writes in: only the config's own files may be."""
    (tmp_path / "secret.txt").write_text("root:x:0:0\n")
    root = base_config(tmp_path)
    (root / "rules" / "templates").mkdir()
    (root / "rules" / "templates" / "auto.txt.j2").symlink_to(tmp_path / "secret.txt")
    (root / "rules" / "base.yaml").write_text(
        "version: 1\npriorities: [Low, High]\ntemplates:\n  auto_reply:\n    subject: 'Re: {{ ticket.subject }}'\n"
        "    body_file: templates/auto.txt.j2\n")
    assert problems_of(root) == [
        "rules/base.yaml:6:16: template 'auto_reply': body_file templates/auto.txt.j2 is outside the config "
        "directory — keep template bodies in the config directory, e.g. rules/templates/"]


@pytest.mark.parametrize("source, limit", [
    ("{{ 'a' * 10**9 }}", "a repeated value"),  # issue 16: 56 s and 4.9 GB
    ("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(1) }}", "macros nest"),  # issue 16: RecursionError
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "steps"),  # issue 16: hung
    ("{% for i in range(100000) %}{{ 'xxxxxxxxxx' }}{% endfor %}", "wrote more than"),
    ("{{ 'a'.ljust(10**9) }}", "ljust"),
    ("{{ '%1000000000s' % 'x' }}", "width"),
    ("{{ 'x'|center(10**9) }}", "center"),
    ("{{ ('a' * 100000)|replace('', 'bbbbbbbbbb') }}", "replace"),
    ("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "value"),
    ("{{ 10 ** 100000 }}", "bits"),
])
def test_a_render_stops_at_its_limits_F_OUT_4(source, limit):
    with pytest.raises(TemplateLimitError, match=limit):
        environment().from_string(source).render({"ticket": {"subject": "s"}})


def test_a_template_past_a_limit_at_run_time_loses_no_mail_F_OUT_4(tmp_path):
    """Compiled without validate (as a config changed under a running poller could be): the mail
    still becomes a ticket; the auto-reply is left out and the trace says why."""
    root = tmp_path / "config"
    shutil.copytree(CASES / "template-recursive-macro", root)
    (root / "mailboxes.d" / "mb.yaml").write_text((root / "mailboxes.d" / "mb.yaml").read_text().replace(
        "auto_reply: false", "auto_reply: true"))
    files, problems = check(root)
    assert any("macros nest more than 20 deep" in str(p) for p in problems)
    ruleset = compile_files(files, root)
    mail = b"From: Ann <ann@example.org>\r\nTo: help@example.org\r\nSubject: Printer\r\n\r\nIt jams.\r\n"
    decision = evaluate(parse(mail), ruleset, from_ruleset(ruleset), datetime(2026, 1, 15, tzinfo=timezone.utc), "mb")
    assert decision.outcome.value == "create_ticket" and decision.outgoing == ()
    step = next(s for s in decision.trace if s.rule == "auto_reply")
    assert not step.hit and "macros nest more than 20 deep" in step.detail
