"""The text that becomes the description or note: quotes cut, disclaimers removed (F-BODY-1..3, F-REF-5, F-NEW-4)."""

from __future__ import annotations

from engine.decision import Note, Outcome
from engine.evaluate.draft import Draft
from engine.config.rule_index import declared
from engine.evaluate.sender import acting_technician
from engine.config.matching import normalise
from engine.parse.reply import reply_text

STAGE = "body"


def compose(d: Draft) -> None:
    """Build the note or description for create_ticket, add_note and bundle outcomes."""
    text = d.message.text or ""
    is_reply = d.outcome in (Outcome.ADD_NOTE, Outcome.BUNDLE)
    quoted = False
    if is_reply and d.reason != "bounce_filed" and d.policy.replies.strip_quotes:
        cut = reply_text(text, d.message.html)
        quoted = cut != text.strip()
        d.step(STAGE, "strip_quotes", quoted, f"{len(text)} -> {len(cut)} characters",
               d.policy.replies.where("strip_quotes"))
        text = cut
    text = remove_excluded(d, text)
    html = _html(d, quoted)
    if d.policy.new_tickets.submitted_by_note:
        text = f"{text.rstrip()}\n\nSubmitted by direct email to {d.mailbox.address}".lstrip()
    if d.flagged_recipients:  # a bounce of our mail says whom it did not reach (F-REF-9)
        text = f"{text}\n\nDelivery failed for: {', '.join(d.flagged_recipients)}"
    d.note = Note(text=text, html=html, author=d.sender, acting_as=acting_technician(d),
                  hidden_from_portal=_hidden_from_portal(d) or d.hidden_by_route, message_id=d.message.message_id)
    _extras(d)


def remove_excluded(d: Draft, text: str) -> str:
    """Drop every excluded text, matching across line breaks and white space (F-BODY-1)."""
    text, hits = cut_excluded(d, text)
    for rule in hits:
        d.step(STAGE, "excluded_text", True, rule.name, rule.origin)
    if not hits:
        d.step(STAGE, "excluded_text", False, f"{len(d.ruleset.excluded_text)} rule(s), none found")
    return text


def cut_excluded(d: Draft, text: str) -> tuple[str, list]:
    """The text with every excluded text cut, and the rules that cut, in declaration order (untraced)."""
    hits = {hit[2] for hit in d.index.excluded_literals.find(normalise(text))}
    hits |= set(d.index.excluded_regexes.search(text))
    ordered = sorted(hits, key=declared)
    for rule in ordered:
        text = rule.regex.sub("", text)
    return text.strip(), ordered


def _html(d: Draft, quoted: bool) -> str | None:
    """Sanitised HTML is kept only with preserve_html; raw HTML never is (F-BODY-2).

    When quotes were cut from a reply, the HTML still holds the earlier mail, so the
    note keeps the cut plain text instead (F-REF-5).
    """
    wanted = bool(d.message.html) and d.policy.body.preserve_html
    keep = wanted and not quoted
    why = "sanitised HTML kept" if keep else "stored as plain text"
    d.step(STAGE, "preserve_html", keep, why + (": the HTML holds the quoted earlier mail" if wanted and quoted else ""),
           d.policy.body.where("preserve_html"))
    return d.message.html if keep else None


def _hidden_from_portal(d: Draft) -> bool:
    """Hide an update from the portal when the requester was not a recipient of it (F-REF-10)."""
    replies = d.policy.replies
    if d.ticket.get("new", True) or not replies.hide_from_portal_unless_recipient:
        return False
    requester = (d.existing.requester or "").lower() if d.existing else ""
    recipients = {a.address.lower() for a in (*d.message.to, *d.message.cc)} | {d.sender or ""}
    hidden = bool(requester) and requester not in recipients
    d.step(STAGE, "hide_from_portal", hidden, f"requester {requester} {'not ' if hidden else ''}among the recipients",
           replies.where("hide_from_portal_unless_recipient"))
    return hidden


def _extras(d: Draft) -> None:
    """Attach the raw message and/or an HTML rendering when configured (F-BODY-3)."""
    body = d.policy.body
    if body.attach_raw_message:
        d.extra_attachments.append("raw_message")
    if body.attach_html_rendering:
        d.extra_attachments.append("html_rendering")
    if d.extra_attachments:
        d.step(STAGE, "attach_extras", True, ", ".join(d.extra_attachments),
               body.where("attach_raw_message", "attach_html_rendering"))
