"""The Maildir source (the embedded default): fetch, skip, batches and every after-action.

SPEC IDs proved here: F-MB-7, F-MB-8, F-MB-9, F-PRE-7.
"""

from __future__ import annotations

import mailbox
import os
from datetime import datetime, timezone
from pathlib import Path
import tracemalloc

import pytest

from engine.errors import SourceError
from engine.sources.base import AfterAction
from engine.sources.maildir import MaildirSettings, MaildirSource
from tests.servers.dovecot import make_message
from engine.run.fetching import FetchPlan
from tests.polltools import fetch_batches, fetched


@pytest.fixture
def box(tmp_path):
    return mailbox.Maildir(str(tmp_path / "Maildir"), create=True)


def seed(box, count, seen=False, start=0):
    keys = []
    for i in range(start, start + count):
        msg = mailbox.MaildirMessage(make_message(i))
        if seen:
            msg.set_subdir("cur")
            msg.add_flag("S")
        keys.append(box.add(msg))
    return keys


def source(box, **kw):
    return MaildirSource(MaildirSettings(path=box._path, **kw))


def test_fetch_returns_unread_messages_with_their_maildir_keys(box):
    keys = seed(box, 3)
    seed(box, 2, seen=True, start=10)
    got = fetched(source(box))
    assert sorted(m.key for m in got) == sorted(keys)
    assert all(m.raw.startswith(b"From: ") for m in got)
    assert len(fetched(source(box, unread_only=False))) == 5


def test_fetching_changes_nothing_before_ack_F_MB_9(box):
    seed(box, 3)
    fetched(source(box))
    assert all(box.get_message(k).get_subdir() == "new" for k in box.keys())


def test_mark_read_moves_new_to_cur_with_the_seen_flag_F_MB_9(box):
    seed(box, 4)
    src = source(box)
    batch = next(fetch_batches(src, 10, 3))
    report = src.ack([m.key for m in batch], AfterAction.mark_read())
    assert report.ok and len(report.done) == 3
    marked = [k for k in box.keys() if "S" in box.get_message(k).get_flags()]
    assert sorted(marked) == sorted(m.key for m in batch)
    assert box.get_message(marked[0]).get_subdir() == "cur"
    assert len(fetched(src)) == 1  # keys are stable: only the unacked one is left


def test_delete_removes_the_files_F_MB_9(box):
    keys = seed(box, 3)
    src = source(box)
    assert src.ack(keys[:2], AfterAction.delete()).ok
    assert list(box.keys()) == keys[2:]


def test_move_into_an_existing_folder_F_MB_9(box):
    keys = seed(box, 2)
    box.add_folder("Done")
    assert source(box).ack(keys, AfterAction.move("Done")).ok
    assert len(box) == 0 and sorted(box.get_folder("Done").keys()) == sorted(keys)


def test_move_to_a_missing_folder_keeps_the_mail_F_MB_9(box):
    keys = seed(box, 2)
    report = source(box).ack(keys, AfterAction.move("Archive"))
    assert report.kept == tuple(keys) and "create_folder" in report.problems[0]
    assert sorted(box.keys()) == sorted(keys) and "Archive" not in box.list_folders()


def test_move_creates_the_folder_when_configured_F_MB_9(box):
    keys = seed(box, 2)
    assert source(box).ack(keys, AfterAction.move("Archive", create_folder=True)).ok
    assert sorted(box.get_folder("Archive").keys()) == sorted(keys)


def test_a_key_that_vanished_is_reported_stale(box):
    keys = seed(box, 2)
    box.remove(keys[0])
    report = source(box).ack(keys, AfterAction.mark_read())
    assert report.stale == (keys[0],) and report.done == (keys[1],)


def test_max_messages_and_skip_F_MB_8(box):
    seed(box, 10)
    src = source(box)
    first = {m.key for m in fetched(src, max_messages=4)}
    assert len(first) == 4
    found = FetchPlan()
    rest = fetched(src, skip=first.__contains__, found=found)
    assert len(rest) == 6 and sorted(found.logged) == sorted(first)


def test_reads_a_sub_folder(box):
    sub = box.add_folder("Support")
    seed(sub, 2)
    assert len(fetched(source(box, folder="Support"))) == 2


def test_missing_maildir_is_a_source_error_unless_created_F_MB_7(tmp_path):
    missing = MaildirSource(MaildirSettings(path=str(tmp_path / "nope")))
    with pytest.raises(SourceError):
        fetched(missing)
    report = missing.test_connection()
    assert not report.ok and "create" in report.hint
    made = MaildirSource(MaildirSettings(path=str(tmp_path / "nope"), create=True))
    assert made.test_connection().message_count == 0


def test_test_connection_counts_F_MB_7(box):
    seed(box, 3)
    seed(box, 1, seen=True, start=5)
    report = source(box).test_connection()
    assert (report.ok, report.message_count, report.unread_count) == (True, 4, 3)


def test_a_big_maildir_streams_in_bounded_batches(box):
    size, count, batch_size = 10_000, 2_000, 50
    for i in range(count):
        box.add(make_message(i, size=size))
    # pathlib interns every file name: the first pass may grow the interpreter's table of interned
    # strings, a multi-MB block whose size depends on what earlier tests interned, not on this fetch.
    for _ in fetch_batches(source(box), 9999, batch_size):
        pass
    tracemalloc.start()
    try:
        seen = 0
        for batch in fetch_batches(source(box), 9999, batch_size):
            assert len(batch) <= batch_size
            seen += len(batch)
            del batch
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == count and peak < 8 * batch_size * size, peak


def test_oversized_mail_comes_as_its_header_only_F_PRE_7(box):
    box.add(make_message(1, size=2_000))
    box.add(make_message(2, size=300_000))
    got = sorted(fetched(source(box), max_size=100_000), key=lambda m: m.size)
    assert not got[0].truncated and got[0].size == len(got[0].raw)
    assert got[1].truncated and got[1].size > 290_000 > 10 * len(got[1].raw)
    assert got[1].raw.endswith(b"\r\n\r\n") and b"Subject: Test message 2" in got[1].raw


def test_create_makes_missing_parents_and_a_file_is_a_clear_error_F_MB_7(tmp_path):
    """F-MB-7: a maildir path that is a file says so as a SourceError; create: true makes parent folders."""
    from engine.errors import SourceError
    from engine.sources.maildir import MaildirSettings, MaildirSource

    nested = MaildirSource(MaildirSettings(str(tmp_path / "a" / "b" / "box"), create=True))
    assert list(fetch_batches(nested, 10, 10)) == []
    assert (tmp_path / "a" / "b" / "box" / "new").is_dir()
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(SourceError) as err:
        list(MaildirSource(MaildirSettings(str(not_a_dir))).fetch(10, 10))
    assert "not a Maildir" in str(err.value) or "no such Maildir" in str(err.value)


def test_arrival_is_the_files_delivery_time_F_PRE_5(box):
    """Loop prevention counts by arrival: a Maildir file's modification time is when it was delivered."""
    seed(box, 1)
    (path,) = (Path(box._path) / "new").iterdir()
    delivered = datetime(2026, 11, 2, 8, 15, 30, tzinfo=timezone.utc)
    os.utime(path, (delivered.timestamp(), delivered.timestamp()))
    (item,) = fetched(source(box))
    assert item.arrived == delivered


def test_ack_finds_the_files_by_the_listing_not_a_new_scan_F_MB_9(box, monkeypatch):
    # A scan of the whole Maildir per acknowledged batch made a poll quadratic in the mailbox size.
    keys = seed(box, 4)
    src = source(box)
    src.list_keys()
    path = Path(box._path)
    taken = next(p for p in (path / "new").iterdir() if p.name.startswith(keys[1]))
    taken.rename(path / "cur" / (taken.name + ":2,S"))  # another reader took it since the listing

    def no_scan(root):
        raise AssertionError("ack scanned the Maildir again")

    monkeypatch.setattr("engine.sources.maildir._entries", no_scan)
    report = src.ack(keys, AfterAction.mark_read())
    assert report.done == (keys[0], keys[2], keys[3]) and report.stale == (keys[1],)
    assert sorted(os.listdir(path / "new")) == []
