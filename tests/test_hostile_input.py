"""Hostile mail costs bounded work (issue 16): each input here once stalled a mailbox for seconds to minutes.

Where work can be counted, the tests count it; where it cannot (a regex, a library in
Rust), the input runs in a fresh interpreter under a generous time limit: each took
10-100x that limit before its fix, and takes well under a tenth of it now.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from engine.parse import parse
from engine.parse.mime import blobs
from engine.parse.mime.headers import MAX_WORDS, decode_words
from engine.parse.mime.html import MAX_DEPTH, flatten
from engine.parse.parser import MAX_REFERENCES
from engine.parse.tnef import MAX_MAPI_READS, unpack
from tests import hostile
from tests.conftest import REPO

LIMIT = 20.0  # seconds for an input that took minutes; the fixed code needs about one


def finishes_within(seconds: float, code: str) -> None:
    """Run `code` (with `tests.hostile` imported as `hostile`) in a new interpreter under a time limit."""
    program = "from tests import hostile\n" + textwrap.dedent(code)
    try:
        subprocess.run([sys.executable, "-c", program], cwd=REPO, timeout=seconds, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {seconds:.0f} s: {code.strip()}")


def test_base64_alphabet_runs_just_under_64_kib_are_scanned_once_F_FAIL_1():
    """32 runs of 65,000 'A' (2 MB) took 176 s in blobs.hide: each run was rescanned from every position."""
    finishes_within(LIMIT, """
        from engine.parse.mime import blobs
        raw = hostile.base64_runs(runs=64)
        assert blobs.hide(raw) == (raw, {})
    """)


def test_a_long_base64_block_is_still_hidden_whole():
    raw = b"Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b"QUJD\r\n" * 200_000 + b"tail\r\n"
    skeleton, hidden = blobs.hide(raw)
    assert len(hidden) == 1 and len(skeleton) < 200
    assert bytes(next(iter(hidden.values()))).startswith(b"QUJD\r\n")


def test_html_nested_past_the_cap_is_flattened_with_a_defect_F_BODY_2():
    """40,000 nested <div> took 7 s in the sanitiser (quadratic in depth); the words survive."""
    message = parse(hostile.nested_html(40_000))
    assert any(f"deeper than {MAX_DEPTH} levels" in d for d in message.defects)
    assert message.text == "deep"
    assert message.html.count("<div>") == MAX_DEPTH


def test_flatten_keeps_ordinary_html_as_it_is():
    html = "<table><tr><td><p>one<p>two<br><img src=cid:x></td></tr></table>" * 500
    assert flatten(html) == (html, 0)


def test_flatten_drops_only_the_tags_past_the_cap():
    html = "<div><b>x</b><div><i>y</i><div>z</div></div></div>"
    assert flatten(html, limit=2) == ("<div><b>x</b><div>yz</div></div>", 2)


def test_stray_end_tags_do_not_hide_depth():
    """`</x>` for an element never opened closes nothing, as in a real HTML parser."""
    flat, dropped = flatten("<b id=1></x>" * 1000)
    assert dropped == 1000 - MAX_DEPTH


def test_200_000_nested_divs_parse_in_bounded_time_F_BODY_2():
    finishes_within(LIMIT, """
        from engine.parse import parse
        assert parse(hostile.nested_html(200_000)).text == "deep"
    """)


def test_encoded_words_past_the_cap_stay_as_written_F_BODY_4():
    defects: list[str] = []
    words = " ".join(["=?utf-8?q?a?="] * (MAX_WORDS + 5))
    text = decode_words(words, defects)
    assert text.startswith("a" * MAX_WORDS) and text.endswith(" =?utf-8?q?a?=")
    assert defects == [f"header: more than {MAX_WORDS} encoded words, the rest left as written"]


def test_split_multibyte_characters_still_join_across_words_F_BODY_4():
    assert decode_words("=?utf-8?b?w6k=?= =?utf-8?b?w6k=?= =?iso-8859-1?q?=E9?=") == "ééé"
    assert decode_words("=?utf-8?q?=C3?= =?utf-8?q?=A9?=") == "é"


def test_200_000_encoded_words_in_a_subject_parse_in_bounded_time_F_PRE_2():
    """stdlib decode_header in the auto-reply check: 80,000 words took 10 s, 3.4 MB over 60 s."""
    finishes_within(LIMIT, """
        from engine.parse import parse
        message = parse(hostile.encoded_words(200_000))
        assert message.subject.startswith("a" * 1000)
    """)


def test_a_winmail_dat_is_never_copied_once_per_object_F_ATT_3(monkeypatch):
    """tnefparse handed each of 4,000 objects a copy of the rest of a 24 MB stream (~50 GB copied)."""
    import tnefparse.tnef as module

    unpack(hostile.tnef_flood(size=100, objects=2))  # the first real payload patches tnefparse
    copied = []
    original = module.TNEFObject.__init__

    def counting(self, data, do_checksum=False):
        copied.append(len(data) if isinstance(data, bytes) else 0)
        original(self, data, do_checksum)

    monkeypatch.setattr(module.TNEFObject, "__init__", counting)
    payload = hostile.tnef_flood(size=4_000_000, objects=4000)
    assert unpack(payload).defects == ()
    assert len(copied) == 4000 and sum(copied) <= len(payload)


@pytest.mark.parametrize("payload", [hostile.tnef_properties, hostile.tnef_recipients], ids=["properties", "recipients"])
def test_mapi_counts_in_a_winmail_dat_are_bounded_F_ATT_3(payload):
    """3 million tiny MAPI properties or 6 million recipient rows in 24 MB took 15 s each."""
    found = unpack(payload(size=8 * 1024 * 1024))
    assert found.defects == (f"tnef-unreadable: more than {MAX_MAPI_READS} MAPI values",)


def test_references_keep_the_root_and_the_closest_parents_F_REF_1():
    """200,000 References cost a store lookup each (24 s) and were copied into the auto-reply."""
    message = parse(hostile.many_references(200_000))
    assert len(message.references) == MAX_REFERENCES
    assert message.references[0] == "0@example.com"
    assert message.references[-1] == "199999@example.com"
    assert any("References holds 200000 Message-IDs" in d for d in message.defects)


def test_an_auto_reply_copies_a_bounded_references_header_F_OUT_1(repo):
    """The auto-reply once carried all 200,000 ids: a 2.29 MB header sent to a forgeable From."""
    from datetime import datetime, timezone

    from engine.config.compile import load_ruleset
    from engine.commands.golden import default_mailbox
    from engine.evaluate import evaluate
    from engine.evaluate.outgoing import MAX_REFERENCES as OUTGOING
    from engine.store.memory_state import from_ruleset

    ruleset = load_ruleset(repo)
    message = parse(hostile.many_references(200_000))
    decision = evaluate(message, ruleset, from_ruleset(ruleset), datetime(2024, 1, 1, tzinfo=timezone.utc),
                        default_mailbox(ruleset))
    [reply] = [mail for mail in decision.outgoing if mail.role == "auto_reply"]
    references = dict(reply.headers)["References"].split()
    assert len(references) == OUTGOING
    assert references[0] == "<0@example.com>" and references[-1] == "<hostile@example.com>"
    assert references[-2] == "<199999@example.com>"


def test_a_mime_torture_test_with_mid_size_attachments_parses_in_bounded_time_F_FAIL_1():
    """Any mail over 1 MB with attachments of ~46 KB hit the base64-run scan: 14-18 s for a public torture test."""
    finishes_within(LIMIT, """
        from engine.parse import parse
        assert len(parse(hostile.mid_size_attachments(8)).attachments) == 9
    """)


def test_mime_parameters_are_split_in_linear_time_F_BODY_4():
    """An open quote then 1,000,000 ';' in a Content-Type: the stdlib recounted the quotes at each ';'."""
    finishes_within(LIMIT, """
        from engine.parse import parse
        assert parse(hostile.open_quote(1_000_000)).text.strip() == "hello"
        assert parse(hostile.many_params(200_000)).attachments[0].filename.startswith("aaa")
    """)


def test_the_linear_split_gives_what_the_stdlib_gives():
    import random
    from email.message import _parseparam

    from engine.parse.mime.bounded import split_params

    rng = random.Random(16)
    for _ in range(20_000):
        value = "".join(rng.choice(';"\\= aB') for _ in range(rng.randint(0, 30)))
        assert split_params(value, limit=10**6) == _parseparam(value), value
