"""End-to-end poll speed: a generated mailbox in the test Dovecot, raw IMAP fetch vs `mailgate poll --once`."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from imapclient import IMAPClient  # noqa: E402

from bench_parse import corpus  # noqa: E402
from tests.polltools import write_config  # noqa: E402
from tests.servers.dovecot import start_dovecot, stop_dovecot  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PASSWORD_ENV = "MAILGATE_BENCH_PASSWORD"


def raw_fetch(server, user, batch: int) -> tuple[int, float]:
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
    return count, elapsed


def poll(server, user, root: Path, batch: int) -> tuple[str, float, int]:
    """`mailgate poll --once` into a fresh SQLite store; returns its summary, seconds and peak RSS in KiB."""
    spec = {"name": "bench", "address": "support@example.com", "protocol": "imap",
            "server": {"host": server.host, "port": server.ports["imap"], "tls": "none"},
            "auth": {"username": user.name, "password": {"env": PASSWORD_ENV}, "forbid_plaintext_login": False},
            "polling": {"max_messages": 9999, "batch_size": batch},
            # 50 senders write 5,000 mails in minutes: loop prevention would reject most of them
            # unread; off, every mail makes a ticket or a note, the expensive path.
            "loop_prevention": {"enabled": False}}
    config = write_config(root, [spec])
    env = {**os.environ, PASSWORD_ENV: user.password}
    begin = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, "poll", "--once", "--config", str(config)],
                          cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - begin
    if done.returncode != 0:
        raise SystemExit(f"poll failed: {done.stdout}{done.stderr}")
    rss = int(done.stderr.strip().splitlines()[-1].removeprefix("maxrss "))
    return done.stdout.strip(), elapsed, rss


# The poller itself, reporting its own peak RSS (VmHWM, KiB) when done. Not ru_maxrss: that
# high-water mark survives exec, so it would count the pages of this process holding the corpus.
CHILD = ("import sys; from engine.cli import main; status = main(sys.argv[1:]); "
         "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
         "print('maxrss', hwm, file=sys.stderr); sys.exit(status)")


def load(server, count: int, seed: int = 20240101):
    user = server.add_user("bench")
    mails = corpus(count, seed)
    server.seed(user, mails)
    return user, sum(len(m) for m in mails) / len(mails)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--small", type=int, default=1000, help="a second mailbox, to show memory is flat")
    parser.add_argument("--batch", type=int, default=50, help="messages per FETCH and per ack")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mailgate-bench-poll-"))
    os.chmod(root, 0o755)
    (root / "dovecot").mkdir()
    os.chmod(root / "dovecot", 0o755)
    server, proc = start_dovecot(root / "dovecot")
    try:
        for count in (args.small, args.messages):
            user, mean = load(server, count)
            fetched, raw_seconds = raw_fetch(server, user, args.batch)
            summary, seconds, rss = poll(server, user, root / f"config-{count}", args.batch)
            print(f"{count} messages, mean {mean / 1024:.1f} KiB, batch {args.batch}")
            print(f"  raw imapclient fetch:     {fetched / raw_seconds:7.0f} msgs/s ({raw_seconds:.1f} s)")
            print(f"  mailgate poll --once:     {count / seconds:7.0f} msgs/s ({seconds:.1f} s, start-up included)")
            print(f"  peak RSS of the poller:   {rss / 1024:7.0f} MiB")
            print(f"  {summary}")
    finally:
        stop_dovecot(proc)
        if server.token_server:
            server.token_server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
