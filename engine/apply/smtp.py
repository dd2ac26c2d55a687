"""SMTP delivery from the outbox, only after the ticket change committed (F-OUT-5)."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

from engine.config.ruleset import Ruleset
from engine.config.secrets import resolve_secret
from engine.apply.outgoing_auth import graph_base, outgoing_tokens, sending_account
from engine.errors import AuthError, DeliveryError, MailgateError
from engine.sources import tls as tls_setup
from engine.sources.base import TokenProvider
from engine.sources.settings import tls_versions

DEFAULT_PORTS = {"implicit": 465, "starttls": 587, "none": 25}


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how outgoing mail leaves."""

    host: str = "localhost"
    port: int = 25
    tls: str = "none"
    verify_certificate: bool = True
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a repr or a log
    timeout: float = 30.0
    max_attempts: int = 8  # delivery attempts before an outbox mail is marked failed
    tls_min_version: str = tls_setup.DEFAULT_MIN_VERSION  # F-MB-15
    tls_max_version: str | None = None
    ca_file: str | None = None
    transport: str = "smtp"  # or "graph" (F-OUT-7)
    tokens: TokenProvider | None = field(default=None, repr=False, compare=False)  # OAuth: XOAUTH2 / Graph
    graph_base_url: str | None = None

    @classmethod
    def from_ruleset(cls, ruleset: Ruleset) -> "SmtpSettings":
        """The settings.smtp section, with its password resolved from env/file and its token source built."""
        smtp = ruleset.settings.smtp
        password = resolve_secret(smtp.password, ruleset.config_dir) if smtp.password else None
        tokens = outgoing_tokens(ruleset)
        return cls(smtp.host, smtp.port or DEFAULT_PORTS[smtp.tls], smtp.tls, smtp.verify_certificate,
                   sending_account(ruleset) if tokens else smtp.username, password, max_attempts=smtp.max_attempts,
                   ca_file=_path(smtp.ca_file, ruleset.config_dir), transport=smtp.transport, tokens=tokens,
                   graph_base_url=graph_base(ruleset) if smtp.transport == "graph" else None,
                   **tls_versions({"tls_min_version": smtp.tls_min_version, "tls_max_version": smtp.tls_max_version}))


def _path(name: str | None, config_dir: str) -> str | None:
    """A file named in the config, relative to the config directory."""
    return str(Path(config_dir) / name) if name else None


def build_mime(sender: str, to: str, subject: str, body: str, message_id: str,
               headers: tuple[tuple[str, str], ...] = ()) -> EmailMessage:
    """A complete mail; header values with CR/LF are refused (F-OUT-4)."""
    mail = EmailMessage(policy=SMTP_POLICY)
    for name, value in (("From", sender), ("To", to), ("Subject", subject), ("Message-ID", message_id), *headers):
        if "\r" in value or "\n" in value:
            raise DeliveryError(f"header {name} contains a line break", permanent=True)
        mail[name] = value
    mail.set_content(body)
    return mail


class SmtpConnection:
    """One SMTP session: TLS as configured, certificate checked, optional login."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self.client: smtplib.SMTP | None = None

    def __enter__(self) -> "SmtpConnection":
        s = self.settings
        try:
            if s.tls == "implicit":
                self.client = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=self._context())
            else:
                self.client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
                if s.tls == "starttls":
                    self.client.starttls(context=self._context())
            if s.tokens is not None:
                self._xoauth2()
            elif s.username:
                if s.tls == "none":
                    raise DeliveryError("refusing to send an SMTP password without TLS: set smtp.tls")
                self.client.login(s.username, s.password or "")
        except ssl.SSLError as err:
            self.close()
            pinned = tls_setup.pinned(s.tls_min_version, s.tls_max_version)
            raise DeliveryError(str(tls_setup.tls_error(f"SMTP {s.host}:{s.port}", err, pinned))) from None
        except (OSError, smtplib.SMTPException, MailgateError) as err:
            self.close()
            if isinstance(err, DeliveryError):
                raise
            raise DeliveryError(f"SMTP {s.host}:{s.port}: {_words(err)}",
                                permanent=isinstance(err, (smtplib.SMTPAuthenticationError, AuthError))) from None
        return self

    def _xoauth2(self) -> None:
        """AUTH XOAUTH2 with the current token; a refused one is replaced once (revoked, rotated secret)."""
        s, client = self.settings, self.client
        if s.tls == "none":
            raise DeliveryError("refusing to send an OAuth token without TLS: set smtp.tls")
        client.ehlo_or_helo_if_needed()
        if "XOAUTH2" not in client.esmtp_features.get("auth", "").upper().split():
            raise DeliveryError(f"SMTP {s.host}:{s.port} does not offer AUTH XOAUTH2 (it offers "
                                f"{client.esmtp_features.get('auth', 'no AUTH').strip() or 'no AUTH'})", permanent=True)
        for fresh in (False, True):
            if fresh:
                s.tokens.invalidate()
            try:
                client.auth("XOAUTH2", _bearer(s.username or "", s.tokens()))
                return
            except smtplib.SMTPAuthenticationError:
                if fresh:
                    raise

    def _context(self) -> ssl.SSLContext:
        s = self.settings
        return tls_setup.context(s.verify_certificate, s.ca_file, s.tls_min_version, s.tls_max_version)

    @property
    def tls_version(self) -> str | None:
        """The TLS version this session speaks ('TLSv1.3'), None in plain text."""
        return tls_setup.negotiated(self.client.sock) if self.client is not None else None

    def send(self, mail: EmailMessage, to: str) -> None:
        """Hand one mail to the server; DeliveryError says whether to retry."""
        try:
            self.client.send_message(mail, to_addrs=[to])
        except smtplib.SMTPRecipientsRefused as err:
            code = next(iter(err.recipients.values()))[0]
            raise DeliveryError(f"recipient refused: {_words(err)}", permanent=500 <= code < 600) from None
        except smtplib.SMTPResponseException as err:
            raise DeliveryError(_words(err), permanent=500 <= err.smtp_code < 600) from None
        except (OSError, smtplib.SMTPException) as err:
            raise DeliveryError(_words(err)) from None
        except ValueError as err:  # an address or header smtplib cannot write: the same next time
            raise DeliveryError(f"cannot send: {err}", permanent=True) from None

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except (OSError, smtplib.SMTPException):
                self.client.close()
            self.client = None

    def __exit__(self, *exc) -> None:
        self.close()


def _bearer(user: str, token: str):
    """smtplib's auth object for XOAUTH2: the token once, then the empty answer that ends a refusal."""
    def answer(challenge: bytes | None = None) -> str:
        return "" if challenge is not None else f"user={user}\1auth=Bearer {token}\1\1"
    return answer


def open_transport(settings: SmtpSettings):
    """The connection outgoing mail leaves through: SMTP, or Graph sendMail (F-OUT-7); use it with `with`."""
    if settings.transport == "graph":
        from engine.apply.graph_send import GraphSender

        return GraphSender(settings)
    return SmtpConnection(settings)


def _words(err: Exception) -> str:
    """The server's own words where it gave any."""
    if isinstance(err, smtplib.SMTPResponseException):
        text = err.smtp_error.decode("utf-8", "replace") if isinstance(err.smtp_error, bytes) else str(err.smtp_error)
        return f"{err.smtp_code} {text}"
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{rcpt}: {code} {msg.decode('utf-8', 'replace') if isinstance(msg, bytes) else msg}"
                         for rcpt, (code, msg) in err.recipients.items())
    return str(err) or type(err).__name__


@dataclass
class DeliveryReport:
    """What one outbox run did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: tuple[str, ...] = ()


def deliver_due(store, settings: SmtpSettings, limit: int = 100) -> DeliveryReport:
    """Send every due outbox mail once; failures are rescheduled or given up by the store."""
    report, errors = DeliveryReport(), []
    due = store.due_outbox(limit=limit)
    if not due:
        return report
    try:
        connection = open_transport(settings).__enter__()
    except DeliveryError as err:
        for item in due:
            _failed(store, item.id, err, report, settings.max_attempts)
        report.errors = (str(err),)
        return report
    try:
        for item in due:
            with store.transaction() as tx:
                if not tx.claim_outbox(item.id):
                    continue  # another poller took it
            try:
                connection.send(_built(item), item.to_addr)
            except DeliveryError as err:
                _failed(store, item.id, err, report, settings.max_attempts)
                errors.append(f"outbox {item.id} to {item.to_addr!r}: {err}")
                continue
            with store.transaction() as tx:
                tx.mark_outbox_sent(item.id)
            report.sent += 1
    finally:
        connection.close()
    report.errors = tuple(errors)
    return report


def _failed(store, outbox_id: int, err: DeliveryError, report: DeliveryReport, max_attempts: int) -> None:
    with store.transaction() as tx:
        retry_at = tx.mark_outbox_failed(outbox_id, str(err), max_attempts=max_attempts, permanent=err.permanent)
    if retry_at is None:
        report.failed += 1
    else:
        report.retrying += 1


def _built(item) -> EmailMessage:
    """The row as a mail; one that cannot be built fails for good and the rest go on."""
    try:
        return _mime(item)
    except DeliveryError:
        raise
    except Exception as err:  # noqa: BLE001 - whatever the cause, retrying the same row cannot help
        raise DeliveryError(f"cannot build the mail: {type(err).__name__}: {err}", permanent=True) from None


def _mime(item) -> EmailMessage:
    headers = dict(item.headers)
    extra = tuple((k, v) for k, v in item.headers if k not in ("From", "To", "Subject", "Message-ID"))
    return build_mime(headers.get("From", ""), item.to_addr, headers.get("Subject", ""), item.body,
                      f"<{item.message_id}>", extra)
