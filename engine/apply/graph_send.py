"""Outgoing mail through Microsoft Graph `sendMail` (F-OUT-7): the MIME we built, sent as its From mailbox.

Graph's "send mail in MIME format" takes the whole message base64-encoded with
`Content-Type: text/plain`, so every header we write (Message-ID, In-Reply-To,
Auto-Submitted, the ticket tag) leaves as built; Graph answers 202 Accepted with no body.
The app needs the Mail.Send application permission (limit it to the helpdesk mailboxes
with an application access policy, as for reading).
"""

from __future__ import annotations

import base64
from email.message import EmailMessage
from email.utils import parseaddr
from urllib.parse import quote

import requests

from engine.errors import AuthError, DeliveryError, MailgateError
from engine.sources import tls
from engine.sources.graph import graph_error
from engine.sources.oauth import PinnedSession

# Answers that will not change by sending again: a malformed message, a mailbox the app may not send as.
PERMANENT = (400, 403, 404, 413)


class GraphSender:
    """A Graph session for one outbox run; same calls as SmtpConnection (enter, send, close)."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self._http: PinnedSession | None = None
        self.tls_version = None  # HTTPS: not told by requests

    def __enter__(self) -> "GraphSender":
        s = self.settings
        verify = (s.ca_file or True) if s.verify_certificate else False
        self._http = PinnedSession(verify, tls.pool_versions(s.tls_min_version, s.tls_max_version))
        try:
            s.tokens()  # fail the run once, early, when no token can be had
        except MailgateError as err:
            self.close()
            raise DeliveryError(f"graph: no token to send with: {err}",
                                permanent=not _transient(err)) from None
        return self

    def send(self, mail: EmailMessage, to: str) -> None:
        """POST /users/{From}/sendMail with the MIME; DeliveryError says whether a retry may help."""
        sender = parseaddr(str(mail["From"] or ""))[1]
        if not sender:
            raise DeliveryError("graph sendMail needs a From address", permanent=True)
        url = f"{self.settings.graph_base_url.rstrip('/')}/users/{quote(sender)}/sendMail"
        body = base64.b64encode(mail.as_bytes())
        for fresh in (False, True):
            resp = self._post(url, body, fresh)
            if resp.status_code != 401:
                break
        if resp.status_code == 202:
            return
        code, message = graph_error(resp)
        raise DeliveryError(f"graph sendMail as {sender}: HTTP {resp.status_code} {code}: {message}",
                            permanent=resp.status_code in PERMANENT)

    def _post(self, url: str, body: bytes, fresh: bool) -> requests.Response:
        tokens = self.settings.tokens
        if fresh:
            tokens.invalidate()  # refused (revoked, expired early): one fresh token, then give up
        try:
            return self._http.post(url, data=body, timeout=self.settings.timeout,
                                   headers={"Authorization": f"Bearer {tokens()}", "Content-Type": "text/plain"})
        except requests.exceptions.SSLError as exc:
            raise DeliveryError(str(tls.https_error(url, exc))) from None
        except requests.RequestException as exc:
            raise DeliveryError(f"graph sendMail: {exc}") from None
        except MailgateError as err:
            raise DeliveryError(f"graph: no token to send with: {err}", permanent=not _transient(err)) from None

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __exit__(self, *exc) -> None:
        self.close()


def _transient(err: MailgateError) -> bool:
    """A token endpoint that is down (SourceError) may answer later; a refused secret (AuthError) will not."""
    return not isinstance(err, AuthError)
