"""End-to-end poll speed on the realistic mailbox: raw IMAP fetch (the floor) vs `mailgate poll --once`
into SQLite and PostgreSQL, over IMAP, POP3 and maildir, with the shipped rules (loop prevention on),
CPU, peak RSS and time per stage.

Run: .venv/bin/python bench/bench_poll.py [--messages 5000] [--small 1000] [--stores sqlite,postgres]
                                          [--protocols imap,pop3,maildir] [--batch 50] [--seed 9]
                                          [--rounds 1] [--profile DIR]

Per mailbox size it generates the realistic mailbox of tests/realistic (all three phases in one go:
requests, replies, colleagues, forwards, machine mail, ~30 KB mean, ~400 senders), APPENDs it to a
private Dovecot with each mail's arrival as INTERNALDATE (IMAP and POP3 read the same INBOX) and
writes it as a maildir with each file's time its arrival; then, per protocol and store, alternating
when --rounds > 1 (the machine may be shared: compare figures of the same minutes):

- raw imapclient fetch: BODY.PEEK[] in batches of --batch, nothing done with the bytes;
- `mailgate poll --once --timings` in a subprocess into a fresh store, start-up included; its
  peak RSS (VmHWM), the CPU seconds of all its processes, the time per stage it reports, and
  (SQLite) the store's size on disk when done.

Between runs IMAP mail is marked unseen again and the maildir laid anew; POP3 leaves mail on the
server (after_processing mark_read), a fresh store makes it new again. A poll stops at
polling.max_messages (at most 9,999): the bench polls again, as the service would, and counts it.
--profile DIR records each poll's main thread with `py-spy record --gil` (collapsed stacks, one file
per run) instead of timing it; the parse worker's share is in the stage times.
"""

from __future__ import annotations

import argparse
import compileall
import copy
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from imapclient import IMAPClient, SEEN  # noqa: E402

from bench.realistic import postgres, stop_postgres  # noqa: E402
from tests.polltools import write_config  # noqa: E402
from tests.realistic import harness  # noqa: E402
from tests.realistic.generate import Mailbox  # noqa: E402
from tests.realistic.storeview import StoreView  # noqa: E402
from tests.servers.dovecot import start_dovecot, stop_dovecot  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

# The poller itself, reporting its own peak RSS (VmHWM, KiB) and CPU seconds when done (the parse
# worker's CPU comes from --timings). Not ru_maxrss: that high-water mark survives exec.
CHILD = ("import sys, resource; from engine.cli import main; status = main(sys.argv[1:]); "
         "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
         "me = resource.getrusage(resource.RUSAGE_SELF); "
         "print('maxrss', hwm, 'cpu', me.ru_utime + me.ru_stime, file=sys.stderr); sys.exit(status)")


@dataclass
class Result:
    """One measured run (one or more `poll --once` of one protocol into one fresh store)."""

    seconds: float
    mails: int
    processed: int = 0
    rss_kib: int = 0
    cpu_main: float = 0.0
    cpu_children: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    summary: str = ""
    polls: int = 0
    jams: int = 0  # runs that stopped on a mail an operator had to move aside
    store_bytes: int = 0  # of a SQLite store when done (its file and write-ahead log)

    @property
    def rate(self) -> float:
        return self.processed / self.seconds if self.seconds else 0.0


def generate(count: int, seed: int) -> list:
    """The realistic mailbox of `count` mails in arrival order (Mailbox.backlog: its three phases rendered
    at once; a reply whose thread has no known ticket number answers the customer's own first mail)."""
    return Mailbox(count, seed=seed, end=datetime.now(timezone.utc)).backlog()


def write_maildir(path: Path, deliveries: list) -> None:
    """The mailbox as a maildir, as an MTA leaves it: one file in new/ each, its time the arrival."""
    for sub in ("new", "cur", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    for number, delivery in enumerate(deliveries):
        file = path / "new" / f"{int(delivery.arrival.timestamp())}.M{number}P1.bench"
        file.write_bytes(delivery.raw)
        stamp = delivery.arrival.timestamp()
        os.utime(file, (stamp, stamp))


class Mailboxes:
    """The one generated mailbox, reachable over each protocol, and a config directory for each."""

    def __init__(self, root: Path, server, deliveries: list, batch: int):
        self.server, self.user = server, server.add_user("bench")
        harness.load(server, self.user, deliveries)
        self.template, self.maildir = root / "maildir-template", root / "maildir"
        write_maildir(self.template, deliveries)
        imap = harness.mailbox_spec(server, self.user, batch)
        self.configs = {protocol: write_config(root / f"config-{protocol}", [self._spec(imap, protocol)])
                        for protocol in ("imap", "pop3", "maildir")}
        self.env = {**os.environ, harness.PASSWORD_ENV: self.user.password}
        self.env.pop("MAILGATE_STORE_URL", None)

    def _spec(self, imap: dict, protocol: str) -> dict:
        spec = copy.deepcopy(imap)
        if protocol == "pop3":
            spec.update(protocol="pop3", server={**spec["server"], "port": self.server.ports["pop3"]})
        elif protocol == "maildir":
            del spec["server"], spec["auth"]
            spec.update(protocol="maildir", maildir={"path": str(self.maildir)})
        return spec

    def reset(self, protocol: str) -> None:
        """Make every mail new again: unseen on the server, a fresh maildir (POP3 keeps its mail)."""
        if protocol == "imap":
            mark_unseen(self.server, self.user)
        elif protocol == "maildir":
            shutil.rmtree(self.maildir, ignore_errors=True)
            shutil.copytree(self.template, self.maildir)  # copy2: the files keep their arrival times


def mark_unseen(server, user) -> None:
    client = server.imap(user)
    try:
        client.select_folder("INBOX")
        client.remove_flags(client.search("ALL"), [SEEN], silent=True)
    finally:
        client.logout()


def raw_fetch(server, user, batch: int) -> Result:
    """The floor: imapclient alone, BODY.PEEK[] in batches, nothing done with the bytes."""
    client = IMAPClient(server.host, port=server.ports["imap"], ssl=False, timeout=60)
    client.login(user.name, user.password)
    begin = time.perf_counter()
    client.select_folder("INBOX", readonly=True)
    uids = client.search(["ALL"])
    count = 0
    for start in range(0, len(uids), batch):
        count += len(client.fetch(uids[start:start + batch], ["BODY.PEEK[]"]))
    elapsed = time.perf_counter() - begin
    client.logout()
    return Result(elapsed, count, processed=count)


def poll(boxes: Mailboxes, protocol: str, store_url: str, mails: int, profile: Path | None) -> Result:
    """`mailgate poll --once --timings` in a subprocess until every mail is processed; its figures or profile.

    A poll ends at polling.max_messages: the next one goes on, as the service's would. A poll that
    stops on a mail it cannot get past (a jam) is run again after that mail is moved aside (IMAP:
    as harness.poll does; elsewhere the run ends there). The time of every run counts.
    """
    result, view = Result(0.0, mails), StoreView(store_url)
    try:
        while result.polls < harness.MAX_UNJAMS + mails // 9999 + 1:
            done = _poll_once(boxes, protocol, store_url, result, profile)
            result.store_bytes = sqlite_bytes(store_url)
            if done.returncode == 0:
                if result.processed >= mails or "no new mail" in done.stdout:
                    return result
                continue
            stuck = harness._first_unprocessed(boxes.server, boxes.user, view) if protocol == "imap" else None
            if stuck is None:
                print(f"  {protocol}: the poll failed and the bench cannot move the mail aside: {done.stdout.strip()}"
                      f" {done.stderr.strip()[-500:]}")
                return result
            harness._move_aside(boxes.server, boxes.user, stuck)
            result.jams += 1
        return result
    finally:
        view.close()


def sqlite_bytes(store_url: str) -> int:
    """The bytes a SQLite store holds on disk (0 for PostgreSQL): what keeping each mail writes."""
    if not store_url.startswith("sqlite:///"):
        return 0
    path = store_url[len("sqlite:///"):]
    return sum(os.path.getsize(path + suffix) for suffix in ("", "-wal") if os.path.exists(path + suffix))


def _poll_once(boxes: Mailboxes, protocol: str, store_url: str, result: Result, profile: Path | None):
    command = [sys.executable, "-c", CHILD, "poll", "--once", "--timings", "--config", str(boxes.configs[protocol]),
               "--store", store_url]
    if profile is not None:
        command = ["py-spy", "record", "--gil", "--rate", "250", "--format", "raw",
                   "-o", str(profile.with_suffix(f".{result.polls}.txt")), "--", *command]
    begin = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=boxes.env, capture_output=True, text=True)
    result.seconds += time.perf_counter() - begin
    result.polls += 1
    _add(result, done)
    return done


def _add(result: Result, done: subprocess.CompletedProcess) -> None:
    summary = next((line for line in done.stdout.splitlines() if "timings: " not in line), "")
    result.summary = result.summary or summary
    counts = summary.split(";", 1)[0]
    result.processed += sum(int(n) for n in re.findall(r"(\d+) [a-z_]+", counts))
    found = re.search(r"maxrss (\d+) cpu ([\d.]+)", done.stderr)
    if found:
        result.rss_kib, result.cpu_main = max(result.rss_kib, int(found[1])), result.cpu_main + float(found[2])
    for name, seconds in re.findall(r"(\w[\w ]*?) ([\d.]+) s(?:,|$)", _timings_line(done.stdout)):
        result.stages[name.strip()] = result.stages.get(name.strip(), 0.0) + float(seconds)
    result.cpu_children = result.stages.get("parse worker", 0.0)


def _timings_line(stdout: str) -> str:
    return next((line.split("timings: ", 1)[1] for line in stdout.splitlines() if "timings: " in line), "")


def store_url(store: str, root: Path, cluster, run: int) -> str:
    if store == "postgres":
        return cluster.create_database()
    return f"sqlite:///{root / f'store-{run}.db'}"


def report(count: int, mean: float, floor: list[Result], runs: dict[tuple[str, str], list[Result]]) -> None:
    best_floor = max(r.rate for r in floor)
    print(f"\n{count} mails, mean {mean / 1024:.1f} KiB, shipped rules, loop prevention on")
    print(f"  raw imapclient fetch (the floor): {_span([r.rate for r in floor])} msgs/s")
    for (protocol, store), results in runs.items():
        rates = [r.rate for r in results]
        cpu = [(r.cpu_main + r.cpu_children) / r.seconds * 100 for r in results]
        print(f"  {protocol:7} into {store:8}: {_span(rates)} msgs/s, {max(rates) / best_floor:.0%} of the floor; "
              f"peak RSS {max(r.rss_kib for r in results) / 1024:.0f} MiB; CPU {_span(cpu)} % of one core "
              f"(main {min(r.cpu_main for r in results) / count * 1000:.2f} s, "
              f"worker {min(r.cpu_children for r in results) / count * 1000:.2f} s per 1,000 mails)"
              + (f"; store {max(r.store_bytes for r in results) / count * 1000 / 2**20:.1f} MiB per 1,000 mails"
                 if store == "sqlite" else ""))
        best = max(results, key=lambda r: r.rate)
        if best.stages:
            print("    time per stage (best run): " + ", ".join(f"{k} {v:.2f} s" for k, v in best.stages.items()))
        notes = [f"{best.polls} polls"] if best.polls > 1 else []
        notes += [f"{best.jams} jam(s): mail moved aside and polled again"] if best.jams else []
        notes += [f"only {best.processed} of {count} processed"] if best.processed < count else []
        print(f"    {best.summary}" + (f" ({'; '.join(notes)})" if notes else ""))


def _span(values: list[float], form: str = ".0f") -> str:
    low, high = min(values), max(values)
    return f"{low:{form}}" if f"{low:{form}}" == f"{high:{form}}" else f"{low:{form}}–{high:{form}}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--small", type=int, default=1000, help="a smaller mailbox first, to show memory is flat (0: none)")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--protocols", default="imap", help="any of imap,pop3,maildir")
    parser.add_argument("--batch", type=int, default=50, help="messages per FETCH, per commit and per ack")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=1, help="runs per protocol and store, alternating")
    parser.add_argument("--profile", type=Path, help="record each poll with py-spy into this folder instead")
    args = parser.parse_args()
    stores, protocols = args.stores.split(","), args.protocols.split(",")
    # Start-up counts as an installed mailgate's would: pip compiles the package's bytecode when it
    # installs it, while an editable checkout (with PYTHONDONTWRITEBYTECODE) compiled ~0.3 s of it per run.
    compileall.compile_dir(REPO / "engine", quiet=1)
    root = harness.fresh_root("mailgate-bench-poll-")
    (root / "dovecot").mkdir()
    os.chmod(root / "dovecot", 0o755)
    server, proc = start_dovecot(root / "dovecot")
    cluster = postgres(root)[0] if "postgres" in stores else None  # each run takes a fresh database of it
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    try:
        for count in [n for n in (args.small, args.messages) if n]:
            mails = generate(count, args.seed)
            boxes = Mailboxes(root / f"mailbox-{count}", server, mails, args.batch)
            floor, runs = [], {(protocol, store): [] for protocol in protocols for store in stores}
            for round_ in range(args.rounds):
                for protocol, store in runs:
                    floor.append(raw_fetch(server, boxes.user, args.batch))
                    profile = args.profile / f"poll-{protocol}-{store}-{count}-{round_}.txt" if args.profile else None
                    url = store_url(store, root, cluster, len(floor))
                    boxes.reset(protocol)
                    runs[protocol, store].append(poll(boxes, protocol, url, len(mails), profile))
            report(len(mails), sum(len(d.raw) for d in mails) / len(mails), floor, runs)
    finally:
        stop_dovecot(proc)
        if server.token_server:
            server.token_server.stop()
        stop_postgres(cluster)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
