"""Statements per mail: a maildir poll of the realistic mailbox, in process, every statement counted.

Run: .venv/bin/python bench/bench_statements.py [--messages 2000] [--stores sqlite,postgres] [--seed 9]

On PostgreSQL every statement waits for the server, so statements per mail bound a poll there
(issue 10). Counted where they reach the driver: the prepared hot paths (engine/store/prepared.py),
bulk flushes (one executemany, counted once and by rows), everything through SQLAlchemy, and the
commits. Prints the total per mail and the most frequent statements.
"""

from __future__ import annotations

import argparse
import re
import shutil
import time
import sys
from collections import Counter
from pathlib import Path

import yaml
from sqlalchemy import event
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_poll import generate, write_maildir  # noqa: E402
from bench.realistic import postgres, stop_postgres  # noqa: E402
from engine.store import prepared  # noqa: E402
from tests.polltools import REPO, write_config  # noqa: E402
from tests.realistic import harness  # noqa: E402
from tests.realistic.compose import OUR_MX  # noqa: E402


class Counted:
    """Every statement the poll sends, by its first words."""

    def __init__(self) -> None:
        self.statements, self.rows = Counter(), 0
        self._run, self._execute, self._many = prepared.run, prepared.execute, getattr(prepared, "run_many", None)

    def install(self) -> None:
        def run(conn, stmt, params):
            cursor, form = self._run(conn, stmt, params)
            self.statements[_kind(form.sql)] += 1
            return cursor, form

        def execute(conn, sql):
            self.statements[_kind(sql)] += 1
            return self._execute(conn, sql)

        def run_many(conn, stmt, rows):
            self.statements["bulk " + _kind(stmt.form(conn.dialect, rows[0]).sql)] += 1
            self.rows += len(rows)
            return self._many(conn, stmt, rows)

        prepared.run, prepared.execute = run, execute
        if self._many is not None:
            prepared.run_many = run_many
        event.listen(Engine, "before_cursor_execute", self._core)
        event.listen(Engine, "commit", lambda conn: self.statements.update(["COMMIT"]))

    def _core(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.statements[_kind(statement)] += 1

    def total(self) -> int:
        return sum(self.statements.values())


def _kind(sql: str) -> str:
    words = re.sub(r"\s+", " ", sql.strip())
    match = re.match(r"(SELECT .{0,60}?FROM \S+|INSERT INTO \S+|UPDATE \S+|DELETE FROM \S+|\S+ ?\S*)", words)
    return match[1] if match else words[:60]


def maildir_config(root: Path, maildir: Path) -> Path:
    spec = yaml.safe_load((REPO / "mailboxes.d" / "demo.yaml").read_text())["mailbox"]
    spec.update(name=harness.MAILBOX, protocol="maildir", maildir={"path": str(maildir)},
                after_processing={"action": "mark_read"})
    spec["polling"] = {**spec.get("polling", {}), "max_messages": 9999, "batch_size": 50}
    spec["authentication"] = {"trusted_authserv_ids": [OUR_MX]}
    return write_config(root / "config", [spec])  # the store comes by --store (a PostgreSQL URL never in YAML)


def measure(mails: list, root: Path, store_url: str) -> tuple[Counted, str]:
    from engine.cli import main

    maildir = root / "maildir"
    shutil.rmtree(root, ignore_errors=True)
    write_maildir(maildir, mails)
    config = maildir_config(root, maildir)
    counted = Counted()
    counted.install()
    begin = time.process_time()
    try:
        status = main(["poll", "--once", "--config", str(config), "--store", store_url])
        counted.cpu = time.process_time() - begin
    finally:
        prepared.run, prepared.execute = counted._run, counted._execute
        if counted._many is not None:
            prepared.run_many = counted._many
        event.remove(Engine, "before_cursor_execute", counted._core)
    return counted, f"exit {status}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--no-read-ahead", action="store_true", help="ask the store mail by mail (compare outcomes)")
    args = parser.parse_args()
    mails = generate(args.messages, args.seed)
    if args.no_read_ahead:
        from engine.run import poll

        poll._wants = lambda *_: None
    root = harness.fresh_root("mailgate-bench-statements-")
    cluster = None
    try:
        for store in args.stores.split(","):
            if store == "postgres":
                cluster, url = postgres(root)
            else:
                url = f"sqlite:///{root / 'store.db'}"
            counted, status = measure(mails, root / store, url)
            print(f"\n{store}: {counted.total()} statements for {len(mails)} mails: "
                  f"{counted.total() / len(mails):.2f} per mail ({status}; bulk rows {counted.rows}; "
                  f"poller CPU {counted.cpu:.2f} s, counting included)")
            for kind, n in counted.statements.most_common(args.top):
                print(f"  {n / len(mails):6.2f}  {kind}")
    finally:
        stop_postgres(cluster)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
