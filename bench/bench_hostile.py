"""Time parse() and evaluate() on each hostile mail of issue 16 (tests/hostile.py), each in its own process.

Run: .venv/bin/python bench/bench_hostile.py [--timeout S] [NAME ...]

Prints size, parse and evaluate seconds per input (shipped rules, in-memory state);
an input still running after --timeout seconds (default 300) is reported as such.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, REPO)

from tests.hostile import HOSTILE  # noqa: E402


def measure(name: str) -> str:
    """One line of figures for one input (runs in the child process)."""
    from datetime import datetime, timezone
    from pathlib import Path

    from engine.commands.golden import default_mailbox
    from engine.config.compile import load_ruleset
    from engine.evaluate import evaluate
    from engine.parse import parse
    from engine.store.memory_state import from_ruleset

    raw = HOSTILE[name]()
    ruleset = load_ruleset(Path(REPO))
    parse(b"From: a@example.com\r\n\r\nwarm up lazy imports")
    start = time.perf_counter()
    message = parse(raw)
    parsed = time.perf_counter() - start
    start = time.perf_counter()
    decision = evaluate(message, ruleset, from_ruleset(ruleset), datetime(2024, 1, 1, tzinfo=timezone.utc),
                        default_mailbox(ruleset))
    evaluated = time.perf_counter() - start
    return (f"{name:22} {len(raw) / 1e6:6.2f} MB  parse {parsed:7.2f} s  evaluate {evaluated:5.2f} s  "
            f"-> {decision.outcome.value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(HOSTILE), help="inputs (default: all)")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(measure(args.child), flush=True)
        return
    for name in args.names:
        try:
            subprocess.run([sys.executable, __file__, "--child", name], timeout=args.timeout, check=True)
        except subprocess.TimeoutExpired:
            print(f"{name:22} still running after {args.timeout:.0f} s", flush=True)


if __name__ == "__main__":
    main()
