"""Acceptance on a realistic support mailbox with ground truth (issue 9), under SQLite and PostgreSQL.

2,000 generated mails (tests/realistic: 58 % requests, 27 % replies, 8 % out-of-office, 2.5 % lists,
1.5 % bounces, hard cases) go into the test Dovecot with their arrival times as INTERNALDATE and are
polled with `mailgate poll --once`, the shipped rules and loop prevention on, in three phases (the
backlog; the answers to our auto-replies; the store = decision sample). Each bar is its own test, scored
from the store; a failing one prints example mails with the trace lines that decided them.

SPEC IDs proved here: F-REF-1, F-REF-2, F-REF-3, F-REF-9, F-PRE-2, F-PRE-5, F-PRE-6, F-OUT-2, F-FAIL-1, F-TOK-1.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.realistic import harness
from tests.realistic.generate import Mailbox
from tests.realistic.score import Score

pytestmark = [pytest.mark.dovecot, pytest.mark.imap]
MAILS, SEED = 2000, 9


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def score(request, dovecot, tmp_path_factory) -> Score:
    """One end-to-end run per store; every bar below reads its score."""
    url = request.getfixturevalue("postgres_cluster").create_database() if request.param == "postgresql" else None
    box = Mailbox(MAILS, seed=SEED, end=datetime.now(timezone.utc))
    run = harness.run(box, dovecot, dovecot.add_user("realistic"), tmp_path_factory.mktemp("realistic"), url)
    result = Score(run)
    print(f"\n{result.summary()}\n{result.table()}")
    return result


def check(score: Score, name: str) -> None:
    measure = score.measures[name]
    examples = "\n  ".join(measure.examples[:12])
    assert measure.ok, f"{name}: {measure.value}, bar {measure.bar}\n  {examples}\n{score.summary()}"


def test_replies_with_our_tag_or_a_references_chain_land_on_their_threads_ticket_F_REF_1(score):
    check(score, "replies on the right ticket")


def test_machine_mail_makes_no_ticket_F_PRE_2(score):
    check(score, "machine mail -> tickets")


def test_machine_mail_makes_no_note_except_a_bounce_on_its_own_ticket_F_PRE_2_F_REF_9(score):
    check(score, "machine mail -> notes (a bounce's own ticket excepted, F-REF-9)")


def test_machine_mail_is_never_answered_F_PRE_2(score):
    check(score, "machine mail answered (mail sent back)")


def test_no_human_mail_of_a_backlog_is_refused_as_a_loop_F_PRE_5(score):
    check(score, "human mail refused as a loop")


def test_at_most_one_error_notice_per_sender_and_cause_per_window_F_OUT_2(score):
    check(score, "error notices per sender and cause per 60 min (max)")


def test_a_second_copy_never_makes_a_second_ticket_or_note_F_PRE_6(score):
    check(score, "second copies that made a ticket or note again")


def test_a_second_copy_of_refused_mail_is_a_logged_duplicate_F_PRE_6(score):
    check(score, "second copies of refused mail not logged as duplicates")


def test_the_mailbox_never_jams_and_every_mail_is_processed_F_FAIL_1(score):
    check(score, "mails an operator had to move away (jams) / left unprocessed")


def test_the_store_equals_the_dry_run_decision_for_every_sample_mail_F_TOK_1(score):
    check(score, "store = decision (phase-3 sample, dry-run first)")


def test_a_forward_carrying_a_vendors_tag_opens_its_own_ticket_F_REF_1(score):
    check(score, "forwards with a vendor's tag misfiled")


def test_loop_prevention_still_refuses_a_looping_script_F_PRE_5(score):
    check(score, "a looping script's mails beyond 5 in 5 min refused")
