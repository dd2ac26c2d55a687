"""Which KIND of auto-generated mail it is, from the reasons found: each kind has its own action (F-PRE-2)
and routes can test it (`auto_generated:` conditions)."""

from __future__ import annotations

# Most specific first. A mail server's bounce often says Auto-Submitted: auto-replied too, and
# is a delivery report; an out-of-office reply sent with Precedence: bulk is an out-of-office
# reply; a monitoring alert sent as bulk with Auto-Submitted: auto-generated is list mail.
KINDS = ("delivery_report", "out_of_office", "list", "auto_submitted")
_DELIVERY_REPORT = ("multipart/report: delivery-status", "multipart/report: disposition-notification",
                    "message/delivery-status part", "message/global-delivery-status part",
                    "message/disposition-notification part", "message/global-disposition-notification part",
                    "sender: mailer-daemon", "sender: postmaster", "x-failed-recipients", "exchange: ndr",
                    "subject: delivery failure", "bounce")
_OUT_OF_OFFICE = ("auto-submitted: auto-replied", "x-autoreply", "x-autorespond", "x-autoreply-from",
                  "x-mail-autoreply", "x-vacation", "x-apple-action: vacation", "exchange: out-of-office",
                  "precedence: auto_reply", "precedence: auto-reply")
_LIST = ("precedence: bulk", "precedence: junk", "precedence: list", "list-id", "list-unsubscribe", "x-mlserver")
_BY_KIND = (("delivery_report", _DELIVERY_REPORT), ("out_of_office", _OUT_OF_OFFICE), ("list", _LIST))


def kind_of(reasons: tuple[str, ...]) -> str | None:
    """delivery_report, out_of_office, list or auto_submitted; None for mail no machine wrote."""
    if not reasons:
        return None
    found = set(reasons)
    return next((kind for kind, markers in _BY_KIND if found.intersection(markers)), "auto_submitted")
