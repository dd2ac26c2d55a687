"""The realistic mailbox generator (tests/realistic) is deterministic and has the mix issue 9 asks for.

No server needed: these check the plan and the bytes, which the acceptance test and bench/realistic.py rely on.
"""

from __future__ import annotations

import email
import email.policy
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from engine.parse import parse
from tests.realistic.generate import Mailbox
from tests.realistic.truth import MACHINE, REPLIES

END = datetime(2026, 1, 16, 17, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def box() -> Mailbox:
    return Mailbox(2000, seed=9, end=END)


@pytest.fixture(scope="module")
def first(box) -> list:
    return box.phase(1)


def test_the_same_seed_gives_the_same_bytes_and_truth(first):
    again = Mailbox(2000, seed=9, end=END).phase(1)
    assert [d.raw for d in again] == [d.raw for d in first]
    assert [d.truth.as_json() for d in again] == [d.truth.as_json() for d in first]


def test_another_seed_gives_another_mailbox(first):
    assert Mailbox(2000, seed=10, end=END).phase(1)[5].raw != first[5].raw


def test_the_mix_matches_the_issue(box):
    kinds = Counter(item.kind for item in box.items)
    total = sum(kinds.values())
    share = lambda *names: sum(kinds[n] for n in names) / total  # noqa: E731
    assert 0.55 <= share("new", "forward", "new_tech") <= 0.61
    assert 0.25 <= share(*REPLIES, "resend", "reply_stranger") <= 0.29
    assert 0.075 <= share("ooo") <= 0.085
    assert 0.02 <= share("newsletter") <= 0.03
    assert 0.01 <= share("bounce_ours", "bounce_foreign") <= 0.02
    assert 390 <= box.senders() <= 460


def test_arrivals_span_three_days_and_people_are_never_a_loop(first):
    arrivals = sorted(d.arrival for d in first)
    assert (arrivals[-1] - arrivals[0]).days >= 2
    by_sender: dict[str, list] = {}
    for d in first:
        if d.truth.human and d.truth.copy_of is None:
            by_sender.setdefault(d.truth.sender, []).append(d.arrival)
    for times in by_sender.values():
        times.sort()
        assert all((later - earlier).total_seconds() >= 300 for earlier, later in zip(times, times[2:]))


def test_every_mail_parses_and_machine_mail_is_recognised(first):
    for delivery in first:
        message = parse(delivery.raw)
        assert not message.unreadable, delivery.truth
        if delivery.truth.kind in MACHINE and delivery.truth.kind != "ooo":
            assert message.auto_generated.value, delivery.truth


def test_the_thread_is_never_written_into_the_mail(first):
    for delivery in first[:300]:
        assert delivery.truth.thread.encode() not in delivery.raw


def test_mails_are_about_thirty_kilobytes_with_real_mime(box, first):
    sizes = [len(d.raw) for d in first]
    assert 22_000 <= sum(sizes) / len(sizes) <= 40_000
    charsets = Counter()
    for delivery in first:
        msg = email.message_from_bytes(delivery.raw, policy=email.policy.compat32)
        assert msg["Message-ID"] and msg["Date"] and len(msg.get_all("Received")) >= 3
        charsets.update(part.get_content_charset() for part in msg.walk() if part.get_content_maintype() == "text")
    assert {"utf-8", "iso-8859-1", "koi8-r", "iso-2022-jp", "gb2312"} <= set(charsets)


def test_a_backlog_without_a_store_has_all_n_mails():
    mails = Mailbox(600, seed=4, end=END).backlog()
    assert len(mails) == 600 and [d.arrival for d in mails] == sorted(d.arrival for d in mails)
    assert len({d.truth.index for d in mails}) == 600


def test_hard_cases_are_present(box, first):
    kinds = Counter(d.truth.kind for d in first)
    copies = [d for d in first if d.truth.copy_of is not None]
    assert kinds["forward"] >= 20 and kinds["reply_colleague"] >= 10 and kinds["loop_burst"] == 12
    assert any(d.truth.kind == "long_subject" for d in copies) and any(d.truth.kind == "spam" for d in copies)
    assert any(d.truth.kind == "new" for d in copies)  # exact duplicates of a request
    later = Counter(i.kind for i in box.items if i.phase == 2)
    assert later["reply_tag_only"] >= 40 and later["reply_refs_only"] >= 30 and later["bounce_ours"] >= 15


@pytest.mark.parametrize("hour", range(0, 24, 3))
def test_no_person_writes_three_mails_in_five_minutes_whatever_the_hour(hour):
    """Phase 2's late mail pulled back before the second poll keeps the spacing too: at 16:00 UTC the
    5,000-mail box once had one person write ten mails in six minutes, which loop prevention rightly
    refused (bench/realistic.py's "human mail refused as a loop" then failed by the clock)."""
    end = datetime(2026, 11, 29, hour, 0, 31, tzinfo=timezone.utc)
    for minutes in (0, 60, 120):
        box = Mailbox(5000, seed=9, end=end + timedelta(minutes=minutes))
        by_sender: dict[str, list] = {}
        for item in box.items:
            if item.kind not in ("loop_burst", "spam", "newsletter", "bounce_ours", "bounce_foreign"):
                by_sender.setdefault(item.sender, []).append(item.arrival)
        for sender, times in by_sender.items():
            times.sort()
            assert all((later - earlier).total_seconds() >= 300 for earlier, later in zip(times, times[2:])), sender
