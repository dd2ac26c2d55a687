"""Raw IMAP loop against the test Dovecot: flag each message as it goes vs one STORE per batch."""

from __future__ import annotations

import argparse
import os
import shutil
import ssl
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from imapclient import IMAPClient  # noqa: E402

from engine.sources.base import AfterAction  # noqa: E402
from engine.sources.imap import ImapSettings, ImapSource, uid_set  # noqa: E402
from tests.polltools import fetch_batches  # noqa: E402
from tests.servers.dovecot import make_message, start_dovecot, stop_dovecot  # noqa: E402


def per_message(client: IMAPClient, uids: list[int], batch: int) -> None:
    """What a naive poller does: fetch one, flag it \\Seen, next."""
    for uid in uids:
        client.fetch([uid], ["BODY.PEEK[]"])
        client.add_flags([uid], [b"\\Seen"], silent=True)


def per_batch(client: IMAPClient, uids: list[int], batch: int) -> None:
    """What mailgate does: fetch a batch, then one UID STORE for the whole batch."""
    for start in range(0, len(uids), batch):
        chunk = uids[start:start + batch]
        client.fetch(chunk, ["BODY.PEEK[]"])
        client.add_flags(uid_set(chunk), [b"\\Seen"], silent=True)


def connect(server, tls: bool) -> IMAPClient:
    """Plain port, or implicit TLS trusting the fixture's CA."""
    if not tls:
        return IMAPClient(server.host, port=server.ports["imap"], ssl=False)
    return IMAPClient(server.host, port=server.ports["imaps"], ssl=True,
                      ssl_context=ssl.create_default_context(cafile=str(server.ca_file)))


def run(server, user, loop, batch: int, tls: bool) -> float:
    """msgs/s of one loop over the user's INBOX, all messages unread at the start."""
    client = connect(server, tls)
    client.login(user.name, user.password)
    client.select_folder("INBOX")
    client.remove_flags("1:*", [b"\\Seen"], silent=True)
    uids = sorted(client.search(["UNSEEN"]))
    started = time.perf_counter()
    loop(client, uids, batch)
    elapsed = time.perf_counter() - started
    client.logout()
    return len(uids) / elapsed


def run_source(server, user, batch: int, tls: bool) -> float:
    """msgs/s through ImapSource.fetch + ack(mark_read), the path the poller uses."""
    with connect(server, False) as client:
        client.login(user.name, user.password)
        client.select_folder("INBOX")
        client.remove_flags("1:*", [b"\\Seen"], silent=True)
    settings = ImapSettings(host=server.host, port=server.ports["imaps" if tls else "imap"],
                            tls="implicit" if tls else "none", ca_file=str(server.ca_file),
                            username=user.name, password=user.password)
    count, started = 0, time.perf_counter()
    with ImapSource(settings) as source:
        for fetched in fetch_batches(source, 10**6, batch):
            source.ack([m.key for m in fetched], AfterAction.mark_read())
            count += len(fetched)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--size", type=int, default=30_000, help="bytes per message")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="best of N")
    parser.add_argument("--tls", action="store_true", help="implicit TLS (port 993 style)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mailgate-bench-"))
    os.chmod(root, 0o755)
    server, proc = start_dovecot(root)
    try:
        user = server.add_user()
        server.seed(user, (make_message(i, size=args.size) for i in range(args.messages)))
        run(server, user, per_batch, args.batch, args.tls)  # warm Dovecot's index and the page cache
        print(f"{args.messages} messages of ~{args.size // 1000} KB, batch {args.batch}, "
              f"{'implicit TLS' if args.tls else 'plain'}, best of {args.rounds}")
        for label, fn in (("flag each message as it goes", lambda: run(server, user, per_message, 1, args.tls)),
                          ("one UID STORE per batch", lambda: run(server, user, per_batch, args.batch, args.tls)),
                          ("ImapSource fetch + ack(mark_read)", lambda: run_source(server, user, args.batch, args.tls))):
            rate = max(fn() for _ in range(args.rounds))
            print(f"  {label:36s} {rate:8.0f} msgs/s")
    finally:
        stop_dovecot(proc)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
