"""Which KIND of auto-generated mail it is, from the reasons found: each kind has its own action (F-PRE-2)."""

from __future__ import annotations

# Most specific first: an out-of-office reply sent with Precedence: bulk is an out-of-office
# reply, and a monitoring alert sent as bulk with Auto-Submitted: auto-generated is bulk mail.
KINDS = ("out_of_office", "delivery_report", "bulk", "other")
_OUT_OF_OFFICE = ("auto-submitted: auto-replied", "x-autoreply", "x-autorespond", "x-autoreply-from",
                  "x-mail-autoreply", "x-vacation", "x-apple-action: vacation", "exchange: out-of-office",
                  "precedence: auto_reply", "precedence: auto-reply")
_DELIVERY_REPORT = ("multipart/report: delivery-status", "multipart/report: disposition-notification",
                    "message/delivery-status part", "message/global-delivery-status part",
                    "message/disposition-notification part", "message/global-disposition-notification part",
                    "sender: mailer-daemon", "sender: postmaster", "x-failed-recipients", "exchange: ndr",
                    "subject: delivery failure", "bounce")
_BULK = ("precedence: bulk", "precedence: junk", "precedence: list", "list-id", "list-unsubscribe", "x-mlserver")
_BY_KIND = (("out_of_office", _OUT_OF_OFFICE), ("delivery_report", _DELIVERY_REPORT), ("bulk", _BULK))


def kind_of(reasons: tuple[str, ...]) -> str | None:
    """out_of_office, delivery_report, bulk or other; None for mail no machine wrote."""
    if not reasons:
        return None
    found = set(reasons)
    return next((kind for kind, markers in _BY_KIND if found.intersection(markers)), "other")
