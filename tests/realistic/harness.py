"""Run the realistic mailbox end to end: load each phase into the test Dovecot (APPEND with INTERNALDATE),
`mailgate poll --once` as a subprocess with the shipped rules, read what the store learnt for the next phase."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from tests.polltools import write_config
from tests.realistic.compose import OUR_MX
from tests.realistic.generate import Mailbox
from tests.realistic.storeview import StoreView
from tests.realistic.truth import Delivery

REPO = Path(__file__).resolve().parents[2]
PASSWORD_ENV = "MAILGATE_REALISTIC_PASSWORD"
MAILBOX = "support"
MAX_UNJAMS = 60


@dataclass
class Poll:
    """One `mailgate poll --once` run (or several, when an operator had to move a stuck mail away)."""

    phase: int
    mails: int
    seconds: float = 0.0
    runs: int = 0
    outputs: list[str] = field(default_factory=list)
    stuck: list[tuple[int, str]] = field(default_factory=list)  # (UID, the poll's error) moved away by the operator

    @property
    def rate(self) -> float:
        return self.mails / self.seconds if self.seconds else 0.0


@dataclass
class Run:
    """Everything a score needs: the deliveries with their truth, the polls, the dry-run sample, the store."""

    box: Mailbox
    deliveries: list[Delivery]
    polls: list[Poll]
    dry_runs: dict[int, dict]  # delivery index -> dry-run JSON decision
    store_url: str
    dialect: str
    sample_files: dict[int, Path] = field(default_factory=dict)


def mailbox_spec(server, user, batch: int = 50) -> dict:
    """The shipped example mailbox (mailboxes.d/demo.yaml) read from the test Dovecot over IMAP instead of a maildir."""
    spec = yaml.safe_load((REPO / "mailboxes.d" / "demo.yaml").read_text())["mailbox"]
    spec.pop("maildir", None)
    spec.update(name=MAILBOX, protocol="imap", after_processing={"action": "mark_read"},
                server={"host": server.host, "port": server.ports["imap"], "tls": "none", "timeout_seconds": 60},
                auth={"username": user.name, "password": {"env": PASSWORD_ENV}, "forbid_plaintext_login": False})
    spec["polling"] = {**spec.get("polling", {}), "max_messages": 9999, "batch_size": batch}
    # The generated mail's MX stamps Authentication-Results as OUR_MX: trust it, so a
    # technician's tokens act as they would behind a real MX (F-TOK-3).
    spec["authentication"] = {"trusted_authserv_ids": [OUR_MX]}
    return spec  # loop prevention, auto-generated handling, replies: the shipped defaults


def configure(root: Path, server, user, batch: int = 50) -> Path:
    """A config directory with the repository's rules/ and the one IMAP mailbox; SMTP keeps mail queued."""
    return write_config(root / "config", [mailbox_spec(server, user, batch)])


def load(server, user, deliveries: list[Delivery], chunk: int = 100) -> None:
    """APPEND every delivery with its arrival as INTERNALDATE (MULTIAPPEND), recording each UID in its truth."""
    client = server.imap(user)
    try:
        for start in range(0, len(deliveries), chunk):
            part = deliveries[start:start + chunk]
            answer = client.multiappend("INBOX", [{"msg": d.raw, "date": d.arrival} for d in part])
            uids = _appended_uids(answer)
            if len(uids) != len(part):
                raise RuntimeError(f"APPENDUID named {len(uids)} UIDs for {len(part)} messages: {answer!r}")
            for delivery, uid in zip(part, uids):
                delivery.truth.uid = uid
    finally:
        client.logout()


def _appended_uids(answer) -> list[int]:
    text = answer.decode() if isinstance(answer, bytes) else str(answer)
    found = re.search(r"APPENDUID \d+ ([\d:,]+)", text)
    if not found:
        raise RuntimeError(f"the server did not answer with APPENDUID (UIDPLUS): {text}")
    uids: list[int] = []
    for part in found.group(1).split(","):
        low, _, high = part.partition(":")
        uids += range(int(low), int(high or low) + 1)
    return uids


def poll(config: Path, env: dict, store_url: str, phase: int, mails: int, server, user) -> Poll:
    """`mailgate poll --once`; when it fails and mail stays unprocessed, the operator moves the first
    unprocessed mail to the folder Stuck and polls again (what an admin does with a jammed mailbox)."""
    result = Poll(phase, mails)
    view = StoreView(store_url)
    try:
        for _ in range(MAX_UNJAMS):
            begin = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "engine.cli", "poll", "--once", "--config", str(config),
                                   "--store", store_url], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
            result.seconds += time.perf_counter() - begin
            result.runs += 1
            result.outputs.append((done.stdout + done.stderr).strip())
            if done.returncode == 0:
                return result
            stuck = _first_unprocessed(server, user, view)
            if stuck is None:
                return result
            _move_aside(server, user, stuck)
            result.stuck.append((stuck, result.outputs[-1]))
        return result
    finally:
        view.close()


def _first_unprocessed(server, user, view: StoreView) -> int | None:
    client = server.imap(user)
    try:
        client.select_folder("INBOX", readonly=True)
        validity = client.folder_status("INBOX", ["UIDVALIDITY"])[b"UIDVALIDITY"]
        unseen = sorted(client.search(["UNSEEN"]))
    finally:
        client.logout()
    logged = view.logged_keys(MAILBOX)
    return next((uid for uid in unseen if f"{validity}:{uid}" not in logged), None)


def _move_aside(server, user, uid: int) -> None:
    client = server.imap(user)
    try:
        if not client.folder_exists("Stuck"):
            client.create_folder("Stuck")
        client.select_folder("INBOX")
        client.move([uid], "Stuck")
    finally:
        client.logout()


def dry_run(config: Path, env: dict, store_url: str, deliveries: list[Delivery], folder: Path) -> dict[int, dict]:
    """`mailgate dry-run --state STORE --format json` of each sample mail, all against the same store state."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for delivery in deliveries:
        path = folder / f"{delivery.truth.index:05d}.eml"
        path.write_bytes(delivery.raw)
        files[str(path)] = delivery.truth.index
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    done = subprocess.run([sys.executable, "-m", "engine.cli", "dry-run", *files, "--mailbox", MAILBOX,
                           "--state", store_url, "--now", now, "--format", "json", "--config", str(config)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"dry-run failed: {done.stdout}{done.stderr}")
    decisions = {}
    for line in done.stdout.splitlines():
        data = json.loads(line)
        decisions[files[data["file"]]] = data["decision"]
    return decisions


def run(box: Mailbox, server, user, root: Path, store_url: str | None = None, batch: int = 50) -> Run:
    """All three phases: load, poll; facts for the next phase from the store; the sample dry-run before its poll."""
    config = configure(root, server, user, batch)
    store_url = store_url or f"sqlite:///{root / 'config' / 'var' / 'mailgate.db'}"
    env = {**os.environ, PASSWORD_ENV: user.password}
    env.pop("MAILGATE_STORE_URL", None)
    deliveries, polls, decisions = [], [], {}
    view = StoreView(store_url)
    try:
        for phase in (1, 2, 3):
            mails = box.phase(phase, view.facts(MAILBOX) if phase > 1 else None)
            if phase == 3:
                decisions = dry_run(config, env, store_url, mails, root / "sample")
            load(server, user, mails)
            deliveries += mails
            polls.append(poll(config, env, store_url, phase, len(mails), server, user))
        return Run(box, deliveries, polls, decisions, store_url, view.dialect)
    finally:
        view.close()


def fresh_root(prefix: str = "mailgate-realistic-") -> Path:
    root = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(root, 0o755)
    return root
