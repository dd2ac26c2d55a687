"""Pollers on separate "hosts" against one PostgreSQL (SPEC section 6, issue 17).

Each host is a pair of Linux namespaces made with `unshare`: its own host name
(UTS) and its own process ids (PID), so two pollers can have the same host name
and both be PID 1, as in containers. Killing a host is SIGKILL to its PID 1:
the kernel then kills every process of that namespace, and its connections close.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest
from sqlalchemy import text

from engine.store import Store
from engine.store.leases import ADVISORY_SPACE
from tests.polltools import REPO, drop, maildir_box, make_mail, write_config

pytestmark = pytest.mark.postgres

MAILBOXES = ("support", "north", "south", "east")  # "support": the shipped settings' return address
INTERVAL = 10  # the schema's minimum


def _unshare_works() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "--uts", "--pid", "--fork", "--mount-proc", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.fixture(scope="module")
def namespaces():
    if not _unshare_works():
        message = "Linux namespaces (unshare --uts --pid) are not available here"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must run the multi-host tests (as root)")
        pytest.skip(message)


def start_host(config, env, hostname: str) -> subprocess.Popen:
    """`mailgate poll` as PID 1 of a new UTS+PID namespace named `hostname`."""
    command = (f"hostname {hostname} && cd {REPO} && exec {sys.executable} -m engine.cli poll --config {config}")
    # The log goes to a file: a poller logs a line per mail, and a pipe nobody reads until the
    # end would fill and stop it mid-poll.
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(["unshare", "--uts", "--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c", command],
                            env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)
    proc.log = log
    return proc


def _log(proc) -> str:
    proc.log.seek(0)
    return proc.log.read()


def holders(store: Store) -> dict[str, str]:
    """Which host holds each mailbox's advisory lock right now (by the lock session's application_name)."""
    from engine.store.leases import lock_key

    keys = {lock_key(name) & 0xFFFFFFFF: name for name in MAILBOXES}
    with store.snapshot() as view:
        rows = view._rows(text("SELECT l.objid, a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                               "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.classid = :space AND l.granted"),
                          {"space": ADVISORY_SPACE})
    return {keys[int(objid)]: app for objid, app in rows if int(objid) in keys}


def _setup(tmp_path, per_mailbox: int):
    specs = [maildir_box(name, f"{name}@example.com", f"var/maildir/{name}",
                         polling={"interval_seconds": INTERVAL, "batch_size": 8, "max_messages": 9999})
             for name in MAILBOXES]
    config = write_config(tmp_path / "config", specs, store_url={"env": "MULTIHOST_STORE"})
    for name in MAILBOXES:
        for n in range(per_mailbox):
            drop(config / "var" / "maildir" / name,
                 make_mail(f"{name} request {n}", sender=f"user{n}@{name}.test", to=f"{name}@example.com"), f"{n}.m")
    return config


def _env(postgres_url: str, host: str) -> dict:
    """The store URL with the host's name as application_name, so pg_stat_activity tells the hosts apart."""
    joiner = "&" if "?" in postgres_url else "?"
    return {**os.environ, "MULTIHOST_STORE": f"{postgres_url}{joiner}application_name={host}", "PYTHONPATH": str(REPO)}


def _wait(condition, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    return condition()


def _count(store: Store, sql: str) -> int:
    with store.snapshot() as view:
        return int(view._rows(text(sql))[0][0])


def _stop(proc) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return _log(proc)


def test_same_hostname_same_pid_pollers_never_share_and_a_killed_host_hands_over(tmp_path, postgres_url, namespaces):
    per_mailbox = 120
    config = _setup(tmp_path, per_mailbox)
    store = Store.open(postgres_url)
    first = start_host(config, _env(postgres_url, "host-a"), "samehost")
    second = None
    try:
        assert _wait(lambda: "host-a" in holders(store).values() or first.poll() is not None, 120)
        assert first.poll() is None, f"host A stopped: {_log(first)[-3000:]}"
        second = start_host(config, _env(postgres_url, "host-b"), "samehost")  # same name, also PID 1
        seen: set[str] = set()

        def both_polling() -> bool:
            with store.snapshot() as view:
                seen.update(row[0] for row in view._rows(text("SELECT holder FROM leases")))
            return len(seen) >= 2

        assert _wait(both_polling, 120), "host B never held a mailbox"
        assert all(holder.startswith("samehost:1:") for holder in seen)  # same host name, same PID, told apart
        held_by_a = _wait(lambda: [m for m, host in holders(store).items() if host == "host-a"], 120)
        assert held_by_a, "host A held nothing to hand over"
        os.kill(first.pid, signal.SIGKILL)  # host A dies mid-poll, holding `held_by_a`
        first.wait(timeout=30)
        killed = time.monotonic()
        assert _wait(lambda: any(holders(store).get(m) == "host-b" for m in held_by_a)
                     or _count(store, "SELECT count(*) FROM processing_log") == per_mailbox * len(MAILBOXES), 60)
        handed_over = time.monotonic() - killed
        assert _wait(lambda: _count(store, "SELECT count(*) FROM processing_log") == per_mailbox * len(MAILBOXES), 600)
    finally:
        log_b = _stop(second) if second is not None else ""
        _stop(first)
    doubled = _count(store, "SELECT count(*) FROM (SELECT mailbox, message_key FROM processing_log "
                            "GROUP BY 1, 2 HAVING count(*) > 1) AS d")
    tickets = _count(store, "SELECT count(*) FROM tickets")
    store.close()
    assert doubled == 0 and tickets == per_mailbox * len(MAILBOXES)  # nothing lost, nothing twice
    # Two pollers on one mailbox at once would have met each other's messages ("already processed").
    assert "ignore" not in log_b and "already_processed" not in log_b, log_b[-2000:]
    assert handed_over < 60  # within a poll interval and some seconds, not a 10-minute lease
