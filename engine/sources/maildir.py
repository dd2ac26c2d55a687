"""Local Maildir source (the embedded default): keys are Maildir unique names, acks are renames."""

from __future__ import annotations

import mailbox
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, NamedTuple, Optional, Sequence

from engine.errors import MailgateError, SourceError
from engine.sources.base import AckReport, AfterAction, ConnectionReport, Fetched, failed_report, header_of


@dataclass(frozen=True)
class MaildirSettings:
    """A Maildir on this machine; `folder` reads a Maildir++ sub-folder (`.Name`) instead."""

    path: str
    folder: Optional[str] = None
    unread_only: bool = True
    create: bool = False

    @property
    def server(self) -> str:
        return f"maildir://{self.path}" + (f"#{self.folder}" if self.folder else "")


class Entry(NamedTuple):
    """One message file: its key, sub-directory (new/cur), file name, flags, mtime, size."""

    key: str
    subdir: str
    name: str
    flags: str
    mtime: float
    size: int


def _entries(root: Path) -> Iterator[Entry]:
    for subdir in ("new", "cur"):
        try:
            listing = list(os.scandir(root / subdir))
        except FileNotFoundError:
            continue
        except NotADirectoryError as exc:
            raise SourceError(f"maildir://{root}: not a Maildir", str(exc),
                              "point maildir.path at a directory with new/, cur/ and tmp/") from exc
        for item in listing:
            if item.name.startswith(".") or not item.is_file():
                continue
            key, _, info = item.name.partition(":")
            flags = info[2:] if info.startswith("2,") else ""
            try:
                stat = item.stat()
            except FileNotFoundError:  # taken by another reader meanwhile
                continue
            yield Entry(key, subdir, item.name, flags, stat.st_mtime, stat.st_size)


def _folder_path(path: str, folder: Optional[str]) -> Path:
    """Maildir++ layout, as Dovecot and mailbox.Maildir use it: sub-folder `X` is `.X`."""
    return Path(path) / f".{folder}" if folder else Path(path)


HEADER_LIMIT = 1 << 20  # a header block larger than this is cut: it is only for a notice


def _file(folder: Path, subdir: str, name: str) -> str:
    # A string, not a Path: pathlib interns every part it parses, so each message's file name
    # stayed in the interpreter's table (~190 bytes a mail, 1.9 MB in a 10,000-mail poll).
    return os.path.join(folder, subdir, name)


def _read(path: str, entry: Entry, max_size: Optional[int]) -> Fetched:
    """The whole file, or only its header when it is larger than `max_size`.

    The file's modification time is its arrival: delivery writes the file once
    and mailgate's own renames (new/ to cur/) keep the time.
    """
    arrived = datetime.fromtimestamp(entry.mtime, timezone.utc)
    if max_size is None or entry.size <= max_size:
        with open(path, "rb") as fh:
            raw = fh.read()
        return Fetched(entry.key, raw, len(raw), arrived=arrived)
    with open(path, "rb") as fh:
        head = header_of(fh.read(min(entry.size, HEADER_LIMIT)))
    return Fetched(entry.key, head, entry.size, truncated=True, arrived=arrived)


def _cur_name(entry: Entry, extra: str) -> str:
    return f"{entry.key}:2,{''.join(sorted(set(entry.flags + extra)))}"


class MaildirSource:
    """Reads one Maildir folder; mark_read moves new/ to cur/ with the S flag."""

    protocol = "maildir"

    def __init__(self, settings: MaildirSettings) -> None:
        self.settings = settings
        self._entries: dict[str, Entry] = {}

    def _box(self) -> mailbox.Maildir:
        s = self.settings
        try:
            if s.create:  # mailbox.Maildir makes only the last folder; make its parents too
                Path(s.path).parent.mkdir(parents=True, exist_ok=True)
            box = mailbox.Maildir(s.path, factory=None, create=s.create)
            if s.folder:
                if s.create and s.folder not in box.list_folders():
                    return box.add_folder(s.folder)
                return box.get_folder(s.folder)
            return box
        except (mailbox.NoSuchMailboxError, FileNotFoundError, OSError) as exc:
            raise SourceError(f"{s.server}: no such Maildir", str(exc),
                              "check the path, or set create: true to make it") from exc

    def _root(self) -> Path:
        self._box()  # checks (or creates) it
        return _folder_path(self.settings.path, self.settings.folder)

    def _unread(self, entry: Entry) -> bool:
        return entry.subdir == "new" or "S" not in entry.flags

    def _listing(self) -> list[Entry]:
        root = self._root()
        found = [e for e in _entries(root) if not self.settings.unread_only or self._unread(e)]
        return sorted(found, key=lambda e: (e.mtime, e.key))

    def list_keys(self) -> list[str]:
        """Unique names of the message files, oldest delivery first."""
        self._entries = {e.key: e for e in self._listing()}
        return list(self._entries)

    def fetch(self, keys: Sequence[str], max_size: Optional[int] = None) -> list[Fetched]:
        """Read the files of `keys`; a file taken by someone else since the listing is left out."""
        root, out = self._root(), []
        if not self._entries:  # fetched without a listing first (a test, a replay)
            self.list_keys()
        for key in keys:
            entry = self._entries.get(key)
            if entry is None:
                continue
            try:
                out.append(_read(_file(root, entry.subdir, entry.name), entry, max_size))
            except FileNotFoundError:  # removed by someone else since the listing
                continue
        return out

    def ack(self, keys: Sequence[str], action: AfterAction) -> AckReport:
        """Rename (mark_read, move) or remove (delete) the files of `keys`.

        The files are found by the listing list_keys() made, not a new one: scanning the whole
        Maildir for every batch made a poll quadratic in the mailbox size. A file someone else
        took since the listing is reported stale, as one missing from a new listing is.
        """
        if action.kind == "none" or not keys:
            return AckReport(action, done=tuple(keys))
        root = self._root()
        if not all(key in self._entries for key in keys):  # acknowledged without a listing (a test, a replay)
            self._entries = {**self._entries, **{e.key: e for e in _entries(root)}}
        present = [self._entries[k] for k in keys if k in self._entries]
        stale = [k for k in keys if k not in self._entries]
        target = root
        if action.kind == "move":
            target, problem = self._target(action)
            if target is None:
                return AckReport(action, kept=tuple(e.key for e in present), stale=tuple(stale),
                                 problems=(problem,))
        done = []
        try:
            for entry in present:
                if self._act(root, target, entry, action):
                    done.append(entry.key)
                else:
                    stale.append(entry.key)
                self._entries.pop(entry.key)  # acknowledged, or gone: a second ack looks again
        except OSError as exc:
            raise SourceError(f"{self.settings.server}: {action.kind} failed", str(exc)) from exc
        problems = (f"{len(stale)} message(s) no longer in the Maildir",) if stale else ()
        return AckReport(action, done=tuple(done), stale=tuple(stale), problems=problems)

    def _target(self, action: AfterAction) -> tuple[Optional[Path], str]:
        top = mailbox.Maildir(self.settings.path, factory=None, create=False)
        if action.folder in top.list_folders():
            return _folder_path(self.settings.path, action.folder), ""
        if action.create_folder:
            top.add_folder(action.folder)
            return _folder_path(self.settings.path, action.folder), ""
        return None, (f"folder {action.folder!r} does not exist in {self.settings.path}: the mail "
                      "stays where it is; create the folder or set create_folder: true")

    @staticmethod
    def _act(root: Path, target: Path, entry: Entry, action: AfterAction) -> bool:
        """Do the action to the entry's file; False when the file is gone (taken by another reader)."""
        source = _file(root, entry.subdir, entry.name)
        try:
            if action.kind == "delete":
                os.unlink(source)
            elif action.kind == "mark_read":
                os.rename(source, _file(root, "cur", _cur_name(entry, "S")))
            elif action.header is not None:
                _move_with_header(source, target, entry, action)
            else:  # move keeps the message's state, as IMAP MOVE does
                os.rename(source, _file(target, entry.subdir, entry.name))
        except FileNotFoundError:
            return False
        return True

    def test_connection(self) -> ConnectionReport:
        """Open the Maildir and count all and unread messages (F-MB-7)."""
        s = self.settings
        try:
            entries = list(_entries(self._root()))
        except MailgateError as exc:
            return failed_report(self.protocol, s.server, exc, s.folder or "")
        unread = sum(1 for e in entries if self._unread(e))
        return ConnectionReport(True, self.protocol, s.server, s.folder or "", "none", "none",
                                len(entries), unread)

    def close(self) -> None:
        """Nothing to close: every call opens the directory afresh."""

    def __enter__(self) -> "MaildirSource":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def build(mailbox, config_dir: str) -> MaildirSource:
    """The source of a `protocol: maildir` mailbox; a relative path is below the config directory."""
    options = mailbox.options
    path = Path(options["maildir"]["path"])
    path = path if path.is_absolute() else Path(config_dir) / path
    return MaildirSource(MaildirSettings(str(path), unread_only=options["fetch"] == "unread", create=True))


def _move_with_header(source: str, target: Path, entry: Entry, action: AfterAction) -> None:
    """Write the message with the action's header on top into the target (tmp/, then its own
    subfolder, as Maildir delivery does), then remove the original."""
    with open(source, "rb") as handle:
        raw = handle.read()
    written = _file(target, "tmp", entry.name)
    with open(written, "wb") as handle:
        handle.write(action.header_line(raw) + raw)
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(written, _file(target, entry.subdir, entry.name))
    os.unlink(source)
