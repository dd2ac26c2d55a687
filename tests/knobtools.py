"""Probes for the knob walker (tests/test_knobs.py): each changes one knob and says what came out different.

A probe returns two fingerprints, one with the knob as the base config has it and one
with it changed; the walker asserts they differ. A fingerprint is what the code *did*:
the decision (outcome, ticket, note, attachments, mail), the source it built, the SMTP
settings, or what a poll or the directory sync wrote into a throwaway store.
"""

from __future__ import annotations

import copy
import dataclasses
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine.config.compile import compile_files
from engine.config.freeze import FrozenDict, freeze, thaw
from engine.config.load import LoadedFile
from engine.config.resolve import fill_mailbox, mailbox_policy
from engine.config.ruleset import MailboxConfig, Ruleset
from engine.config.schemas import resolve, schema_for, validator_for
from engine.config.overlay import apply_overlays
from engine.config.validate import check
from engine.parse import parse

REPO = Path(__file__).resolve().parent.parent
CASES = REPO / "tests" / "cases"
DROP = object()  # as an option or rules value: delete the key


# ---- the schemas' properties -----------------------------------------------------------

def _is_secret(node: dict) -> bool:
    return any(isinstance(b, dict) and "env" in b.get("properties", {}) for b in node.get("oneOf", ()))


def leaves(kind: str, node: dict | None = None, path: str = "", seen: frozenset = frozenset()) -> list[tuple[str, dict]]:
    """Every property that holds a value (not a section) of a schema, as ('a.b[].c', its schema).

    A definition met again inside itself (a condition's `all: [condition]`) is walked once."""
    node = schema_for(kind) if node is None else node
    ref = node.get("$ref") if isinstance(node, dict) else None
    if ref in seen:
        return []
    seen = seen | {ref} if ref else seen
    node = resolve(node, kind)
    found: list[tuple[str, dict]] = []
    props = node.get("properties")
    if props and not _is_secret(node):
        for name, sub in props.items():
            found += leaves(kind, sub, f"{path}.{name}" if path else name, seen)
        return found
    extra, items = node.get("additionalProperties"), node.get("items")
    if isinstance(extra, dict) and resolve(extra, kind).get("properties"):
        return leaves(kind, extra, f"{path}.*", seen)
    if isinstance(items, dict):
        item_ref = items.get("$ref")
        if item_ref in seen:
            return []
        seen = seen | {item_ref} if item_ref else seen
        items = resolve(items, kind)
        if items.get("properties"):
            return leaves(kind, items, f"{path}[]", seen)
        branches = [b for b in items.get("oneOf", ()) if isinstance(b, dict) and b.get("properties")]
        if branches:  # a string or an object (filters): both forms are knobs
            return [(f"{path}[]", items)] + [leaf for b in branches for leaf in leaves(kind, b, f"{path}[]", seen)]
    return [(path, node)]


# ---- configs: the shipped one with edits ---------------------------------------------

@lru_cache(maxsize=1)
def _shipped() -> tuple[LoadedFile, ...]:
    files, problems = check(REPO)
    assert not problems, problems
    return tuple(files)


def _locate(data, part):
    if isinstance(part, dict):  # the first list item whose keys match
        return next(i for i, item in enumerate(data) if all(item.get(k) == v for k, v in part.items()))
    return part


def _set(data, path: tuple, value) -> None:
    for part in path[:-1]:
        data = data.setdefault(part, {}) if isinstance(part, str) and isinstance(data, dict) else data[_locate(data, part)]
    last = path[-1]
    if last == "+":
        data.append(value)
    elif value is DROP:
        del data[_locate(data, last)]
    else:
        data[_locate(data, last)] = value


@lru_cache(maxsize=256)
def ruleset(edits: tuple = ()) -> Ruleset:
    """The shipped config with `edits` ((file name, key path, value), ...); a new file name adds a rules file."""
    files = list(copy.deepcopy(_shipped()))
    for name, path, value in edits:
        target = next((f for f in files if f.path.name == name), None)
        if target is None:
            target = LoadedFile(REPO / "rules" / name, f"rules/{name}", "rules", {"version": 1})
            files.append(target)
        if path:
            _set(target.data, path, value if value is DROP else thaw(value))
        else:
            target.data.update(thaw(value))
        errors = list(validator_for(target.kind).iter_errors(target.data))
        assert not errors, f"probe edit of {name} does not fit the schema: {errors[0].message}"
    files.sort(key=lambda f: (f.kind, f.path.name))
    files, problems = apply_overlays(files)  # an added file may extend or replace shipped entries
    assert not problems, problems
    return compile_files(files, REPO)


def edit(file: str, path: tuple | str, value) -> tuple:
    """One rules edit, hashable: `path` a key path (or one key); `file` a shipped or a new rules file."""
    path = (path,) if isinstance(path, str) else path
    return file, tuple(freeze(p) for p in path), value if value is DROP else freeze(value)


def add(data: dict, file: str = "99-probe.yaml") -> tuple:
    """A rules file holding `data`, sorted after the shipped ones (a second one may overlay the first)."""
    return edit(file, (), data)


def merged(base: dict, change: dict, keep_drop: bool = False) -> dict:
    """`change` merged into `base` key by key; DROP deletes (or stays a marker, to apply later)."""
    result = copy.deepcopy(base)
    for name, value in change.items():
        if value is DROP and not keep_drop:
            result.pop(name, None)
        elif isinstance(value, dict):
            result[name] = merged(result[name] if isinstance(result.get(name), dict) else {}, value, keep_drop)
        else:
            result[name] = value
    return result


def with_options(rules: Ruleset, name: str, change: dict) -> Ruleset:
    """`rules` with one mailbox's options changed and its policy resolved again."""
    base = rules.mailbox(name)
    options = fill_mailbox(merged(thaw(base.options), change))
    written = {p: o for p, o in base.written.items() if _has(options, p)}
    changed = dataclasses.replace(base, address=options["address"], active=options["active"],
                                  protocol=options["protocol"], options=freeze(options), written=FrozenDict(written),
                                  policy=mailbox_policy(options, written, rules.knobs))
    return rules.with_mailbox(changed)


def _has(data, path: tuple) -> bool:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def mailbox_config(spec: dict, rules: Ruleset | None = None) -> MailboxConfig:
    """A MailboxConfig for a mailbox mapping (schema defaults filled), as compile builds it."""
    rules = rules or ruleset()
    options = fill_mailbox(spec)
    return MailboxConfig(options["name"], options["address"], options["protocol"], options["active"],
                         freeze(options), "probe", mailbox_policy(options, {}, rules.knobs), FrozenDict())


# ---- probes ----------------------------------------------------------------------------

def _decision_print(decision) -> dict:
    data = decision.as_json()
    data.pop("trace", None)  # what was decided, not how the trace words it
    return data


@dataclass(frozen=True)
class Case:
    """A golden case evaluated as shipped (plus `base`) and with `change` (mailbox options and/or rules edits)."""

    case: str
    change: dict = field(default_factory=dict)
    rules: tuple = ()
    base: dict = field(default_factory=dict)
    base_rules: tuple = ()
    mailbox: str | None = None  # evaluate on this mailbox instead of the case's
    replace: tuple = ()  # (old, new) byte strings replaced in the case's mail

    def run(self) -> tuple[Any, Any]:
        return self._print(self.base, self.base_rules), self._print(merged(self.base, self.change, keep_drop=True),
                                                                    self.base_rules + self.rules)

    def _print(self, options: dict, edits: tuple) -> dict:
        from engine.commands.golden import Case as CaseFile, evaluate_case, load_case
        from engine.commands.routing import route

        case = load_case(CASES / f"{self.case}.expected.yaml")
        rules, data = ruleset(edits), copy.deepcopy(case.loaded.data)
        raw = case.mail.read_bytes()
        for old, new in self.replace:
            assert old in raw, f"{self.case}.eml holds no {old!r}"
            raw = raw.replace(old, new)
        data["mailbox"] = self.mailbox or data.get("mailbox")
        if options:  # into the config's mailbox (DROP reaches its keys) and over the case's own options
            rules = with_options(rules, route(parse(raw), rules, data["mailbox"]).mailbox, options)
            data["mailbox_options"] = merged(data.get("mailbox_options") or {}, options)
        if data.get("directory"):
            data["directory"] = str((CASES / data["directory"]).resolve())
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / case.path.name
            (Path(tmp) / f"{self.case}.eml").write_bytes(raw)
            found = evaluate_case(CaseFile(path, dataclasses.replace(case.loaded, data=data, path=path), ()), rules)
        return _decision_print(found.decision)


SOURCE_BASES = {
    "maildir": {"maildir": {"path": "var/maildir/probe"}},
    "imap": {"server": {"host": "imap.example.org"}, "auth": {"username": "u", "password": {"env": "PROBE_SECRET"}}},
    "pop3": {"server": {"host": "pop.example.org"}, "auth": {"username": "u", "password": {"env": "PROBE_SECRET"}}},
    "ews": {"ews": {"autodiscover": False, "endpoint_url": "https://mail.example.org/EWS/Exchange.asmx"},
            "auth": {"username": "u", "password": {"env": "PROBE_SECRET"}}},
    "graph": {"auth": {"oauth": {"tenant_id": "t", "client_id": "c", "client_secret": {"env": "PROBE_SECRET"}}}},
}


def _fingerprint(value, depth: int = 0):
    """The settings a source was built with, and those of its token provider, compared by value."""
    if dataclasses.is_dataclass(value):
        return value
    if depth > 1 or not hasattr(value, "__dict__"):
        return None
    return (type(value).__name__,
            tuple((k, _fingerprint(v, depth + 1)) for k, v in sorted(vars(value).items())
                  if _fingerprint(v, depth + 1) is not None))


@dataclass(frozen=True)
class Fetch:
    """The source built for a `protocol` mailbox, without and with `change`."""

    protocol: str
    change: dict
    base: dict = field(default_factory=dict)

    def run(self) -> tuple[Any, Any]:
        from engine.sources.registry import build_source

        spec = {"name": "probe", "address": "probe@example.org", "protocol": self.protocol,
                **merged(SOURCE_BASES[self.protocol], self.base)}
        with tempfile.TemporaryDirectory() as config_dir:
            prints = [_fingerprint(build_source(mailbox_config(s), config_dir)) for s in (spec, merged(spec, self.change))]
        return prints[0], prints[1]


@dataclass(frozen=True)
class Send:
    """The SMTP settings (and OAuth token source) outgoing mail is sent with, without and with
    `change` to settings.smtp (over `base`)."""

    change: dict
    base: dict = field(default_factory=dict)

    def run(self) -> tuple[Any, Any]:
        return self._print(self.base), self._print(merged(self.base, self.change))

    @staticmethod
    def _print(smtp: dict) -> tuple:
        from engine.apply.smtp import SmtpSettings

        edits = tuple(edit("00-settings.yaml", ("settings", "smtp", k), v) for k, v in smtp.items())
        settings = SmtpSettings.from_ruleset(ruleset(edits))
        return settings, _fingerprint(settings.tokens)


@dataclass(frozen=True)
class StoreUrl:
    """The store a command opens, without and with `url`."""

    url: Any

    def run(self) -> tuple[Any, Any]:
        from engine.commands.runtime import store_url

        edits = (edit("00-settings.yaml", ("settings", "store", "url"), self.url),)
        return store_url(ruleset()), store_url(ruleset(edits))


def _store_print(store) -> dict:
    tickets = store.tickets()
    return {
        "tickets": [(t.number, t.subject, t.status, t.source, t.template, t.priority) for t in tickets],
        "log": sorted((e.message_key, e.outcome) for e in store.processing_log()),
        "outbox": sorted((m.to_addr, m.status, m.attempts) for m in store.outbox_messages()),
        "users": sorted((u.login, u.email, u.name, u.role, u.organisation_id) for u in store.users()),
        "groups": sorted((g.name, g.member_ids) for g in store.groups()),
        "organisations": sorted((o.name, tuple(o.domains), o.shares_tickets) for o in store.organisations()),
    }


def _temp_store(tmp: Path):
    from engine.store.store import Store

    return Store.open(f"sqlite:///{tmp / 'probe.db'}")


@dataclass(frozen=True)
class Directory:
    """What syncing the config's directory writes into a store, without and with `rules` edits."""

    rules: tuple

    def run(self) -> tuple[Any, Any]:
        from engine.store.directory_import import sync_config_directory

        prints = []
        for edits in ((), self.rules):
            with tempfile.TemporaryDirectory() as tmp:
                store = _temp_store(Path(tmp))
                try:
                    sync_config_directory(store, ruleset(edits).directory)
                    prints.append(_store_print(store))
                finally:
                    store.close()
        return prints[0], prints[1]


MONITOR_MAILBOX = {"name": "probe", "address": "support@example.com", "protocol": "imap",
                   **SOURCE_BASES["imap"]}


@dataclass(frozen=True)
class Monitor:
    """The store after three authentication failures in a row, without and with `change` to `monitor`."""

    change: dict

    def run(self) -> tuple[Any, Any]:
        from engine.run.monitor import record_auth_failure

        prints = []
        now = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
        for spec in (MONITOR_MAILBOX, merged(MONITOR_MAILBOX, {"monitor": self.change})):
            with tempfile.TemporaryDirectory() as tmp:
                store = _temp_store(Path(tmp))
                try:
                    for _ in range(3):
                        record_auth_failure(store, ruleset(), mailbox_config(spec), "LOGIN failed", now)
                    prints.append(_store_print(store))
                finally:
                    store.close()
        return prints[0], prints[1]


HOUSEKEEPING_KINDS = ("auto_reply", "rejected", "closed_updated", "closed_not_updated", "error_notice",
                      "login_credentials")


@dataclass(frozen=True)
class Housekeeping:
    """What the poller's housekeeping leaves in a store holding one queued mail of each kind and one
    kept raw mail, all 30 hours old (past the replies' 24 h, within the notices' 168 h and the raw
    mail's 30 days), without and with `rules` edits: each outbox row's status, the raw mail kept."""

    rules: tuple

    def run(self) -> tuple[Any, Any]:
        return self._print(()), self._print(self.rules)

    def _print(self, edits: tuple) -> dict:
        from engine.run.housekeeping import expire_outbox, prune_raw_mail
        from engine.store.store import Store

        queued = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
        with tempfile.TemporaryDirectory() as tmp:
            store = Store.open(f"sqlite:///{Path(tmp) / 'probe.db'}", clock=lambda: queued)
            try:
                with store.transaction() as tx:
                    for kind in HOUSEKEEPING_KINDS:
                        tx.enqueue_outbox("ann@acme.test", [("Subject", kind)], "body", f"<{kind}@probe>", kind=kind)
                    sha = tx.keep_raw_mail(b"Subject: kept\r\n\r\nbody\r\n")
                now = queued + timedelta(hours=30)
                expire_outbox(store, ruleset(edits), now)
                prune_raw_mail(store, ruleset(edits), now)
                return {"outbox": sorted((m.kind, m.status) for m in store.outbox_messages()),
                        "raw kept": store.raw_mail(sha) is not None}
            finally:
                store.close()


POLL_MAILS = ("Printer jam on floor 2", "Monitor flickers", "VPN drops every hour")


@dataclass(frozen=True)
class Poll:
    """One `poll_once` of a maildir mailbox holding three mails (and one unreadable with `garbage`),
    without and with `change` to the mailbox (and `smtp` to settings.smtp): the store, the
    batches, the maildir and when the mailbox is due again."""

    change: dict
    smtp: dict = field(default_factory=dict)
    garbage: bool = False
    base: dict = field(default_factory=dict)

    def run(self) -> tuple[Any, Any]:
        return self._print(self.base, {}), self._print(merged(self.base, self.change), self.smtp)

    def _print(self, change: dict, smtp: dict) -> dict:
        from engine.run.service import Service
        from tests.polltools import drop, maildir_box, make_mail, write_config

        now = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
        with tempfile.TemporaryDirectory() as tmp:
            spec = merged(maildir_box("help", "support@example.com", "var/maildir/help",
                                      polling={"interval_seconds": 60, "max_messages": 500, "batch_size": 20}), change)
            config = write_config(Path(tmp) / "config", [spec], smtp={"port": 9, **smtp})
            box = config / "var" / "maildir" / "help"
            for i, subject in enumerate(POLL_MAILS):
                drop(box, make_mail(subject, sender=f"User {i} <user{i}@acme.test>"), f"{i}.mail")
            if self.garbage:
                drop(box, b"\x00\xff" * 40, "9.garbage")
            from engine.config.compile import load_ruleset

            store, batches = _temp_store(Path(tmp)), []
            try:
                service = Service(config, load_ruleset(config), store, clock=lambda: now,
                                  progress=lambda report: batches.append(dict(report.outcomes)))
                service.poll_once()
                due = service.schedule.due.get("help")
                return {**_store_print(store), "batches": batches, "due": due and (due - now) / timedelta(seconds=1),
                        "maildir": _tree(box)}
            finally:
                store.close()


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)).split(":")[0] for p in root.rglob("*") if p.is_file())


@dataclass(frozen=True)
class ProvedBy:
    """A named test proves the knob changes what the code does (where a probe cannot reach: a server)."""

    test: str  # tests/FILE.py::NAME

    def run(self) -> tuple[Any, Any]:
        file, _, name = self.test.partition("::")
        text = (REPO / file).read_text(encoding="utf-8")
        assert f"def {name}(" in text, f"{self.test} does not exist"
        return "base", "proved by " + self.test
