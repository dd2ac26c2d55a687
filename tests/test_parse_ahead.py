"""The parse-ahead worker: same Messages as parsing in line, each mail within its time budget
(an overrun or a crash costs that mail alone, F-FAIL-1), falls back when broken, never hides a batch."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import engine.run.parse_ahead as ahead
from engine.parse import parse
from tests.polltools import make_mail


def batches(sizes: list[int]) -> list[list]:
    n = iter(range(10_000))
    return [[SimpleNamespace(key=str(i), raw=make_mail(f"Request {i}", message_id=f"<m{i}@acme.test>"))
             for i in (next(n) for _ in range(size))] for size in sizes]


@pytest.fixture(autouse=True)
def fresh_worker():
    ahead.shutdown()
    ahead._broken = False
    yield
    ahead.shutdown()
    ahead._broken = False


@pytest.fixture
def marked_worker(monkeypatch):
    """Workers that obey the X-Test-Parse marks of tests/slow_parse.py."""
    from tests import slow_parse

    monkeypatch.setattr(ahead, "WORKER_INITIALIZER", slow_parse.NAME)


def marked(index: int, mark: str) -> SimpleNamespace:
    raw = make_mail(f"Request {index}", message_id=f"<marked{index}@acme.test>", headers={"X-Test-Parse": mark})
    return SimpleNamespace(key=f"m{index}", raw=raw)


BUDGET = ahead.ParseSettings(seconds=2.0)


def test_the_worker_gives_the_same_messages_as_parsing_in_line():
    given = batches([10, 12, 3])
    out = list(ahead.parsed_ahead(given))
    assert [b for b, _ in out] == given
    for batch, messages in out:
        assert messages == [parse(item.raw) for item in batch]
    assert ahead._worker is not None  # the big batches went to it


def test_a_broken_worker_means_parsing_in_line(monkeypatch):
    def refuse(self, initializer):
        raise OSError("no processes left")

    monkeypatch.setattr(ahead._Worker, "__init__", refuse)
    out = list(ahead.parsed_ahead(batches([10, 10]), BUDGET))
    assert all(messages == [parse(item.raw) for item in batch] for batch, messages in out)
    assert ahead._broken and ahead._worker is None


def test_a_mail_over_its_budget_is_given_up_and_the_rest_go_on_F_FAIL_1(marked_worker):
    """A mail that would take 60 s becomes unreadable after the 2 s budget; the worker is replaced."""
    first, second = batches([3, 2])
    first.insert(1, marked(1, "sleep 60"))
    out = list(ahead.parsed_ahead([first, second], BUDGET))
    stuck = out[0][1][1]
    assert stuck.unreadable == "over budget: parsing took more than 2 s (limits.message_seconds)"
    for batch, messages in out:
        assert [m for i, m in enumerate(messages) if batch[i].key != "m1"] == \
            [parse(item.raw) for item in batch if item.key != "m1"]


def test_a_mail_that_kills_the_worker_costs_that_mail_alone_F_FAIL_1(marked_worker):
    given = batches([4])
    given[0].insert(2, marked(2, "exit"))
    [(batch, messages)] = list(ahead.parsed_ahead(given, BUDGET))
    assert messages[2].unreadable == "parsing this mail ended the parse worker (exit status 3)"
    assert [m for i, m in enumerate(messages) if i != 2] == [parse(item.raw) for i, item in enumerate(batch) if i != 2]


def test_with_a_budget_every_batch_goes_to_the_worker(marked_worker):
    """Small batches too: in line, nothing could stop a mail that never ends."""
    [(_, [message])] = list(ahead.parsed_ahead([[marked(3, "sleep 60")]], BUDGET))
    assert message.unreadable.startswith("over budget")
    assert ahead.parse_bounded(make_mail("Alone", message_id="<alone@acme.test>"), BUDGET).subject == "Alone"


def test_a_poll_that_stops_early_leaves_no_work_in_the_worker(marked_worker):
    slow = [[marked(4, "sleep 60")] for _ in range(2)]
    for _batch, _messages in ahead.parsed_ahead([batches([1])[0], *slow], BUDGET):
        break  # the next batch (a 60 s mail) was already handed to the worker
    assert ahead._jobs == [] and ahead._worker is None  # killed rather than left busy
    [(_, [message])] = list(ahead.parsed_ahead(batches([1]), BUDGET))
    assert message.unreadable is None


def test_a_failed_fetch_still_yields_the_batch_before_it():
    def fetch():
        yield batches([9])[0]
        raise ConnectionResetError("the server dropped us")

    seen = []
    with pytest.raises(ConnectionResetError):
        for batch, messages in ahead.parsed_ahead(fetch()):
            seen.append(len(messages))
    assert seen == [9]


def test_a_killed_poller_leaves_no_worker_behind(tmp_path):
    """SIGKILL gives the poller no chance to stop its worker: the worker notices and ends itself."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    program = tmp_path / "poller.py"
    program.write_text(
        "import time\n"
        "import engine.run.parse_ahead as ahead\n"
        "from tests.polltools import make_mail\n"
        "if __name__ == '__main__':\n"
        "    ahead.parse_bounded(make_mail('x'), ahead.ParseSettings(seconds=5))\n"
        "    print(ahead._worker.pid, flush=True)\n"
        "    time.sleep(60)\n")
    poller = subprocess.Popen([sys.executable, str(program)], cwd=REPO, stdout=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    worker = int(poller.stdout.readline())
    poller.send_signal(signal.SIGKILL)
    poller.wait()
    for _ in range(100):
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(worker, signal.SIGKILL)
    pytest.fail("the worker outlived its poller by 10 s")


def test_a_worker_killed_while_handing_back_a_batch_costs_a_restart_and_the_poller_still_exits(tmp_path):
    """SPEC 6 (a poller's children end with it), F-FAIL-1: the worker is SIGKILLed mid-write of a result
    bigger than a pipe holds, as a budget overrun does; the batch goes to a new worker, every mail is
    parsed, and the poller exits at once, its new worker with it (a pool's manager thread once hung here)."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    program = tmp_path / "poller.py"
    program.write_text(
        "import os, signal, time\n"
        "from types import SimpleNamespace\n"
        "import engine.run.parse_ahead as ahead\n"
        "from tests.polltools import make_mail\n"
        "if __name__ == '__main__':\n"
        "    batches = [[SimpleNamespace(raw=make_mail(f'R{b}.{i}', message_id=f'<{b}.{i}@acme.test>', body='x' * 20000))\n"
        "                for i in range(40)] for b in range(2)]\n"
        "    for n, (batch, messages) in enumerate(ahead.parsed_ahead(batches, ahead.ParseSettings(seconds=30))):\n"
        "        if n == 0:  # batch 2 is the worker's: wait until it is handing it back, to nobody reading\n"
        "            while ahead._worker.where()[:2] != (ahead._jobs[0].number, 40):\n"
        "                time.sleep(0.05)\n"
        "            print(ahead._worker.pid, flush=True)\n"
        "            os.kill(ahead._worker.pid, signal.SIGKILL)\n"
        "        print(sum(m.unreadable is None for m in messages), flush=True)\n"
        "    print(ahead._worker.pid, flush=True)\n")
    poller = subprocess.Popen([sys.executable, str(program)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        out, err = poller.communicate(timeout=120)  # a hang, not a speed: parsing 80 mails takes seconds
    except subprocess.TimeoutExpired:
        poller.kill()
        pytest.fail("the poller did not exit after its worker was killed mid-batch")
    assert poller.returncode == 0, err
    killed, first, second, replacement = (int(line) for line in out.split())
    assert (first, second) == (40, 40) and replacement != killed
    assert "restarting the parse worker: the worker ended (killed by SIGKILL)" in err
    with pytest.raises(ProcessLookupError):
        os.kill(replacement, 0)  # stopped and reaped at exit
