"""`mailgate poll --once --timings` says where one poll's time went, stage by stage (issue 10's benchmark reads it)."""

from __future__ import annotations

import re

from tests.polltools import cli, drop, maildir_box, make_mail, write_config

STAGES = ("fetch", "parse", "evaluate", "apply", "commit", "ack", "parse worker")


def test_timings_name_every_stage_after_the_summary(tmp_path):
    config = write_config(tmp_path / "config", [maildir_box("help", "support@example.com", "var/maildir/help")])
    for n in range(3):
        drop(config / "var" / "maildir" / "help", make_mail(f"Request {n}", f"User {n} <user{n}@acme.test>"), f"{n}.mail")
    done = cli(config, "poll", "--once", "--timings")
    assert done.returncode == 0, done.stderr
    summary, timings = [line for line in done.stdout.splitlines() if line.startswith("help: ")]
    assert summary == "help: 3 create_ticket; 3 acknowledged; outbox: 3 queued"
    found = dict(re.findall(r"(\w[\w ]*?) ([\d.]+) s(?:,|$)", timings.split("timings: ", 1)[1]))
    assert tuple(found) == STAGES and all(float(seconds) >= 0 for seconds in found.values())
