"""Pollers of one config on one host poll at most --host-slots at a time; the others stand by, before
their start-up, and take over the moment a polling one ends (SPEC 6: several pollers; issue 17)."""

from __future__ import annotations

import signal
import subprocess

from engine.run.host_slots import HostSlot, slot_directory
from tests.polltools import MAILGATE, REPO, drop, maildir_box, make_mail, open_store, wait_for, write_config


def test_a_host_has_as_many_slots_as_it_says_and_an_ended_holder_frees_one(tmp_path):
    first, second, third = (HostSlot(tmp_path / "slots", 2) for _ in range(3))
    assert first.try_take() and second.try_take()
    assert not third.try_take()  # flock: each open file is a holder, in one process too
    first.release()  # as the kernel does when a poller exits or is killed
    assert third.try_take() and third.number != second.number


def test_slots_are_per_config_directory_mailbox_and_store(tmp_path):
    """Services of one config for different mailboxes (--mailbox) or stores never wait for each other."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert slot_directory(tmp_path / "a") == slot_directory(tmp_path / "link") != slot_directory(tmp_path / "b")
    assert slot_directory(tmp_path / "a", "help", None) != slot_directory(tmp_path / "a", "it", None)
    assert slot_directory(tmp_path / "a", None, "sqlite:////x.db") != slot_directory(tmp_path / "a", None, None)


def _service(config, log_path) -> subprocess.Popen:
    log = open(log_path, "w")  # a file: the service logs a line per mail, and a full pipe would stop it
    try:
        return subprocess.Popen([*MAILGATE, "poll", "--host-slots", "1", "--config", str(config)], cwd=REPO,
                                stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


def _stop(*procs: subprocess.Popen) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _standing_by(tmp_path, pollers: dict[str, subprocess.Popen]) -> tuple[subprocess.Popen, subprocess.Popen, Path]:
    """(the polling one, the one standing by, its log): they started together, either may have won."""
    logs = {name: tmp_path / f"{name}.log" for name in pollers}
    assert wait_for(lambda: any("standing by" in log.read_text() for log in logs.values()), timeout=60), \
        "".join(log.read_text() for log in logs.values())
    [waiting] = [name for name, log in logs.items() if "standing by" in log.read_text()]
    [polling] = [name for name in pollers if name != waiting]
    return pollers[polling], pollers[waiting], logs[waiting]


def test_a_poller_past_the_hosts_slots_stands_by_and_takes_over_when_the_poller_ends_SPEC_6(tmp_path):
    config = write_config(tmp_path / "config", [maildir_box("help", "support@example.com", "var/maildir/help",
                                                            polling={"interval_seconds": 10})])
    box = config / "var/maildir/help"
    drop(box, make_mail("First", message_id="<first@acme.test>"), "1.first")
    pollers = {name: _service(config, tmp_path / f"{name}.log") for name in ("one", "two")}
    store = open_store(config)
    try:
        polling, waiting, log = _standing_by(tmp_path, pollers)
        assert wait_for(lambda: [t.subject for t in store.tickets()] == ["First"], timeout=60)
        polling.send_signal(signal.SIGKILL)
        polling.wait()
        assert wait_for(lambda: "took slot 1 of 1" in log.read_text(), timeout=60), log.read_text()
        drop(box, make_mail("Second", message_id="<second@acme.test>"), "2.second")
        assert wait_for(lambda: sorted(t.subject for t in store.tickets()) == ["First", "Second"], timeout=60), \
            log.read_text()
        waiting.send_signal(signal.SIGTERM)
        assert waiting.wait(timeout=60) == 0
    finally:
        _stop(*pollers.values())
        store.close()


def test_a_standing_by_poller_ends_on_sigterm_and_ignores_sighup(tmp_path):
    config = write_config(tmp_path / "config", [maildir_box("help", "support@example.com", "var/maildir/help")])
    pollers = {name: _service(config, tmp_path / f"{name}.log") for name in ("one", "two")}
    try:
        polling, waiting, log = _standing_by(tmp_path, pollers)
        waiting.send_signal(signal.SIGHUP)  # `systemctl reload` of every unit: the config is read later
        waiting.send_signal(signal.SIGTERM)
        assert waiting.wait(timeout=60) == 0
        assert "took slot" not in log.read_text() and polling.poll() is None
    finally:
        _stop(*pollers.values())
