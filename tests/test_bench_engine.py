"""The engine benchmark's goals, kept by a small run: matching cost does not grow with rule count.

SPEC IDs proved here: F-BODY-1, F-CFG-2, F-NEW-2, F-PRE-3, F-PRE-4.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import time

import pytest

from tests.conftest import REPO

SMALL, LARGE = 10, 2_000


def _bench():
    spec = importlib.util.spec_from_file_location("bench_engine", REPO / "bench" / "bench_engine.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _bench()


@pytest.fixture(scope="module")
def messages(bench):
    return [bench.parse(raw) for raw in bench.corpus(40)]


@pytest.fixture(scope="module")
def rulesets(bench):
    loaded = {}
    for count in (SMALL, LARGE):
        with bench.config_dir(count) as root:
            loaded[count] = bench.load_ruleset(root)
        bench.build_matchers(loaded[count])
    return loaded


def _python_calls(function) -> int:
    """How many Python-level function calls `function()` makes (C calls not counted)."""
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        if event == "call":
            calls += 1

    sys.setprofile(count)
    try:
        function()
    finally:
        sys.setprofile(None)
    return calls


def test_generated_rules_load_and_mostly_miss_F_PRE_4_F_BODY_1_F_NEW_2(bench, rulesets):
    large = rulesets[LARGE]
    assert len(large.keywords) >= LARGE and len(large.excluded_text) >= LARGE
    assert sum(rule.mode == "contains" for rule in large.subject_rules) >= LARGE
    assert len(large.routes.routes) >= LARGE and not large.routes.always  # every generated route is indexed (F-ROUTE-1)


def test_decisions_are_the_same_with_10_and_2000_rules_F_PRE_4_F_BODY_1_F_NEW_2(bench, messages, rulesets):
    small, large = (bench.evaluate_all(messages, rulesets[n]) for n in (SMALL, LARGE))
    assert [(d.outcome, d.reason, d.ticket and d.ticket.type) for d in small] == \
           [(d.outcome, d.reason, d.ticket and d.ticket.type) for d in large]
    # the few generated entries that occur in the corpus do fire: a keyword, a disclaimer, a type
    assert any(d.reason == "keyword" for d in large)
    assert any(d.ticket and d.ticket.type == "Bench 0" for d in large)
    assert any(s.rule == "excluded_text" and s.hit and s.detail == "bench-0" for d in large for s in d.trace)


def _written_like(regex_source: str) -> str:
    """A text the bench's generated disclaimer regex matches, in other case and line breaks."""
    text = regex_source.replace(r"(e-?mail|message)", "E-Mail").replace(r"(the\s+)?", "THE ")
    return re.sub(r"\\(.)", r"\1", text.replace(r"\s+", "\n ")).upper()


def test_regex_rules_are_found_as_each_regex_alone_finds_them_F_BODY_1_F_PRE_3(bench, messages, rulesets):
    """One FilteredRE2 pass gives exactly what a loop over every regex would."""
    ruleset, index = rulesets[LARGE], rulesets[LARGE].index
    regexes = [e for e in ruleset.excluded_text if e.is_regex]
    texts = [m.text for m in messages] + [m.subject for m in messages]
    generated = [e for e in regexes if e.name.startswith("bench-")][::50]
    texts += [f"Hallo Jörg,\n{_written_like(e.source)}\n-- \nÄrger im Büro" for e in generated]
    for text in texts:
        assert set(index.excluded_regexes.search(text)) == {e for e in regexes if e.regex.search(text)}
    assert sum(bool(index.excluded_regexes.search(text)) for text in texts) == len(generated)
    filters = [f for f in ruleset.subject_filters if f.match == "regex"]
    subject = "[" + filters[7].pattern.split("?", 1)[1].split(r"\]")[0].replace(r"\s+", " ") + "] Digest"
    assert index.subject_filters.first_match(subject) is filters[7]
    assert index.subject_filters.first_match("weekly digest") is None


def test_python_work_per_message_does_not_grow_with_rule_count_F_PRE_4_F_BODY_1_F_NEW_2(bench, messages, rulesets):
    """The algorithmic form of '10,000 rules <= 1.5x the time of 10': no Python loop over rules."""
    for count in (SMALL, LARGE):  # warm: first calls fill caches (templates, prefix regexes)
        bench.evaluate_all(messages, rulesets[count])
    small = _python_calls(lambda: bench.evaluate_all(messages, rulesets[SMALL]))
    large = _python_calls(lambda: bench.evaluate_all(messages, rulesets[LARGE]))
    assert large <= small * 1.02, (small, large)


def test_evaluate_time_with_2000_rules_stays_near_10(bench, messages, rulesets):
    bench.evaluate_all(messages, rulesets[LARGE])  # warm
    small = bench.best_of(5, lambda: bench.evaluate_all(messages, rulesets[SMALL]))
    large = bench.best_of(5, lambda: bench.evaluate_all(messages, rulesets[LARGE]))
    # goal 1.5x (measured ~1.0x); 2.5x leaves room for a busy 2-core machine
    assert large <= 2.5 * small, (small, large)


def test_parse_plus_evaluate_keeps_most_of_parse_speed(bench, rulesets):
    mails = bench.corpus(40)
    bench.parse(mails[0])
    parse_rate, both_rate = bench.parse_rates(mails, 3, rulesets[SMALL])
    # goal 0.8x (measured ~0.8x); 0.5x catches an evaluate() as slow as parse itself
    assert both_rate >= 0.5 * parse_rate, (parse_rate, both_rate)


def test_validating_a_big_config_grows_linearly_F_CFG_2(bench):
    seconds = {}
    for count in (500, 2_000):
        with bench.config_dir(count) as root:
            started = time.process_time()
            bench.load_ruleset(root)
            seconds[count] = time.process_time() - started
    # 4x the entries: ~4x the time; quadratic duplicate checks would make it ~16x
    assert seconds[2_000] <= 8 * seconds[500], seconds
