"""A config kept in git, as an admin keeps it: the shipped rules and demo mailbox, some golden cases, commits."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CASES = ("new2-longest-match-wins", "usr1-technician-address-in-capitals", "pre4-spam-tagged-subject-rejected",
         "ref4-closed-ticket-reopen-assigns-fallback-group")


def config_repo(root: Path, cases: tuple[str, ...] = CASES) -> Path:
    """`root`/config: a git repository with rules/, mailboxes.d/demo.yaml, samples/ and a few cases, committed."""
    repo = root / "config"
    shutil.copytree(REPO / "rules", repo / "rules")
    (repo / "mailboxes.d").mkdir()
    shutil.copy(REPO / "mailboxes.d" / "demo.yaml", repo / "mailboxes.d" / "demo.yaml")
    shutil.copytree(REPO / "samples", repo / "samples")
    (repo / "tests" / "cases").mkdir(parents=True)
    shutil.copytree(REPO / "tests" / "cases" / "fixtures", repo / "tests" / "cases" / "fixtures")
    for name in cases:
        for suffix in (".eml", ".expected.yaml"):
            shutil.copy(REPO / "tests" / "cases" / f"{name}{suffix}", repo / "tests" / "cases" / f"{name}{suffix}")
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "the shipped config")
    return repo


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "Admin", "GIT_AUTHOR_EMAIL": "admin@example.com",
                               "GIT_COMMITTER_NAME": "Admin", "GIT_COMMITTER_EMAIL": "admin@example.com"})
    return done.stdout.strip()


def commit(repo: Path, message: str) -> str:
    """Commit everything in the working tree; returns the commit id."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def edit(path: Path, old: str, new: str) -> None:
    """Replace `old` (which must be there) by `new` in a file."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def mailgate(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`mailgate ARGS` run in `cwd` (the config directory, as an admin runs it from their repository)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAILGATE_CONFIG", "MAILGATE_STORE_URL")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)
