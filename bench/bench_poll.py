"""End-to-end poll speed on the realistic mailbox: raw IMAP fetch (the floor) vs `mailgate poll --once`
into SQLite and PostgreSQL, with the shipped rules (loop prevention on), peak RSS and time per stage.

Run: .venv/bin/python bench/bench_poll.py [--messages 5000] [--small 1000] [--stores sqlite,postgres]
                                          [--batch 50] [--seed 9] [--rounds 1] [--profile DIR]

Per mailbox size it generates the realistic mailbox of tests/realistic (all three phases in one go:
requests, replies, colleagues, forwards, machine mail, ~30 KB mean, ~400 senders), APPENDs it to a
private Dovecot with each mail's arrival as INTERNALDATE, and then, per store, alternating when
--rounds > 1 (the machine may be shared: compare figures of the same minutes):

- raw imapclient fetch: BODY.PEEK[] in batches of --batch, nothing done with the bytes;
- `mailgate poll --once --timings` in a subprocess into a fresh store, start-up included; its
  peak RSS (VmHWM), the CPU seconds of all its processes, and the time per stage it reports.

Between runs the mail is marked unseen again. --profile DIR records each poll with
`py-spy record --subprocesses` (collapsed stacks, one file per run) instead of timing it.
"""

from __future__ import annotations

import argparse
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
    """One measured run."""

    seconds: float
    mails: int
    rss_kib: int = 0
    cpu_main: float = 0.0
    cpu_children: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    summary: str = ""
    jams: int = 0  # runs that stopped on a mail an operator had to move aside

    @property
    def rate(self) -> float:
        return self.mails / self.seconds


def generate(count: int, seed: int) -> list:
    """The realistic mailbox of `count` mails: its three phases rendered at once (no store facts needed:
    a reply whose thread has no known ticket number answers the customer's own first mail)."""
    box = Mailbox(count, seed=seed, end=datetime.now(timezone.utc))
    return box.phase(1) + box.phase(2) + box.phase(3)


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
    uids = client.search(["UNSEEN"])
    count = 0
    for start in range(0, len(uids), batch):
        count += len(client.fetch(uids[start:start + batch], ["BODY.PEEK[]"]))
    elapsed = time.perf_counter() - begin
    client.logout()
    return Result(elapsed, count)


def poll(config: Path, env: dict, store_url: str, mails: int, server, user, profile: Path | None) -> Result:
    """`mailgate poll --once --timings` in a subprocess; its figures, or its py-spy profile.

    A poll that stops on a mail it cannot get past (a jam) is run again after that mail is moved
    aside, as harness.poll does; the time of every run counts, and the jams are reported.
    """
    result, view = Result(0.0, mails), StoreView(store_url)
    try:
        for run in range(harness.MAX_UNJAMS):
            command = [sys.executable, "-c", CHILD, "poll", "--once", "--timings", "--config", str(config),
                       "--store", store_url]
            if profile is not None:
                command = ["py-spy", "record", "--subprocesses", "--rate", "200", "--format", "raw",
                           "-o", str(profile.with_suffix(f".{run}.txt")), "--", *command]
            begin = time.perf_counter()
            done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
            result.seconds += time.perf_counter() - begin
            _add(result, done)
            if done.returncode == 0:
                return result
            stuck = harness._first_unprocessed(server, user, view)
            if stuck is None:
                raise SystemExit(f"poll failed: {done.stdout}{done.stderr}")
            harness._move_aside(server, user, stuck)
            result.jams += 1
        return result
    finally:
        view.close()


def _add(result: Result, done: subprocess.CompletedProcess) -> None:
    result.summary = result.summary or done.stdout.strip()
    found = re.search(r"maxrss (\d+) cpu ([\d.]+)", done.stderr)
    if found:
        result.rss_kib, result.cpu_main = max(result.rss_kib, int(found[1])), result.cpu_main + float(found[2])
    for name, seconds in re.findall(r"(\w[\w ]*?) ([\d.]+) s(?:,|$)", _timings_line(done.stdout)):
        result.stages[name.strip()] = result.stages.get(name.strip(), 0.0) + float(seconds)
    result.cpu_children = result.stages.get("parse worker", 0.0)


def _timings_line(stdout: str) -> str:
    return next((line.split("timings: ", 1)[1] for line in stdout.splitlines() if "timings: " in line), "")


def postgres(root: Path):
    """A private PostgreSQL cluster, as the tests start it."""
    from tests.servers.postgres import PostgresCluster, _bin_dir, _free_port

    bin_dir = _bin_dir()
    if bin_dir is None:
        raise SystemExit("PostgreSQL server binaries are not installed (sudo bash scripts/install.d/postgresql.sh)")
    pg_root = Path("/tmp") / f"mailgate-bench-poll-pg-{os.getpid()}"
    pg_root.mkdir()
    if os.geteuid() == 0:
        shutil.chown(pg_root, user="postgres", group="postgres")
    cluster = PostgresCluster(bin_dir, pg_root, _free_port(15542))
    cluster.start()
    return cluster


def store_url(store: str, root: Path, cluster, run: int) -> str:
    if store == "postgres":
        return cluster.create_database()
    return f"sqlite:///{root / f'store-{run}.db'}"


def report(count: int, mean: float, floor: list[Result], runs: dict[str, list[Result]]) -> None:
    best_floor = max(r.rate for r in floor)
    print(f"\n{count} mails, mean {mean / 1024:.1f} KiB, shipped rules, loop prevention on")
    print(f"  raw imapclient fetch (the floor): {_span([r.rate for r in floor])} msgs/s")
    for store, results in runs.items():
        rates = [r.rate for r in results]
        cpu = [(r.cpu_main + r.cpu_children) / r.mails * 1000 for r in results]
        print(f"  poll --once into {store:8}: {_span(rates)} msgs/s, {max(rates) / best_floor:.0%} of the floor; "
              f"peak RSS {max(r.rss_kib for r in results) / 1024:.0f} MiB; "
              f"CPU {_span(cpu, '.1f')} s per 1,000 mails (main {min(r.cpu_main for r in results):.1f} s, "
              f"worker {min(r.cpu_children for r in results):.1f} s)")
        best = max(results, key=lambda r: r.rate)
        if best.stages:
            print("    time per stage (best run): " + ", ".join(f"{k} {v:.2f} s" for k, v in best.stages.items()))
        jams = f" ({best.jams} jam(s): mail moved aside and polled again, as an operator would)" if best.jams else ""
        print(f"    {best.summary.splitlines()[0] if best.summary else ''}{jams}")


def _span(values: list[float], form: str = ".0f") -> str:
    low, high = min(values), max(values)
    return f"{low:{form}}" if f"{low:{form}}" == f"{high:{form}}" else f"{low:{form}}–{high:{form}}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--small", type=int, default=1000, help="a smaller mailbox first, to show memory is flat (0: none)")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--batch", type=int, default=50, help="messages per FETCH, per commit and per ack")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=1, help="runs per store, alternating stores")
    parser.add_argument("--profile", type=Path, help="record each poll with py-spy into this folder instead")
    args = parser.parse_args()
    stores = args.stores.split(",")
    root = harness.fresh_root("mailgate-bench-poll-")
    (root / "dovecot").mkdir()
    os.chmod(root / "dovecot", 0o755)
    server, proc = start_dovecot(root / "dovecot")
    cluster = postgres(root) if "postgres" in stores else None
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    try:
        for count in [n for n in (args.small, args.messages) if n]:
            mails = generate(count, args.seed)
            user = server.add_user("bench")
            harness.load(server, user, mails)
            config = harness.configure(root / f"config-{count}", server, user, args.batch)
            env = {**os.environ, harness.PASSWORD_ENV: user.password}
            env.pop("MAILGATE_STORE_URL", None)
            floor, runs = [], {store: [] for store in stores}
            for round_ in range(args.rounds):
                for store in stores:
                    floor.append(raw_fetch(server, user, args.batch))
                    profile = args.profile / f"poll-{store}-{count}-{round_}.txt" if args.profile else None
                    url = store_url(store, root, cluster, len(floor))
                    runs[store].append(poll(config, env, url, len(mails), server, user, profile))
                    mark_unseen(server, user)
            report(len(mails), sum(len(d.raw) for d in mails) / len(mails), floor, runs)
    finally:
        stop_dovecot(proc)
        if server.token_server:
            server.token_server.stop()
        if cluster is not None:
            cluster.stop()
            shutil.rmtree(cluster.root, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
