"""Operational state: the auth-failure monitor (F-MB-11), who polls which mailbox (SPEC 6), each mailbox's last poll."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from engine.store.base import Session
from engine.store.records import Lease, MailboxStatus, MonitorState, from_row
from engine.store.schema import leases, mailbox_status, monitor_state

monitor = monitor_state


class OpsReads(Session):
    """Read side: monitor counters and who holds a mailbox."""

    def monitor_state(self, mailbox: str) -> MonitorState | None:
        """The mailbox's monitor counters, or None if it never failed."""
        rows = self._rows(select(monitor).where(monitor.c.mailbox == mailbox))
        return from_row(MonitorState, rows[0]) if rows else None

    def lease(self, mailbox: str) -> Lease | None:
        """The mailbox's lease row (possibly expired), or None."""
        rows = self._rows(select(leases).where(leases.c.mailbox == mailbox))
        return from_row(Lease, rows[0]) if rows else None

    def leases(self) -> dict[str, Lease]:
        """Every lease row (some possibly expired), by mailbox."""
        return {row.mailbox: from_row(Lease, row) for row in self._rows(select(leases))}

    def monitor_states(self) -> dict[str, MonitorState]:
        """Every mailbox's monitor counters, by mailbox."""
        return {row.mailbox: from_row(MonitorState, row) for row in self._rows(select(monitor))}

    def mailbox_statuses(self) -> dict[str, MailboxStatus]:
        """The last poll of every mailbox polled so far, by mailbox (`mailgate status`)."""
        return {row.mailbox: from_row(MailboxStatus, row) for row in self._rows(select(mailbox_status))}


class OpsWrites(Session):
    """Write side: counting failures, recording who holds a mailbox."""

    def _ensure_monitor(self, mailbox: str) -> None:
        values = dict(mailbox=mailbox, auth_failures=0, updated_at=self.now())
        if self.monitor_state(mailbox) is None:
            self._insert_new(monitor, values)

    def record_auth_failure(self, mailbox: str, error: str) -> int:
        """Count one more consecutive authentication failure; return the count."""
        self._ensure_monitor(mailbox)
        stmt = update(monitor).where(monitor.c.mailbox == mailbox)
        self._exec(stmt.values(auth_failures=monitor.c.auth_failures + 1, last_error=error, updated_at=self.now()))
        return int(self._scalar(select(monitor.c.auth_failures).where(monitor.c.mailbox == mailbox)))

    def record_auth_success(self, mailbox: str) -> MonitorState | None:
        """Reset the failure count; return the state before, so the caller can close a monitor ticket."""
        before = self.monitor_state(mailbox)
        if before is not None and (before.auth_failures or before.monitor_ticket is not None):
            stmt = update(monitor).where(monitor.c.mailbox == mailbox)
            self._exec(stmt.values(auth_failures=0, monitor_ticket=None, last_error=None, updated_at=self.now()))
        return before

    def set_monitor_ticket(self, mailbox: str, ticket_number: int | None) -> None:
        """Remember the open monitor ticket, so it is opened only once per outage."""
        self._ensure_monitor(mailbox)
        stmt = update(monitor).where(monitor.c.mailbox == mailbox)
        self._exec(stmt.values(monitor_ticket=ticket_number, updated_at=self.now()))

    def record_lease(self, mailbox: str, holder: str, ttl: timedelta) -> None:
        """Write down that `holder` polls the mailbox (it holds the mailbox's lock; engine/store/leases.py).

        The row is for people (`mailgate status`): exclusion comes from the lock. `expires_at`
        says until when the holder promised to renew it; a row past it belongs to a poller
        that died without giving it back.
        """
        values = dict(mailbox=mailbox, holder=holder, expires_at=self.now() + ttl)
        if self._insert_new(leases, values) is None:
            self._exec(update(leases).where(leases.c.mailbox == mailbox).values(holder=holder, expires_at=values["expires_at"]))

    def renew_lease(self, mailbox: str, holder: str, ttl: timedelta) -> bool:
        """Move the row's expiry on; False if the row names another holder."""
        ours = (leases.c.mailbox == mailbox) & (leases.c.holder == holder)
        return self._exec(update(leases).where(ours).values(expires_at=self.now() + ttl)).rowcount == 1

    def release_lease(self, mailbox: str, holder: str) -> bool:
        """Remove our row; False if it names another holder."""
        ours = (leases.c.mailbox == mailbox) & (leases.c.holder == holder)
        return self._exec(delete(leases).where(ours)).rowcount == 1

    def record_poll(self, mailbox: str, error: str | None, failures: int, next_poll_at: datetime | None) -> None:
        """Remember how a poll of `mailbox` ended: success, or the error and the back-off (F-FAIL-3)."""
        now = self.now()
        values = dict(last_poll_at=now, failures=failures, next_poll_at=next_poll_at, updated_at=now)
        if error is None:
            values["last_success_at"] = now
        else:
            values.update(last_error=error, last_error_at=now)
        if self._insert_new(mailbox_status, dict(mailbox=mailbox, **values)) is None:
            self._exec(update(mailbox_status).where(mailbox_status.c.mailbox == mailbox).values(**values))
