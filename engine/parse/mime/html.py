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
# Presentation only: no position tricks that overlay the page (url() and the like:
# _safe_style).
_STYLES = {
    "color", "background-color", "font", "font-family", "font-size", "font-style",
    "font-weight", "text-align", "text-decoration", "vertical-align", "line-height",
    "margin", "margin-left", "margin-right", "margin-top", "margin-bottom", "padding",
    "padding-left", "padding-right", "padding-top", "padding-bottom", "border",
    "border-collapse", "border-left", "border-right", "border-top", "border-bottom",
    "width", "height", "white-space", "list-style-type", "direction",
}

# Images load only from the mail itself (cid:) unless the mailbox opts in: a remote
# image tells the sender when and where the mail was read (tracking pixels).
_INLINE_IMAGE = re.compile(r"\s*cid:", re.I)
# CSS functions a style value may call: colours and arithmetic. url(), image-set(),
# IE's expression() and every other function (which could fetch or run something) go.
_SAFE_FUNCTIONS = frozenset({"", "rgb", "rgba", "hsl", "hsla", "calc", "min", "max", "clamp"})  # "": a bare (
_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})[ \t\r\n\f]?|\\(.)", re.S)
_CSS_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.S)
_CSS_FUNCTION = re.compile(r"([a-z0-9_-]*)\(")


def _filter(keep_remote_images: bool):
    def attribute(tag: str, name: str, value: str) -> str | None:
        if name == "style":
            return _safe_style(value)
        if tag == "img" and name == "src" and not keep_remote_images:
            return value if _INLINE_IMAGE.match(value) else None
        return value

    return attribute


def _safe_style(value: str) -> str | None:
    kept = [part for part in value.split(";") if _calls_only_safe_functions(part)]
    return ";".join(kept) if kept else None


def _calls_only_safe_functions(declaration: str) -> bool:
    if "(" not in declaration and "\\" not in declaration:
        return True
    plain = _CSS_COMMENT.sub("", _CSS_ESCAPE.sub(_unescape, declaration))
    plain = "".join(plain.split()).lower()
    return all(name in _SAFE_FUNCTIONS for name in _CSS_FUNCTION.findall(plain))


def _unescape(match: re.Match) -> str:
    if match.group(1):
        code = int(match.group(1), 16)
        return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
    return match.group(2)


_CLEANERS = {
    keep: nh3.Cleaner(
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        attribute_filter=_filter(keep),
        url_schemes=_SCHEMES,
        filter_style_properties=_STYLES,
        link_rel="noopener noreferrer",
    )
    for keep in (False, True)
}


def sanitize(html: str, keep_remote_images: bool = False) -> str:
    """HTML safe to show in a browser (F-BODY-2): no script, handlers, active URLs or
    CSS functions that fetch or run anything; images only from the mail (cid:) unless
    `keep_remote_images`."""
    return _CLEANERS[keep_remote_images].clean(html)


MAX_DEPTH = 256  # real mail nests tables and quotes a few dozen deep; browsers stop at 512
# A tag: its name, and the rest up to '>' or the next '<' (never past it: a '<' without
# '>' must not make every later '<' rescan to the end of the text).
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)[^<>]*>?")
# Never nest: no end tag, or an end tag the parser implies when the next one opens.
_FLAT = frozenset("area base br col embed hr img input link meta param source track wbr "
                  "p li dt dd td th tr option optgroup thead tbody tfoot colgroup rb rt rtc rp".split())


def flatten(html: str, limit: int = MAX_DEPTH) -> tuple[str, int]:
    """The HTML with tags nested deeper than `limit` dropped (their text stays), and how many.

    HTML parsers (nh3's html5ever, html2text, lxml) spend time per tag in the depth of
    open elements: 40,000 nested <div> cost seconds. The scan here is linear: a stack
    of open names with a count of each, so an end tag finds its element in O(1).
    """
    if html.count("<") <= limit:
        return html, 0
    return _flattened(html, limit) if _too_deep(html, limit) else (html, 0)


def _too_deep(html: str, limit: int) -> bool:
    stack: list[str] = []
    open_names: dict[str, int] = {}
    for match in _TAG.finditer(html):
        closing, name = match.group(1), match.group(2).lower()
        if name in _FLAT:
            continue
        if not closing:
            if match.group(0).endswith("/>"):
                continue
            stack.append(name)
            open_names[name] = open_names.get(name, 0) + 1
            if len(stack) > limit:
                return True
        elif open_names.get(name):
            _close(stack, open_names, name)
    return False


def _close(stack: list[str], open_names: dict[str, int], name: str) -> None:
    # Like an HTML parser: an end tag closes its element and everything opened inside it.
    while stack:
        top = stack.pop()
        open_names[top] -= 1
        if top == name:
            return


def _flattened(html: str, limit: int) -> tuple[str, int]:
    stack: list[str] = []
    open_names: dict[str, int] = {}
    dropped_names: dict[str, int] = {}
    dropped = 0

    def keep(match: re.Match) -> str:
        nonlocal dropped
        closing, name = match.group(1), match.group(2).lower()
        if name in _FLAT or (not closing and match.group(0).endswith("/>")):
            return match.group(0)
        if not closing:
            if len(stack) < limit:
                stack.append(name)
                open_names[name] = open_names.get(name, 0) + 1
                return match.group(0)
            dropped_names[name] = dropped_names.get(name, 0) + 1
            dropped += 1
            return ""
        if dropped_names.get(name):  # the end of a dropped element goes with it
            dropped_names[name] -= 1
            return ""
        if open_names.get(name):
            _close(stack, open_names, name)
        return match.group(0)

    return _TAG.sub(keep, html), dropped


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
