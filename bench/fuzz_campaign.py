"""A random fuzz campaign over tests/fuzzmail.py's inputs; keeps the slowest in tests/slow_inputs/.

Run: .venv/bin/python bench/fuzz_campaign.py [--examples N] [--keep K] [--seed S]

Prints the slowest inputs (parse + evaluate seconds, size) and writes the K slowest as
tests/slow_inputs/<seconds-rank>-<sha256 prefix>.eml.gz, which tests/test_fuzz.py replays.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests import fuzzmail  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--keep", type=int, default=5)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    found: list[tuple[float, bytes]] = []

    @settings(max_examples=args.examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(fuzzmail.mutated(), fuzzmail.generated()))
    def campaign(raw: bytes) -> None:
        found.append((fuzzmail.parse_and_evaluate(raw), raw))

    if args.seed is not None:
        campaign = __import__("hypothesis").seed(args.seed)(campaign)
    campaign()
    slowest = sorted(found, key=lambda pair: -pair[0])[: args.keep]
    fuzzmail.SLOW_INPUTS.mkdir(exist_ok=True)
    for rank, (seconds, raw) in enumerate(slowest, 1):
        name = f"{rank:02d}-{hashlib.sha256(raw).hexdigest()[:12]}.eml.gz"
        (fuzzmail.SLOW_INPUTS / name).write_bytes(gzip.compress(raw, mtime=0))
        print(f"{seconds:6.2f} s  {len(raw):9,d} bytes  {name}  {raw[:60]!r}")
    print(f"{len(found)} inputs, slowest {slowest[0][0]:.2f} s" if slowest else "no inputs")


if __name__ == "__main__":
    main()
