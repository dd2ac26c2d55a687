"""The parse-ahead worker: same Messages as parsing in line, falls back when broken, never hides a batch."""

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


def test_the_worker_gives_the_same_messages_as_parsing_in_line():
    given = batches([10, 12, 3])
    out = list(ahead.parsed_ahead(given))
    assert [b for b, _ in out] == given
    for batch, messages in out[:2]:
        assert all(m is not None for m in messages)  # big batches went to the worker
        assert messages == [parse(item.raw) for item in batch]
    assert out[2][1] == [None, None, None]  # a small batch is parsed by the caller


def test_a_broken_worker_means_parsing_in_line():
    executor = ahead._executor()
    executor.shutdown()  # submit() now raises
    out = list(ahead.parsed_ahead(batches([10, 10])))
    assert all(m is None for _, messages in out for m in messages)
    assert ahead._broken and ahead._executor() is None


def test_a_failed_fetch_still_yields_the_batch_before_it():
    def fetch():
        yield batches([9])[0]
        raise ConnectionResetError("the server dropped us")

    seen = []
    with pytest.raises(ConnectionResetError):
        for batch, messages in ahead.parsed_ahead(fetch()):
            seen.append(len(messages))
    assert seen == [9]
