"""The Dovecot fixture never lets CI pass by skipping the server tests."""

from __future__ import annotations

import pytest

from tests.servers.dovecot import _unavailable


def test_missing_dovecot_skips_on_a_developer_machine(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        _unavailable("dovecot is not installed")


def test_missing_dovecot_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run"):
        _unavailable("dovecot is not installed")
