"""`mailgate directory import FILE`: users, organisations and groups from YAML or CSV."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.errors import DirectoryError
from engine.store.schema import ROLES
from engine.store.store import Store, Tx

KINDS = ("organisations", "users", "groups")  # also the order of import
KEYS = {
    "organisations": {"name", "domains", "shares_tickets"},
    "users": {"login", "name", "email", "role", "organisation", "location"},
    "groups": {"name", "members"},
}
_LIST_SPLIT = re.compile(r"[;,\s]+")
_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off", ""}


@dataclass(frozen=True)
class Entry:
    """One organisation, user or group read from the file, with where it came from."""

    kind: str
    where: str  # "FILE:LINE"
    data: dict[str, Any]


@dataclass
class ImportSummary:
    """How many of each kind were created and updated."""

    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    def __str__(self) -> str:
        return ", ".join(f"{kind}: {self.created[kind]} created, {self.updated[kind]} updated" for kind in KINDS)


def import_directory(store: Store, path: str | Path) -> ImportSummary:
    """Create or update (by organisation name, user login, group name) everything in the file.

    All or nothing: any problem raises DirectoryError listing every located
    problem, and nothing is written.
    """
    path = Path(path)
    entries = read_entries(path)
    problems = [p for e in entries for p in _check(e)] + _check_unique(entries)
    if problems:
        raise DirectoryError(problems)
    summary = ImportSummary()
    with store.transaction() as tx:
        problems = _apply(tx, entries, summary)
        if problems:
            raise DirectoryError(problems)  # rolls the transaction back
    return summary


def read_entries(path: Path) -> list[Entry]:
    """Parse a .yaml/.yml or .csv directory file into entries."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise DirectoryError([f"{path}: cannot read: {err}"]) from err
    if path.suffix.lower() == ".csv":
        return _csv_entries(path, text)
    if path.suffix.lower() in (".yaml", ".yml"):
        return _yaml_entries(path, text)
    raise DirectoryError([f"{path}: unknown file type: name it .yaml, .yml or .csv"])


def _yaml_entries(path: Path, text: str) -> list[Entry]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise DirectoryError([f"{path}: not valid YAML: {err}"]) from err
    if not isinstance(data, dict):
        raise DirectoryError([f"{path}:1: expected a mapping with organisations, users and/or groups"])
    problems = [f"{path}:1: unknown section {key!r}: use {', '.join(KINDS)}"
                for key in data if key not in (*KINDS, "version")]
    if data.get("version", 1) != 1:
        problems.append(f"{path}:1: version must be 1")
    lines = {key.value: value for key, value in root.value} if root is not None else {}
    entries = []
    for kind in KINDS:
        items = data.get(kind) or []
        if not isinstance(items, list):
            problems.append(f"{path}: {kind} must be a list")
            continue
        nodes = lines[kind].value if kind in lines else []
        for item, node in zip(items, nodes):
            where = f"{path}:{node.start_mark.line + 1}"
            if not isinstance(item, dict):
                problems.append(f"{where}: each entry of {kind} must be a mapping")
                continue
            entries.append(Entry(kind, where, item))
    if problems:
        raise DirectoryError(problems)
    return entries


def _csv_kind(path: Path, header: list[str]) -> str:
    """A CSV file holds one kind, told by its columns."""
    for kind, marker in (("users", "login"), ("organisations", "domains"), ("groups", "members")):
        if marker in header:
            return kind
    raise DirectoryError([f"{path}:1: cannot tell what the file holds: users need a 'login' column, "
                          "organisations a 'domains' column, groups a 'members' column"])


def _csv_entries(path: Path, text: str) -> list[Entry]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    kind = _csv_kind(path, header)
    reader.fieldnames = header
    entries = []
    for row in reader:
        data = {k: (v or "").strip() for k, v in row.items() if k is not None}
        data = {k: v for k, v in data.items() if v != ""}  # an empty cell leaves a value alone
        if data:
            entries.append(Entry(kind, f"{path}:{reader.line_num}", data))
    return entries


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v for v in _LIST_SPLIT.split(value) if v]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _check(entry: Entry) -> list[str]:
    """Problems visible in one entry on its own."""
    data, where = entry.data, entry.where
    problems = [f"{where}: unknown field {key!r} for {entry.kind}: use {', '.join(sorted(KEYS[entry.kind]))}"
                for key in data if key not in KEYS[entry.kind]]
    name_key = "login" if entry.kind == "users" else "name"
    if not str(data.get(name_key, "")).strip():
        problems.append(f"{where}: {entry.kind} entry without {name_key!r}")
    if "role" in data and data["role"] not in ROLES:
        problems.append(f"{where}: role {data['role']!r} is not one of {', '.join(ROLES)}")
    if "email" in data and "@" not in str(data["email"]):
        problems.append(f"{where}: email {data['email']!r} is not an address")
    if "shares_tickets" in data and _as_bool(data["shares_tickets"]) is None:
        problems.append(f"{where}: shares_tickets must be true or false")
    return problems


def _check_unique(entries: list[Entry]) -> list[str]:
    seen: dict[tuple[str, str], str] = {}
    problems = []
    for entry in entries:
        key = (entry.kind, str(entry.data.get("login" if entry.kind == "users" else "name", "")))
        if key in seen:
            problems.append(f"{entry.where}: {key[1]!r} is listed twice (first at {seen[key]})")
        seen.setdefault(key, entry.where)
    return problems


def _apply(tx: Tx, entries: list[Entry], summary: ImportSummary) -> list[str]:
    problems: list[str] = []
    for kind, apply_one in (("organisations", _apply_org), ("users", _apply_user), ("groups", _apply_group)):
        for entry in (e for e in entries if e.kind == kind):
            created = apply_one(tx, entry.data, entry.where, problems)
            if created is not None:
                (summary.created if created else summary.updated)[kind] += 1
    return problems


def _apply_org(tx: Tx, data: dict[str, Any], where: str, problems: list[str]) -> bool | None:
    name = str(data["name"]).strip()
    existing = tx.organisation_by_name(name)
    shares = _as_bool(data.get("shares_tickets", False))
    if existing is None:
        tx.create_organisation(name, domains=_as_list(data.get("domains", [])), shares_tickets=bool(shares))
        return True
    if "shares_tickets" in data:
        tx.update_organisation(existing.id, shares_tickets=bool(shares))
    if "domains" in data:
        tx.set_organisation_domains(existing.id, _as_list(data["domains"]))
    return False


def _apply_user(tx: Tx, data: dict[str, Any], where: str, problems: list[str]) -> bool | None:
    fields = {k: str(data[k]).strip() for k in ("name", "email", "role", "location") if k in data}
    if "organisation" in data:
        org = tx.organisation_by_name(str(data["organisation"]).strip())
        if org is None:
            problems.append(f"{where}: organisation {data['organisation']!r} does not exist: "
                            "add it to the file or import it first")
            return None
        fields["organisation_id"] = org.id
    login = str(data["login"]).strip()
    existing = tx.user_by_login(login)
    if existing is None:
        tx.create_user(login, **fields)
        return True
    tx.update_user(existing.id, **fields)
    return False


def _apply_group(tx: Tx, data: dict[str, Any], where: str, problems: list[str]) -> bool | None:
    member_ids = []
    for login in _as_list(data.get("members", [])):
        user = tx.user_by_login(login)
        if user is None:
            problems.append(f"{where}: member {login!r} is not a user: add it to the users first")
            continue
        member_ids.append(user.id)
    name = str(data["name"]).strip()
    existing = tx.group(name)
    group_id = tx.create_group(name) if existing is None else existing.id
    if "members" in data:
        tx.set_members(group_id, member_ids)
    return existing is None


def sync_config_directory(store: Store, directory: Any) -> ImportSummary:
    """Create or update the users, organisations and groups the config's `directory` section declares."""
    entries = [Entry(kind, f"config directory {kind}[{i}]", dict(item))
               for kind in KINDS for i, item in enumerate(directory.get(kind, ()))]
    for entry in entries:
        if entry.kind == "groups":
            entry.data["members"] = list(entry.data.get("members", ()))
        if entry.kind == "organisations":
            entry.data["domains"] = list(entry.data.get("domains", ()))
    summary = ImportSummary()
    with store.transaction() as tx:
        problems = _apply(tx, entries, summary)
        if problems:
            raise DirectoryError(problems)
    return summary
