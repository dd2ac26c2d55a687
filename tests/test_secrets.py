"""Secrets are never printed: store URLs are shown with the password hidden, whatever their form (issue 16).

Every test of the run is also watched (tests/secretwatch.py): a registered test password
in a log line, in captured output or in the output of `mailgate` run by polltools.cli()
fails the test that showed it.

SPEC IDs proved here: F-CFG-3.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from engine.cli import main
from engine.store.url import HIDDEN, safe_url
from tests.polltools import cli, maildir_box, write_config
from tests.secretwatch import leaked, secret

PASSWORD = secret(f"S3cret-{secrets.token_hex(6)}")
COMMANDS = (("tickets",), ("log",), ("quarantine",), ("poll", "--once"))


@pytest.mark.parametrize("url, shown", [
    (f"postgres://admin:{PASSWORD}@db/x", "postgres://admin:***@db/x"),
    (f"postgresql+psycopg://admin:{PASSWORD}@db:5432/x", "postgresql+psycopg://admin:***@db:5432/x"),
    (f"postgresql://admin@db/x?password={PASSWORD}&sslmode=require", "?password=%2A%2A%2A&sslmode=require"),
    (f"postgresql://admin:{PASSWORD[:6]}@{PASSWORD[6:]}@db/x", HIDDEN),  # an unescaped '@' in the password
    (f"not a url {PASSWORD}", HIDDEN),
    (f"postgresql://admin:{PASSWORD}@[::1/x", HIDDEN),  # SQLAlchemy raises ValueError on it
    ("sqlite:////var/lib/mailgate/mailgate.db", "sqlite:////var/lib/mailgate/mailgate.db"),
])
def test_a_store_url_is_shown_without_its_password_F_CFG_3(url, shown):
    rendered = safe_url(url)
    assert shown in rendered
    assert PASSWORD not in rendered and PASSWORD[6:] not in rendered


def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "config", [maildir_box("help", "support@example.com", "var/maildir/help")])


@pytest.mark.parametrize("url", [
    f"postgres://admin:{PASSWORD}@127.0.0.1:1/x",  # refused connection: the error names the URL
    f"postgresql://admin:{PASSWORD[:6]}@{PASSWORD[6:]}@127.0.0.1:1/x",  # issue 16: half the password was shown
    f"garbage:{PASSWORD}",  # issue 16: an unparseable URL was shown whole
    f"postgresql://admin:{PASSWORD}@[::1/x",  # a traceback before
    f"mysql://admin:{PASSWORD}@db/x",  # unsupported: named, password hidden
])
def test_no_command_prints_the_store_password_F_CFG_3(tmp_path, url, monkeypatch, capsys):
    """Issue 16: MAILGATE_STORE_URL was printed with its password by every command."""
    root = config(tmp_path)
    runs = [(command, ("--store", url)) for command in COMMANDS]
    monkeypatch.setenv("MAILGATE_STORE_URL", url)
    runs += [(command, ()) for command in COMMANDS]
    for command, extra in runs:
        status = main([*command, *extra, "--config", str(root)])
        output = "".join(capsys.readouterr())
        assert status == 1, output
        assert not leaked(output) and PASSWORD[6:] not in output and "Traceback" not in output
        assert HIDDEN in output or "admin:***@" in output
    run = cli(root, "tickets")  # and once as an admin runs it; cli() fails on a shown password
    assert run.returncode == 1 and "Traceback" not in run.stderr


@pytest.mark.postgres
def test_a_working_postgres_url_with_a_password_is_never_shown_F_CFG_3(tmp_path, postgres_url):
    """The test cluster trusts loopback, so the password is sent and ignored: every command works."""
    url = postgres_url.replace("postgres@", f"postgres:{PASSWORD}@")
    root = config(tmp_path)
    for command in (*COMMANDS, ("dry-run", str(Path(__file__).parent / "cases" / "tok3-technician-closes-ticket.eml"),
                                "--state", url)):
        run = cli(root, *command, env={"MAILGATE_STORE_URL": url})
        assert run.returncode == 0, run.stdout + run.stderr
