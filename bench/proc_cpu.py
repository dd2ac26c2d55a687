"""CPU seconds per kind of process: the pollers and their children (parse worker, forkserver, resource
tracker), and the bench's own PostgreSQL and Dovecot (not other instances on the machine), read from /proc."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, own CPU seconds, CPU seconds of waited-for children) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return int(fields[1]), (utime + stime) / TICK, (cutime + cstime) / TICK


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def postmaster(data_dir: Path) -> int:
    """The pid of the PostgreSQL server of this data directory (first line of postmaster.pid)."""
    return int((data_dir / "postmaster.pid").read_text().split()[0])


def snapshot(pollers: list[int], servers: dict[str, int]) -> Counter:
    """CPU seconds so far per kind: each poller's descendants by what they run; each server
    (kind -> root pid) with all its processes, those it reaped (ended sessions) included."""
    stats = {int(p): s for p in os.listdir("/proc") if p.isdigit() and (s := _stat(int(p))) is not None}
    kinds: dict[int, str] = {pid: "poller" for pid in pollers if pid in stats}
    kinds.update({pid: kind for kind, pid in servers.items() if pid in stats})
    cpu: Counter = Counter()
    for kind, pid in servers.items():
        if pid in stats:
            cpu[kind] += stats[pid][2]  # its reaped children
    changed = True
    while changed:  # descendants, whatever their depth
        changed = False
        for pid, (parent, _, _) in stats.items():
            if pid not in kinds and parent in kinds:
                kinds[pid] = _kind(pid, kinds[parent])
                changed = True
    for pid, kind in kinds.items():
        cpu[kind] += stats[pid][1]
    return cpu


def _kind(pid: int, parent_kind: str) -> str:
    if parent_kind not in ("poller", "forkserver"):
        return parent_kind
    line = _cmdline(pid)
    if "resource_tracker" in line:
        return "resource tracker"
    return "forkserver" if "forkserver" in line and parent_kind == "poller" else "parse worker"
