"""Mark quotes, cuts and signatures in reply HTML by its structure, then render it as text."""

from __future__ import annotations

import re

from engine.parse.reply_lines import CUT_MARK, QUOTE_MARK, SIGNATURE_MARK, opens_with_sender_header

# Containers clients wrap the quoted earlier mail in (Gmail, Apple Mail and
# Thunderbird `type=cite`, Yahoo, ProtonMail, Zoho; any blockquote).
_QUOTE_XPATH = (
    "//blockquote"
    " | //div[contains(concat(' ', normalize-space(@class), ' '), ' gmail_quote ')]"
    " | //div[contains(concat(' ', normalize-space(@class), ' '), ' gmail_quote_container ')]"
    " | //div[contains(concat(' ', normalize-space(@class), ' '), ' moz-cite-prefix ')]"
    " | //div[contains(@class, 'yahoo_quoted') or starts-with(@id, 'yahoo_quoted')]"
    " | //div[contains(@class, 'protonmail_quote')] | //div[contains(@class, 'zmail_extra')]"
)
# Elements after which the earlier mail follows unquoted (Outlook desktop
# and web, Hotmail, Zimbra, Outlook for Mac).
_CUT_IDS = (  # Outlook web forwards prefix ids with "x_": match inside the id
    "divRplyFwdMsg", "appendonsend", "stopSpelling", "zwchr", "OLK_SRC_BODY_SECTION",
    "mail-editor-reference-message-container",
)
_CUT_XPATH = (
    "//*[" + " or ".join(f"contains(@id, '{name}')" for name in _CUT_IDS) + "]"
    " | //div[contains(@class, 'OutlookMessageHeader')]"
    " | //div[contains(translate(@style, 'BORDERTOP', 'bordertop'), 'border-top')]"
    " | //hr"
)
# Gmail's and Apple Mail's "indent" is a borderless blockquote: the sender's own text.
_INDENT = re.compile(r"border\s*:\s*none", re.IGNORECASE)
_SIGNATURE_XPATH = (
    "//div[contains(@class, 'gmail_signature') or contains(@class, 'moz-signature')"
    " or @id='Signature' or @id='signature']"
)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_LINK = re.compile(r"\[([^\]\n]*)\]\(([^)\s]+)(?: \"[^\"\n]*\")?\)")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^>\s]+)>")
_BLANK_RUN = re.compile(r"\n{3,}")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!])")


def render_marked(html: str, keep_signature: bool) -> str:
    """Plain text of the HTML with quote, cut and signature marks in it."""
    try:
        marked = _mark(html, keep_signature)
    except Exception:  # unparsable markup: render it as it is
        marked = html
    return render(marked)


def _mark(html: str, keep_signature: bool) -> str:
    """Replace structural quotes with marks; drop all after the first hard cut."""
    import lxml.html

    root = lxml.html.document_fromstring(_XML_DECLARATION.sub("", html) or "<p></p>")
    cut = next((el for el in root.xpath(_CUT_XPATH) if _opens_earlier_mail(el)), None)
    if cut is not None:
        _drop_following(cut)
        _replace(cut, CUT_MARK)
    for element in root.xpath(_QUOTE_XPATH):
        if element.tag == "blockquote" and _is_indent(element):
            element.tag = "div"  # keep the words, lose the "> " html2text would add
        elif _attached(element, root):
            _replace(element, QUOTE_MARK)
    if not keep_signature:
        for element in root.xpath(_SIGNATURE_XPATH):
            if _attached(element, root):
                _replace(element, SIGNATURE_MARK)
    return lxml.html.tostring(root, encoding="unicode")


def _opens_earlier_mail(element) -> bool:
    """A known separator id, or a rule or bordered block above "From: …"."""
    if any(name in (element.get("id") or "") for name in _CUT_IDS):
        return True
    if "OutlookMessageHeader" in (element.get("class") or ""):
        return True
    if element.tag == "hr":
        texts = element.xpath("following::text()[normalize-space()][position() <= 8]")
    else:
        texts = [element.text_content()]
    return opens_with_sender_header(" ".join(" ".join(texts).split())[:300])


def _is_indent(element) -> bool:
    """A borderless blockquote that is no quote by any client's marking."""
    marked = element.get("type") == "cite" or "quote" in (element.get("class") or "")
    return not marked and bool(_INDENT.search(element.get("style") or ""))


def _attached(element, root) -> bool:
    """Still in the tree (an ancestor may have been replaced already)."""
    node = element
    while node is not None and node is not root:
        node = node.getparent()
    return node is root


def _drop_following(element) -> None:
    """Remove everything after `element` in document order."""
    node = element
    while node.getparent() is not None:
        parent = node.getparent()
        node.tail = None
        for sibling in list(node.itersiblings()):
            parent.remove(sibling)
        node = parent


def _replace(element, mark: str) -> None:
    """Put a paragraph holding only `mark` where `element` was."""
    import lxml.html

    paragraph = lxml.html.Element("p")
    paragraph.text = mark
    paragraph.tail = element.tail
    element.getparent().replace(element, paragraph)


def render(html: str) -> str:
    """html2text without the Markdown: plain links, no escapes, no images."""
    import html2text

    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.unicode_snob = True
    converter.ignore_images = True
    converter.ignore_emphasis = True
    try:
        text = converter.handle(html)
    except Exception:  # html2text choked on odd markup: keep the words
        text = re.sub(r"<[^>]*>", " ", html)
    text = _LINK.sub(_plain_link, text)
    text = _AUTOLINK.sub(r"\1", text)
    text = "\n".join(line.rstrip() for line in _MD_ESCAPE.sub(r"\1", text).splitlines())
    return _BLANK_RUN.sub("\n\n", text)  # empty <div>s and <p>s: one blank line is enough


def _plain_link(match: re.Match[str]) -> str:
    """"[label](url)" as "label (url)", or the label when it says the same."""
    label, url = match.group(1), match.group(2)
    bare = url.removeprefix("mailto:")
    if not label or label.strip() in (url, bare):
        return label or bare
    return f"{label} ({url})"
