"""The CPU of `mailgate poll --once` on one mail, every process it starts counted (the parse worker, and
before it a forkserver and a resource tracker): start-up is what each extra poller pays.

Run: .venv/bin/python bench/poll_startup.py [--runs 5] [--tree DIR ...]

Each run polls a fresh maildir config (SQLite) inside a new PID namespace (`unshare`, as root)
whose PID 1 reaps every process, orphans included, so their CPU adds up in its rusage. With
several --tree (checkouts of mailgate, e.g. before and after a change) the runs alternate.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.polltools import REPO, drop, maildir_box, make_mail, write_config  # noqa: E402

REAPER = """import os, resource, subprocess, sys
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(usage.ru_utime + usage.ru_stime, code)
"""


def one_run(tree: Path, root: Path) -> float:
    shutil.rmtree(root, ignore_errors=True)
    config = write_config(root, [maildir_box("help", "support@example.com", "var/maildir/help")])
    drop(config / "var/maildir/help", make_mail("One mail"), "1.one")
    done = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", REAPER,
                           sys.executable, "-m", "engine.cli", "poll", "--once", "--config", str(config)],
                          cwd=tree, capture_output=True, text=True, check=True)
    cpu, code = done.stdout.split()
    if code != "0":
        raise SystemExit(f"poll --once in {tree} exited {code}")
    return float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tree", type=Path, action="append", help="a mailgate checkout (default: this one)")
    args = parser.parse_args()
    trees = args.tree or [REPO]
    for tree in trees:  # compiled, as a deployment runs (PYTHONDONTWRITEBYTECODE would compile every run)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "engine")], check=True,
                       stdout=subprocess.DEVNULL)
    cpu: dict[Path, list[float]] = {tree: [] for tree in trees}
    with tempfile.TemporaryDirectory(prefix="mailgate-bench-startup-") as tmp:
        for _ in range(args.runs):
            for tree in trees:
                cpu[tree].append(one_run(tree, Path(tmp) / "config"))
    print(f"load average {os.getloadavg()[0]:.2f}")
    for tree, seconds in cpu.items():
        print(f"{tree}: CPU s of poll --once on one mail, all processes: median {statistics.median(seconds):.2f} "
              f"(runs: {', '.join(f'{s:.2f}' for s in seconds)})")


if __name__ == "__main__":
    main()
