"""The parse benchmark's goal, kept by a test: parse() is no slower than the naive stdlib path."""

from __future__ import annotations

import importlib.util

from tests.conftest import REPO


def _bench():
    spec = importlib.util.spec_from_file_location("bench_parse", REPO / "bench" / "bench_parse.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parse_is_at_least_as_fast_as_stdlib_policy_default():
    bench = _bench()
    mails = bench.corpus(60)
    bench.parse(mails[0])  # warm lazy imports
    # best of 3 rounds each; the measured margin is ~3x, so load on CI does not flake it
    assert bench.rate(bench.parse, mails, 3) >= bench.rate(bench.stdlib_path, mails, 3)


def test_generated_corpus_is_deterministic_and_mixed():
    bench = _bench()
    first, again = bench.corpus(40), bench.corpus(40)
    assert first == again
    assert any(b"Auto-Submitted: auto-replied" in raw for raw in first)
    assert any(b"text/html" in raw for raw in first)
    assert any(b"In-Reply-To" in raw for raw in first)
    assert any(b"=?utf-8?" in raw for raw in first)
