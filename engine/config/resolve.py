"""Config resolved once: merge the rules files, then fill schema defaults, then each mailbox's policy (F-CFG-5).

Defaults are filled after merging, never per file: a file that does not mention a
knob must not shadow the file that does with the knob's default. Overlays (`extends:` /
`replace:`, engine/config/overlay.py) are merged first of all, when validation reads the
files, so every later step (semantic checks, these knobs, compile) sees the merged entries.
"""

from __future__ import annotations

from typing import Any, Mapping

from engine.config.defaults import fill_defaults
from engine.config.freeze import FrozenDict
from engine.config.load import LoadedFile
from engine.config.policy import DEFAULT, Written, build, written_keys
from engine.config.schemas import schema_for
from engine.config.sections import MailboxPolicy, RulesKnobs

# Rules sections holding single knobs (each key set in one file only, F-CFG-1). Of
# `filters` only accept_from: its sender and subject lists compile into Filter rules.
SINGLE_SECTIONS = ("settings", "limits", "filters")


def rules_knobs(files: list[LoadedFile]) -> RulesKnobs:
    """The rules files' single knobs: merged in file order, then schema defaults filled."""
    merged: dict[str, dict] = {section: {} for section in SINGLE_SECTIONS}
    written: dict[tuple, str] = {}
    for loaded in files:
        for section in SINGLE_SECTIONS:
            for name, value in (loaded.data.get(section) or {}).items():
                if section != "filters" or name == "accept_from":
                    merged[section][name] = value
        written.update(written_keys(loaded.key_marks, loaded.label))
    filled = fill_defaults({"version": 1, **merged}, schema_for("rules"), "rules")
    return build(RulesKnobs, filled, written)


def mailbox_written(loaded: LoadedFile) -> FrozenDict:
    """Where a mailbox file wrote each knob, keyed by its path under `mailbox:`."""
    return FrozenDict(written_keys(loaded.key_marks, loaded.label, strip=1))


def fill_mailbox(options: Mapping) -> dict:
    """A mailbox's options with every schema default filled in."""
    return fill_defaults({"version": 1, "mailbox": dict(options)}, schema_for("mailbox"), "mailbox")["mailbox"]


def mailbox_policy(options: Mapping, written: Written, rules: RulesKnobs) -> MailboxPolicy:
    """One mailbox's knobs: its own file first, then the rules' settings, then the schema default."""
    data = fill_mailbox(options)
    settings, own = rules.settings, (lambda name: (data.get(name), written.get((name,), DEFAULT)))
    layered = {
        "return_address": _first(own("return_address"), _knob(settings, "return_address"),
                                 (data["address"], written.get(("address",), DEFAULT))),
        "from_name": _first(own("from_name"), _knob(settings, "from_name"), ("", DEFAULT)),
        "error_user": _first(own("error_user"), _knob(settings, "error_user")),
        "subject_max_length": _first(own("subject_max_length"), _knob(rules.limits, "subject_max_length")),
        "accept_from": _knob(rules.filters, "accept_from"),
        "ticket_base_url": _first(_knob(settings, "ticket_base_url"), ("", DEFAULT)),
        "portal_base_url": _first(_knob(settings, "portal_base_url"), ("", DEFAULT)),
    }
    data.update((name, value) for name, (value, _) in layered.items())
    ids, ids_origin = _trusted_authserv_ids(data, written, settings)
    data["authentication"] = {**(data.get("authentication") or {}), "trusted_authserv_ids": ids}
    enabled, enabled_origin = _first((data["outgoing"].get("enabled"), written.get(("outgoing", "enabled"), DEFAULT)),
                                     _knob(settings.outgoing, "enabled"))  # F-OUT-9: the mailbox's, else the global switch
    data["outgoing"] = {**data["outgoing"], "enabled": enabled}
    return build(MailboxPolicy, data, {**written, **{(name,): origin for name, (_, origin) in layered.items()},
                                       ("authentication", "trusted_authserv_ids"): ids_origin,
                                       ("outgoing", "enabled"): enabled_origin})


def _trusted_authserv_ids(data: Mapping, written: Written, settings) -> tuple[Any, str]:
    own = (data.get("authentication") or {}).get("trusted_authserv_ids")
    shared = settings.authentication
    return _first((own, written.get(("authentication", "trusted_authserv_ids"), DEFAULT)),
                  _knob(shared, "trusted_authserv_ids") if shared else (None, DEFAULT), ((), DEFAULT))


def _knob(section, name: str) -> tuple[Any, str]:
    return getattr(section, name), section.where(name)


def _first(*candidates: tuple[Any, str]) -> tuple[Any, str]:
    """The first (value, origin) whose value is set; else nothing, by default."""
    return next((c for c in candidates if c[0] is not None), (None, DEFAULT))
