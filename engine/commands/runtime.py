"""What the commands share: the config directory, the compiled ruleset and the store it names."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from engine.config.ruleset import Ruleset
from engine.config.secrets import resolve_secret



def store_url(ruleset: Ruleset, override: str | None = None) -> str:
    """--store, then $MAILGATE_STORE_URL, then settings.store.url; SQLite paths are relative to the config."""
    url = override or os.environ.get("MAILGATE_STORE_URL")
    if not url:
        spec = ruleset.settings.store.url
        url = spec if isinstance(spec, str) else resolve_secret(spec, ruleset.config_dir)
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            url = f"sqlite:///{Path(ruleset.config_dir) / path}"
    return url


def open_store(ruleset: Ruleset, override: str | None = None):
    """The store the config names, migrated to the current schema."""
    from engine.store.store import Store

    return Store.open(store_url(ruleset, override))


def add_store_option(parser) -> None:
    """--store URL for commands that use the ticket store."""
    parser.add_argument("--store", metavar="URL", help="store URL (default: $MAILGATE_STORE_URL or settings.store.url)")


def config_dir(args: argparse.Namespace) -> str:
    """The configuration directory chosen by --config, $MAILGATE_CONFIG or the cwd."""
    return args.config or os.environ.get("MAILGATE_CONFIG") or os.getcwd()


def load(args: argparse.Namespace) -> Ruleset:
    """The validated, compiled config of the command's --config directory."""
    from engine.config.compile import load_ruleset  # compiling pulls in Jinja2, Lark and RE2

    return load_ruleset(Path(config_dir(args)))
