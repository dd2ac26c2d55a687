"""The long-running poller: schedules mailboxes, backs off on errors, reloads on SIGHUP, stops cleanly."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from engine.config.compile import load_ruleset
from engine.config.ruleset import Ruleset
from engine.errors import ConfigError, MailgateError
from engine.apply.smtp import SmtpSettings
from engine.run.housekeeping import expire_outbox, prune_raw_mail
from engine.run.poll import poll_mailbox
from engine.run.report import MailboxReport
from engine.run.session_memory import SessionMemory
from engine.sources.registry import build_source
from engine.store.directory_import import sync_config_directory
from engine.store.leases import holder_id

log = logging.getLogger("mailgate.service")
LEASE = timedelta(minutes=10)  # how long a lease record counts as current without a renewal
HOUSEKEEPING_EVERY = timedelta(minutes=1)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Schedule:
    """When each mailbox is due, and how many polls in a row failed (F-FAIL-3)."""

    due: dict[str, datetime] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def done(self, report: MailboxReport, interval: int, max_backoff: int, now: datetime) -> None:
        if report.error:
            self.failures[report.mailbox] = self.failures.get(report.mailbox, 0) + 1
            wait = min(max_backoff, interval * 2 ** (self.failures[report.mailbox] - 1))
        else:
            self.failures.pop(report.mailbox, None)
            wait = interval
        self.due[report.mailbox] = now + timedelta(seconds=wait)


class Service:
    """Polls every active mailbox until stopped; one bad mailbox never stops the others."""

    def __init__(self, config_dir: Path, ruleset: Ruleset, store, clock: Callable[[], datetime] = utc_now,
                 only: str | None = None, progress: Callable[[MailboxReport], None] | None = None,
                 metrics=None):
        self.config_dir, self.ruleset, self.store, self.clock = config_dir, ruleset, store, clock
        self.only, self.progress, self.metrics = only, progress, metrics  # metrics: engine.run.metrics.Metrics
        self.expired = 0  # outbox mail expired unsent since the service started
        self.schedule = Schedule()
        self.stop_event = threading.Event()
        self.reload_requested = False
        self.holder = holder_id()
        self.locks = store.lease_locks()
        self._smtp_settings: tuple[Ruleset, SmtpSettings] | None = None
        self.sessions = SessionMemory()  # the login mechanism that worked, OAuth tokens: across polls
        self.tidied_at: datetime | None = None
        sync_config_directory(store, ruleset.directory)

    def mailboxes(self):
        """The mailboxes to poll: active ones, or the one asked for by name."""
        return [m for m in self.ruleset.mailboxes if (m.name == self.only if self.only else m.active)]

    def poll_once(self) -> list[MailboxReport]:
        """Poll every due mailbox once, in name order."""
        self._housekeeping()
        reports = []
        for mailbox in self.mailboxes():
            if self.stop_event.is_set():
                break
            now = self.clock()
            if self.schedule.due.get(mailbox.name, now) > now:
                continue
            started = time.monotonic()
            report = self._poll(mailbox)
            if self.metrics is not None:
                self.metrics.observe_poll(report, time.monotonic() - started)
            polling = mailbox.policy.polling
            self.schedule.done(report, polling.interval_seconds, polling.max_backoff_seconds, self.clock())
            if not report.skipped:
                self._record(report)
            reports.append(report)
            log.info(report.summary())
        if self.metrics is not None:
            self.metrics.observe_store(self.store, self.ruleset)
        return reports

    def _housekeeping(self) -> None:
        """Before any mail is sent this cycle: expire stale outbox mail; forget raw mail past its retention."""
        now = self.clock()
        if self.tidied_at is not None and now - self.tidied_at < HOUSEKEEPING_EVERY:
            return
        self.tidied_at = now
        try:
            self.expired += expire_outbox(self.store, self.ruleset, now)
            prune_raw_mail(self.store, self.ruleset, now)
        except MailgateError as err:  # the store is busy or down: the polls will say so
            log.warning("housekeeping skipped: %s", err)

    def _record(self, report: MailboxReport) -> None:
        """Keep how the poll ended for `mailgate status` (another process)."""
        try:
            with self.store.transaction() as tx:
                tx.record_poll(report.mailbox, report.error, self.schedule.failures.get(report.mailbox, 0),
                               self.schedule.due.get(report.mailbox))
        except MailgateError as err:
            log.warning("mailbox %s: poll status not recorded: %s", report.mailbox, err)

    def _poll(self, mailbox) -> MailboxReport:
        try:
            holder = self._take_lease(mailbox.name)
        except MailgateError as err:  # the store is down or full: report, back off, go on
            return MailboxReport(mailbox.name, error=str(err))
        if holder is not None:
            return MailboxReport(mailbox.name, skipped=f"another poller holds it ({holder})")
        try:
            source = build_source(mailbox, self.ruleset.config_dir)
            self.sessions.restore(self.ruleset, mailbox.name, source)
            smtp = self._smtp() if self.sends_mail() else None
            report = poll_mailbox(self.store, self.ruleset, mailbox, source, self.clock, smtp,
                                  self.stop_event.is_set, self._renewing(mailbox.name),
                                  lambda: self.locks.held(mailbox.name))
            self.sessions.keep(mailbox.name, source, report.auth_failed)
            return report
        except MailgateError as err:  # e.g. a secret that cannot be read: report, back off, go on
            return MailboxReport(mailbox.name, error=str(err))
        except Exception as err:  # noqa: BLE001 - a source bug must not stop the other mailboxes (F-FAIL-3)
            log.exception("mailbox %s: unexpected error", mailbox.name)
            return MailboxReport(mailbox.name, error=f"{type(err).__name__}: {err}")
        finally:
            self._release_lease(mailbox.name)

    def _take_lease(self, name: str) -> str | None:
        """Lock the mailbox and record it; None when taken, else who holds it (SPEC 6)."""
        if not self.locks.take(name):
            row = self.store.lease(name)
            holder = row.holder if row else "unknown"
            log.info("mailbox %s: another poller holds it (%s); skipped", name, holder)
            return holder
        try:
            with self.store.transaction() as tx:
                tx.record_lease(name, self.holder, LEASE)
        except BaseException:
            self.locks.release(name)
            raise
        return None

    def _release_lease(self, name: str) -> None:
        try:
            with self.store.transaction() as tx:
                tx.release_lease(name, self.holder)
        except MailgateError as err:  # e.g. the store died mid-poll: the row stays, the lock goes below
            log.warning("mailbox %s: lease record not removed (%s)", name, err)
        finally:
            self.locks.release(name)

    def _renewing(self, mailbox_name: str) -> Callable[[MailboxReport], None]:
        """After each batch: move the lease record's expiry on, so status shows a live holder."""
        def after_batch(report: MailboxReport) -> None:
            with self.store.transaction() as tx:
                tx.renew_lease(mailbox_name, self.holder, LEASE)
            if self.progress:
                self.progress(report)
        return after_batch

    def close(self) -> None:
        """Give back every mailbox lock (the process ending does it too)."""
        self.locks.close()

    def _smtp(self) -> SmtpSettings:
        """settings.smtp, built once per config: its OAuth token is reused across polls until it nears expiry."""
        if self._smtp_settings is None or self._smtp_settings[0] is not self.ruleset:
            self._smtp_settings = (self.ruleset, SmtpSettings.from_ruleset(self.ruleset))
        return self._smtp_settings[1]

    def sends_mail(self) -> bool:
        """False when settings.smtp.send is off: outgoing mail stays queued in the outbox."""
        return self.ruleset.settings.smtp.send

    def reload(self) -> bool:
        """Load the config again; keep the old one when the new one does not validate (F-CFG-6)."""
        self.reload_requested = False
        try:
            self.ruleset = load_ruleset(self.config_dir)
        except ConfigError as err:
            log.error("config not reloaded, the running one stays:\n%s", err)
            return False
        sync_config_directory(self.store, self.ruleset.directory)
        log.info("config reloaded from %s", self.config_dir)
        return True

    def run_forever(self, tick: float = 1.0) -> None:
        """Poll until SIGTERM/SIGINT; SIGHUP reloads the config between polls."""
        self.install_signals()
        while not self.stop_event.is_set():
            if self.reload_requested:
                self.reload()
            self.poll_once()
            self.stop_event.wait(tick)

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop_event.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop_event.set())
        signal.signal(signal.SIGHUP, lambda *_: setattr(self, "reload_requested", True))
