"""Several pollers, one PostgreSQL: N `mailgate poll` services on M IMAP mailboxes of realistic mail.

For each poller count it loads the same mail afresh (the realistic generator's backlog, split over
the mailboxes), starts N services at once against a fresh database, waits until every message is
in the processing log, and prints: msgs/s, how often a session waited for a lock (sampled from
pg_stat_activity), the ticket-number retries, and whether the result equals the one-poller run
(the same outcome and reason for every delivery, the same number of tickets and notes).

Run: .venv/bin/python bench/scale_out.py [--pollers 1,2,4] [--mailboxes 4] [--messages 2000] [--seed 9]

On this 2-core machine the bar is that more pollers are never slower; on more cores the figures
show how far they scale. Starts a private Dovecot and PostgreSQL on loopback, like the tests.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from email.parser import BytesParser
from email.policy import compat32
from email.utils import getaddresses
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.exc import ProgrammingError  # noqa: E402

from bench.proc_cpu import postmaster, snapshot  # noqa: E402
from bench.realistic import postgres, stop_postgres  # noqa: E402
from tests.polltools import REPO, write_config  # noqa: E402
from tests.realistic import harness  # noqa: E402
from tests.realistic.generate import Mailbox  # noqa: E402
from tests.servers.dovecot import start_dovecot, stop_dovecot  # noqa: E402

PASSWORD_ENV = "MAILGATE_SCALE_PASSWORD_{}"
STALL_SECONDS = 45  # no new processing-log row for this long (several poll intervals): the run is over


def mailbox_specs(server, users) -> list[dict]:
    """One shipped-style IMAP mailbox per user; the first has the shipped settings' return address."""
    specs = []
    for i, user in enumerate(users):
        spec = harness.mailbox_spec(server, user)
        spec.update(name=f"box{i}", address="support@example.com" if i == 0 else f"box{i}@example.com")
        spec["auth"] = {**spec["auth"], "password": {"env": PASSWORD_ENV.format(i)}}
        spec["polling"] = {**spec["polling"], "interval_seconds": 10}
        specs.append(spec)
    return specs


class LockSampler(threading.Thread):
    """Counts, every 0.2 s, the sessions waiting for a lock held by another session."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        self.samples = self.waiting_samples = self.max_waiting = 0
        self.stop = threading.Event()

    def run(self) -> None:
        with self.engine.connect() as conn:
            while not self.stop.is_set():
                waiting = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")).scalar()
                conn.rollback()
                self.samples += 1
                self.waiting_samples += bool(waiting)
                self.max_waiting = max(self.max_waiting, waiting)
                self.stop.wait(0.2)


def run_pollers(count: int, config: Path, env: dict, url: str, expected: int, servers: dict[str, int],
                slots: list[str]) -> dict:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    sampler = LockSampler(url)
    logs = [open(config.parent / f"poller{n}.log", "w+") for n in range(count)]
    cpu_before, load_before = snapshot([], servers), os.getloadavg()[0]
    begin = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "engine.cli", "poll", *slots, "--config", str(config), "--store", url],
                              cwd=REPO, env=env, stdout=logs[n], stderr=logs[n]) for n in range(count)]
    sampler.start()
    done, last_change = 0, time.perf_counter()
    try:
        while done < expected and all(p.poll() is None for p in procs):
            time.sleep(0.2)
            now_done = processed(engine)
            if now_done != done:
                done, last_change = now_done, time.perf_counter()
            elif time.perf_counter() - last_change > STALL_SECONDS:
                break  # a jammed mailbox: report what was done, as 'stalled'
        seconds = last_change - begin
        cpu = snapshot([p.pid for p in procs], servers)
        cpu.subtract(cpu_before)
    finally:
        sampler.stop.set()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    output, shares = "", []
    for log in logs:
        log.seek(0)
        text_of_one = log.read()
        shares.append(text_of_one.count(" INFO mailgate.poll: "))  # its line per mail: how the work was shared
        output += text_of_one
        log.close()
    with engine.connect() as conn:
        outcomes = {(mb, key): (outcome, reason) for mb, key, outcome, reason in conn.execute(
            text("SELECT mailbox, message_key, outcome, reason FROM processing_log"))}
        tickets = conn.execute(text("SELECT count(*) FROM tickets")).scalar()
        notes = conn.execute(text("SELECT count(*) FROM notes")).scalar()
    engine.dispose()
    return dict(seconds=seconds, done=done, stalled=done < expected, outcomes=outcomes, tickets=tickets, notes=notes,
                retries=output.count("was taken meanwhile"), lock_share=sampler.waiting_samples / max(1, sampler.samples),
                max_waiting=sampler.max_waiting, errors=output.count(" ERROR "), cpu=cpu,
                load=(load_before, os.getloadavg()[0]), shares=shares)


def startup_cpu(config: Path, env: dict, url: str) -> tuple[float, float]:
    """(CPU s, wall s) of `poll --once` when every mail is processed: start-up and four empty polls."""
    before, begin = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run([sys.executable, "-m", "engine.cli", "poll", "--once", "--config", str(config), "--store", url],
                   cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime), time.perf_counter() - begin


def processed(engine) -> int:
    """Rows in the processing log; 0 while the pollers (started on an empty database) still migrate it."""
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM processing_log")).scalar()
    except ProgrammingError:
        return 0


def by_delivery(result: dict, keys: dict[tuple[str, str], int]) -> dict[int, tuple[str, str]]:
    """Outcome and reason per delivery index (message keys differ between runs: fresh mailboxes)."""
    return {keys[k]: v for k, v in result["outcomes"].items() if k in keys}


def shared_people(mail: list[list]) -> set[int]:
    """Deliveries naming (From, To, Cc) a person another mailbox's mail names too.

    The generators of the mailboxes draw senders from the same name lists, so a few people
    write to two mailboxes. What becomes of such mail depends on which mailbox is polled first
    (the first mail creates the user; a Cc joins a ticket only as an existing user), and that
    order is the poller's to choose, one poller or several. Only the other deliveries must
    come out as in the one-poller run.
    """
    people: list[dict[int, set[str]]] = []
    for i, deliveries in enumerate(mail):
        people.append({i * 10**6 + d.truth.index: _people(d.raw) for d in deliveries})
    boxes_of: dict[str, set[int]] = {}
    for i, box in enumerate(people):
        for names in box.values():
            for name in names:
                boxes_of.setdefault(name, set()).add(i)
    return {index for box in people for index, names in box.items()
            if any(len(boxes_of[name]) > 1 for name in names)}


def _people(raw: bytes) -> set[str]:
    message = BytesParser(policy=compat32).parsebytes(raw, headersonly=True)
    fields = [str(value) for name in ("From", "To", "Cc") for value in message.get_all(name, [])]
    return {address.lower() for _, address in getaddresses(fields) if "@" in address} - {"support@example.com"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pollers", default="1,2,4", help="poller counts to compare, in this order, e.g. 1,2,4,8 or 1,4,1,4")
    parser.add_argument("--mailboxes", type=int, default=4)
    parser.add_argument("--messages", type=int, default=2000, help="mails in all (the backlog phase of the generator)")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--host-slots", help="passed to each `mailgate poll` (0: every poller polls; default: the service's)")
    args = parser.parse_args()
    # A deployment runs compiled modules; with PYTHONDONTWRITEBYTECODE each poller would compile ~120 again.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "engine")], check=True, stdout=subprocess.DEVNULL)
    slots = ["--host-slots", args.host_slots] if args.host_slots is not None else []
    counts = [int(n) for n in args.pollers.split(",")]
    root = harness.fresh_root("mailgate-bench-scale-")
    (root / "dovecot").mkdir()
    os.chmod(root / "dovecot", 0o755)
    server, proc = start_dovecot(root / "dovecot")
    cluster, _ = postgres(root)
    end = datetime.now(timezone.utc)
    boxes = [Mailbox(args.messages // args.mailboxes, seed=args.seed + i, end=end) for i in range(args.mailboxes)]
    mail = [box.phase(1) for box in boxes]
    shared = shared_people(mail)
    rows, baseline = [], None
    try:
        for count in counts:
            users = [server.add_user(f"scale{count}m{i}") for i in range(args.mailboxes)]
            keys: dict[tuple[str, str], int] = {}
            for i, (user, deliveries) in enumerate(zip(users, mail)):
                harness.load(server, user, deliveries)
                client = server.imap(user)
                validity = client.folder_status("INBOX", ["UIDVALIDITY"])[b"UIDVALIDITY"]
                client.logout()
                keys.update({(f"box{i}", f"{validity}:{d.truth.uid}"): i * 10**6 + d.truth.index for d in deliveries})
            config = write_config(root / f"config{count}", mailbox_specs(server, users))
            env = {**os.environ, **{PASSWORD_ENV.format(i): u.password for i, u in enumerate(users)}}
            env.pop("MAILGATE_STORE_URL", None)
            url = cluster.create_database()
            result = run_pollers(count, config, env, url, sum(len(d) for d in mail),
                                 {"postgresql": postmaster(cluster.data), "dovecot": proc.pid}, slots)
            result["startup"] = startup_cpu(config, env, url)
            outcome = by_delivery(result, keys)
            if baseline is None:
                baseline = (outcome, result["tickets"], result["notes"])
            differ = sorted(d for d in set(outcome) | set(baseline[0]) if outcome.get(d) != baseline[0].get(d))
            same = not [d for d in differ if d not in shared]
            if differ:
                print(f"{count} poller(s) differ from the first run in {len(differ)} deliveries, "
                      f"{len([d for d in differ if d in shared])} of them naming a person another mailbox names too; "
                      f"tickets {result['tickets']} / {baseline[1]}, notes {result['notes']} / {baseline[2]}: " + "; ".join(
                          f"delivery {d}{' (shared)' if d in shared else ''}: {outcome.get(d)} (first run: "
                          f"{baseline[0].get(d)})" for d in differ)[:2000], flush=True)
            rows.append((count, result, same))
            stalled = f" (stalled: {sum(len(d) for d in mail) - result['done']} never processed)" if result["stalled"] else ""
            print(f"{count} poller(s): {result['done']} mails in {result['seconds']:.1f} s{stalled}, "
                  f"load {result['load'][0]:.2f} before, {result['load'][1]:.2f} after; mails per poller "
                  f"{'/'.join(map(str, result['shares']))}", flush=True)
    finally:
        stop_dovecot(proc)
        stop_postgres(cluster)
        shutil.rmtree(root, ignore_errors=True)
    total = sum(len(d) for d in mail)
    print(f"\n{total} mails on {args.mailboxes} IMAP mailboxes, one PostgreSQL, {os.cpu_count()} cores, "
          f"host slots: {args.host_slots or 'the default'}\n")
    print("| pollers | msgs/s | vs 1 | samples with a lock wait | most sessions waiting | number retries | errors "
          "| result = 1 poller (mail no other mailbox shares a person with) |")
    print("|---|---|---|---|---|---|---|---|")
    ones = [r["done"] / r["seconds"] for c, r, _ in rows if c == 1] or [rows[0][1]["done"] / rows[0][1]["seconds"]]
    first = sum(ones) / len(ones)  # counts may repeat, in any order (1,4,2,1,4: alternate on a shared machine)
    for count, result, same in rows:
        rate = result["done"] / result["seconds"]
        print(f"| {count} | {rate:.0f} | {rate / first:.2f}× | {result['lock_share']:.0%} | {result['max_waiting']} "
              f"| {result['retries']} | {result['errors']} | {'yes' if same else 'NO'} |")
    kinds = ["poller", "parse worker", "forkserver", "resource tracker", "postgresql", "dovecot"]
    print("\nCPU seconds per kind of process (all pollers together), and one `poll --once` with nothing to do:\n")
    print("| pollers | " + " | ".join(kinds) + " | start-up poll: CPU / wall | load before / after |")
    print("|---" * (len(kinds) + 3) + "|")
    for count, result, _ in rows:
        print(f"| {count} | " + " | ".join(f"{result['cpu'][k]:.1f}" for k in kinds)
              + f" | {result['startup'][0]:.2f} / {result['startup'][1]:.2f} s"
              + f" | {result['load'][0]:.2f} / {result['load'][1]:.2f} |")
    print("\n(1 poller's counts: " + ", ".join(f"{n} {o}/{r}" for (o, r), n in
                                            Counter(baseline[0].values()).most_common()) + ")")


if __name__ == "__main__":
    main()
