"""The realistic mailbox end to end: generate N mails with ground truth, poll them from the test Dovecot
with the shipped rules (loop prevention on), and print the score table of issue 9 and the speed.

Run: .venv/bin/python bench/realistic.py [--messages 5000] [--seed 9] [--store sqlite|postgres]
                                         [--store-url URL] [--batch 50] [--truth FILE] [--examples 8]

Starts a private Dovecot (and, with --store postgres, a private PostgreSQL) on loopback, like the tests.
The generator, harness and score live in tests/realistic/ (the acceptance test uses them on 2,000 mails).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.realistic import harness  # noqa: E402
from tests.realistic.generate import Mailbox  # noqa: E402
from tests.realistic.score import Score  # noqa: E402
from tests.servers.dovecot import start_dovecot, stop_dovecot  # noqa: E402


def postgres(root: Path):
    """A private PostgreSQL cluster (as the tests start it) and a fresh database on it."""
    from tests.servers.postgres import PostgresCluster, _bin_dir, _free_port

    bin_dir = _bin_dir()
    if bin_dir is None:
        raise SystemExit("PostgreSQL server binaries are not installed (sudo bash scripts/install.d/postgresql.sh)")
    pg_root = Path("/tmp") / f"mailgate-bench-pg-{os.getpid()}"
    pg_root.mkdir()
    if os.geteuid() == 0:
        shutil.chown(pg_root, user="postgres", group="postgres")
    cluster = PostgresCluster(bin_dir, pg_root, _free_port(15532))
    cluster.start()
    return cluster, cluster.create_database()


def stop_postgres(cluster) -> None:
    """Stop a cluster `postgres()` started, if one was, and remove its files."""
    if cluster is not None:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--store-url", help="an existing, empty PostgreSQL database instead of a private cluster")
    parser.add_argument("--batch", type=int, default=50, help="messages per FETCH and per commit")
    parser.add_argument("--truth", type=Path, help="write the ground truth here (JSON Lines, one line per delivery)")
    parser.add_argument("--examples", type=int, default=8, help="example mails (with their trace) per failed bar")
    args = parser.parse_args()
    root = harness.fresh_root("mailgate-bench-realistic-")
    (root / "dovecot").mkdir()
    os.chmod(root / "dovecot", 0o755)
    cluster, url = None, args.store_url
    server, proc = start_dovecot(root / "dovecot")
    try:
        if args.store == "postgres" and not url:
            cluster, url = postgres(root)
        begin = time.perf_counter()
        box = Mailbox(args.messages, seed=args.seed, end=datetime.now(timezone.utc))
        run = harness.run(box, server, server.add_user("bench"), root, url, args.batch)
        elapsed = time.perf_counter() - begin
        score = Score(run)
        if args.truth:
            args.truth.write_text("".join(d.truth.as_json() + "\n" for d in run.deliveries), encoding="utf-8")
        polled = sum(p.mails for p in run.polls)
        seconds = sum(p.seconds for p in run.polls)
        print(score.summary())
        print(f"all polls: {polled} mails in {seconds:.1f} s = {polled / seconds:.0f} msgs/s (start-up included); "
              f"whole run with generation, loading and dry-run: {elapsed:.0f} s\n")
        print(score.table())
        print()
        print(score.examples(args.examples))
    finally:
        stop_dovecot(proc)
        if server.token_server:
            server.token_server.stop()
        stop_postgres(cluster)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
