"""A config directory as it was at a git revision, read with `git archive` (the working tree is left alone)."""

from __future__ import annotations

import io
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from engine.errors import UsageError

CONFIG_FOLDERS = ("mailboxes.d", "rules")  # all a config is made of; samples and fixtures stay in the working tree


@dataclass(frozen=True)
class Revision:
    """The revision asked for, the commit it names, and where its config was written."""

    name: str
    commit: str
    directory: Path


def config_at(revision: str, config_dir: Path, into: Path) -> Revision:
    """Write `config_dir`'s mailboxes.d/ and rules/ as of `revision` into `into` (a fresh directory)."""
    config_dir = Path(config_dir).resolve()
    top = _git(config_dir, "rev-parse", "--show-toplevel")
    prefix = _git(config_dir, "rev-parse", "--show-prefix")  # the config's folder inside the repository, '' at the top
    commit = _git(config_dir, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}",
                  error=f"{revision!r} is not a revision of the git repository at {top}")
    present = set(_git(top, "ls-tree", "--name-only", commit, "--", prefix or ".").splitlines())
    folders = [prefix + name for name in CONFIG_FOLDERS if prefix + name in present]
    if not folders:
        raise UsageError(f"there is no mailboxes.d/ or rules/ in {prefix or 'the top folder'} at {revision}")
    archive = subprocess.run(["git", "-C", top, "archive", "--format=tar", commit, "--", *folders],
                             capture_output=True, check=False)
    if archive.returncode:
        raise UsageError(f"git archive {revision} failed: {archive.stderr.decode(errors='replace').strip()}")
    _extract(archive.stdout, prefix, Path(into))
    return Revision(revision, commit, Path(into))


def _extract(tar_bytes: bytes, prefix: str, into: Path) -> None:
    """Unpack the archive below `into` with `prefix` taken off; the 'data' filter refuses links out of it."""
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        members = []
        for member in tar.getmembers():
            if member.name.startswith(prefix):
                member.name = member.name[len(prefix):]
                members.append(member)
        tar.extractall(into, members=members, filter="data")


def _git(where: Path | str, *args: str, error: str = "") -> str:
    try:
        done = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise UsageError("git is not installed; mailgate diff reads the other revision with git") from None
    if done.returncode:
        said = done.stderr.strip() or "no such revision"
        raise UsageError(error or f"{where} is not in a git repository ({said})")
    return done.stdout.strip()
