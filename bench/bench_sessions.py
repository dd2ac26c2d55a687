"""What reconnecting costs: a POP3 poll of N messages with max_messages_per_session, and a login that falls back.

Starts the test Dovecots (tests/servers), seeds mail, and prints figures; it asserts nothing.
    .venv/bin/python bench/bench_sessions.py [--messages 1000] [--size 10000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.sources.base import AfterAction  # noqa: E402
from engine.sources.imap import ImapSettings, ImapSource  # noqa: E402
from engine.sources.pop3 import Pop3Settings, Pop3Source  # noqa: E402
from tests.polltools import fetch_batches  # noqa: E402
from tests.servers.dovecot import make_message, start_dovecot, stop_dovecot  # noqa: E402
from tests.servers.dovecot_hashed import PASSWORD, start_hashed_dovecot  # noqa: E402


def pop3_poll(server, user, messages: int, size: int, limit) -> tuple[float, int]:
    """Seconds to fetch and delete `messages` in batches of 50, and the sessions it took."""
    server.seed(user, [make_message(i, size) for i in range(messages)])
    source = Pop3Source(Pop3Settings(host=server.host, port=server.ports["pop3s"], tls="implicit",
                                     username=user.name, password=user.password, ca_file=str(server.ca_file),
                                     max_messages_per_session=limit))
    start = time.perf_counter()
    for batch in fetch_batches(source, messages, 50):
        source.ack([m.key for m in batch], AfterAction.delete())
    source.close()
    return time.perf_counter() - start, source.sessions


def login_seconds(server, auth, rounds: int = 20) -> tuple[float, str]:
    """Mean seconds of a test-connection (connect, TLS, login, select) with `auth`, and the mechanism used."""
    start, report = time.perf_counter(), None
    for _ in range(rounds):
        report = ImapSource(ImapSettings(host=server.host, port=server.ports["imaps"], tls="implicit",
                                         username=server.user.name, password=PASSWORD, ca_file=str(server.ca_file),
                                         auth=auth)).test_connection()
    return (time.perf_counter() - start) / rounds, report.auth_mechanism


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--size", type=int, default=10000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-sessions-"))
    hashed_root = Path(tempfile.mkdtemp(prefix="bench-hashed-"))
    for folder in (root, hashed_root):
        os.chmod(folder, 0o755)
    server, proc = start_dovecot(root)
    hashed, hashed_proc = start_hashed_dovecot(hashed_root)
    try:
        print(f"POP3 over TLS, {args.messages} messages of ~{args.size} bytes, batches of 50, delete after each batch")
        for limit in (None, 500, 100, 50):
            seconds, sessions = pop3_poll(server, server.add_user(), args.messages, args.size, limit)
            print(f"  max_messages_per_session={limit}: {sessions} session(s), {seconds:.2f} s, "
                  f"{args.messages / seconds:.0f} msgs/s")
        print("IMAP test-connection over TLS on a Dovecot storing SHA512-CRYPT hashes (mean of 20)")
        for auth in (("PLAIN",), "auto"):
            seconds, mechanism = login_seconds(hashed, auth)
            print(f"  auth={auth}: {seconds * 1000:.0f} ms, logged in with {mechanism}")
    finally:
        stop_dovecot(proc)
        stop_dovecot(hashed_proc)
        server.token_server.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(hashed_root, ignore_errors=True)


if __name__ == "__main__":
    main()
