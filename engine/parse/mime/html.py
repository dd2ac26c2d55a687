"""Sanitise mail HTML (nh3) and render it as readable plain text (html2text)."""

from __future__ import annotations

import re
from html import unescape

import nh3

# nh3's defaults plus what mail layouts use; scripts, event handlers, forms
# and javascript: links are never allowed.
_TAGS = set(nh3.ALLOWED_TAGS) | {"font", "tfoot"}
_ATTRIBUTES = {key: set(value) for key, value in nh3.ALLOWED_ATTRIBUTES.items()}
for _tag, _extra in {
    "*": {"style", "dir", "lang", "title", "align"},
    "font": {"color", "face", "size"},
    "table": {"border", "cellpadding", "cellspacing", "width", "bgcolor"},
    "td": {"width", "bgcolor", "valign", "height"},
    "th": {"width", "bgcolor", "valign"},
    "tr": {"bgcolor", "valign"},
    "a": {"name", "title"},
}.items():
    _ATTRIBUTES.setdefault(_tag, set()).update(_extra)
# cid: keeps inline images pointing at their attachment (F-ATT-3).
_SCHEMES = set(nh3.ALLOWED_URL_SCHEMES) | {"cid"}
# Presentation only: no url(), no position tricks that overlay the page.
_STYLES = {
    "color", "background-color", "font", "font-family", "font-size", "font-style",
    "font-weight", "text-align", "text-decoration", "vertical-align", "line-height",
    "margin", "margin-left", "margin-right", "margin-top", "margin-bottom", "padding",
    "padding-left", "padding-right", "padding-top", "padding-bottom", "border",
    "border-collapse", "border-left", "border-right", "border-top", "border-bottom",
    "width", "height", "white-space", "list-style-type", "direction",
}

_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    attributes=_ATTRIBUTES,
    url_schemes=_SCHEMES,
    filter_style_properties=_STYLES,
    link_rel="noopener noreferrer",
)


def sanitize(html: str) -> str:
    """HTML safe to show in a browser: no script, handlers or active URLs (F-BODY-2)."""
    return _CLEANER.clean(html)


RENDER_LIMIT = 1_000_000  # characters; html2text needs ~1 s per MB, beyond it strip tags
_BLOCK = re.compile(r"<(?:br|/p|/div|/tr|/li|/h[1-6]|/table)\b[^>]*>", re.I)
_ANY_TAG = re.compile(r"<[^>]*>")


def to_text(html: str) -> str:
    """A readable plain-text rendering of (already sanitised) HTML."""
    if len(html) > RENDER_LIMIT:
        return _stripped(html)
    import html2text  # imported lazily: most mails carry a text/plain part

    converter = html2text.HTML2Text()
    converter.body_width = 0  # keep paragraphs on one line; readers wrap
    converter.unicode_snob = True
    converter.ignore_images = True
    converter.ignore_emphasis = True
    try:
        text = converter.handle(html)
    except Exception:  # html2text has choked on odd markup; keep the words
        return _stripped(html)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _stripped(html: str) -> str:
    # Fast and plain: block ends become line breaks, other tags vanish.
    text = unescape(_ANY_TAG.sub("", _BLOCK.sub("\n", html)))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
