"""At most N poll services of one config poll at once on a host; the others stand by until one ends (SPEC 6).

On a host with fewer cores than pollers, each extra poller only adds processes that take turns
on the same cores, and its start-up (imports, config, migration check, a parse worker) and cold
caches cost CPU the others would have used for mail. So a poller first takes a slot: an flock on
one of N files in a directory of the host's temp dir, keyed by the config directory and the PID
namespace (a container is a host of its own), and by --mailbox and --store. Without a free slot it stands by, before its
start-up, and tries again every second; the kernel frees a slot the moment its holder exits or
is killed, so a standby takes over within a second (plus its start-up). The other hosts' pollers
are not counted: they do not share these cores.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import signal
import tempfile
import time
from pathlib import Path

log = logging.getLogger("mailgate.service")
RETRY_SECONDS = 1.0


def usable_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_slots() -> int:
    """One poller per usable core: one poller with its parse worker, database session and IMAP server
    keeps about one core busy over a poll (it waits on round trips), so as many as cores fill them."""
    return usable_cores()


def slot_directory(config_dir: str | os.PathLike, *more: str | None) -> Path:
    """Where the slot files of the pollers of this config (and `more`: --mailbox, --store) on this host live.

    Pollers that differ in `more` poll different things, so they never wait for each other.
    """
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    parts = [os.path.realpath(config_dir), namespace, *(m or "" for m in more)]
    key = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"mailgate-{os.getuid()}-pollers" / key


class HostSlot:
    """One of `count` slots of a directory, held (as an flock) for the rest of the process's life."""

    def __init__(self, directory: Path, count: int):
        self.directory, self.count = directory, count
        self.fd: int | None = None
        self.number: int | None = None

    def try_take(self) -> bool:
        """Take a free slot; False when all `count` are held."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        for number in range(self.count):
            fd = os.open(self.directory / f"slot-{number}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    continue
                raise
            self.fd, self.number = fd, number
            return True
        return False

    def wait(self) -> bool:
        """Take a slot, standing by until one is free; False when SIGTERM or SIGINT came first."""
        if self.try_take():
            return True
        stop = []
        previous = {sig: signal.signal(sig, handler) for sig, handler in (
            (signal.SIGTERM, lambda *_: stop.append(True)), (signal.SIGINT, lambda *_: stop.append(True)),
            (signal.SIGHUP, signal.SIG_IGN))}  # the config is read once a slot is taken: nothing to reload
        log.info("standing by: %d poller(s) of this config already poll on this host (slots in %s, "
                 "--host-slots); taking over when one ends", self.count, self.directory)
        try:
            while not stop:
                time.sleep(RETRY_SECONDS)
                if not stop and self.try_take():
                    log.info("took slot %d of %d on this host: polling", self.number + 1, self.count)
                    return True
            return False
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = self.number = None
