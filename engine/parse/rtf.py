"""Render RTF (an Outlook/TNEF message body) as plain text, cheaply and without raising."""

from __future__ import annotations

import codecs
import re

_TOKEN = re.compile(
    r"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?"  # control word with optional number
    r"|\\'([0-9a-fA-F]{2})"  # one byte in the document code page
    r"|\\(.)"  # control symbol
    r"|([{}])"
    r"|[\r\n]+"  # line ends in RTF source mean nothing
    r"|([^\\{}\r\n]+)",
    re.DOTALL,
)
# Groups that hold no body text: tables, metadata, pictures, field codes…
_SKIPPED = frozenset(
    "fonttbl colortbl stylesheet info pict object objdata header headerl headerr headerf"
    " footer footerl footerr footerf listtable listoverridetable rsidtbl generator"
    " xmlnstbl themedata colorschememapping datastore latentstyles pgdsctbl fldinst"
    " bkmkstart bkmkend filetbl revtbl nonshppict blipuid footnote ftnsep ftnsepc"
    " aftnsep annotation atnid atnauthor xe tc txe mmathPr wgrffmtfilter".split()
)
_BREAKS = {"par": "\n", "line": "\n", "sect": "\n\n", "page": "\n\n", "row": "\n",
           "tab": "\t", "cell": "\t", "emdash": "\u2014", "endash": "\u2013",
           "bullet": "\u2022", "lquote": "\u2018", "rquote": "\u2019",
           "ldblquote": "\u201c", "rdblquote": "\u201d", "emspace": " ", "enspace": " "}
_SYMBOLS = {"~": "\u00a0", "_": "-", "-": "", "\\": "\\", "{": "{", "}": "}", "*": ""}


class _State:
    """Where the walk stands: group stack, code page, pending bytes, output."""

    def __init__(self) -> None:
        self.stack: list[tuple[bool, int]] = []  # (skipping, \ucN) of enclosing groups
        self.skipping = False
        self.uc = 1  # characters to skip after a \uN
        self.pending_skip = 0
        self.codepage = "cp1252"
        self.raw = bytearray()  # \'hh bytes, decoded together (multi-byte code pages)
        self.out: list[str] = []
        self.group_start = False  # the next control word names the group

    def emit(self, text: str) -> None:
        if self.pending_skip:  # the ANSI fallback after \uN is not shown twice
            dropped = min(self.pending_skip, len(text))
            self.pending_skip -= dropped
            text = text[dropped:]
        if text and not self.skipping:
            self.flush()
            self.out.append(text)

    def flush(self) -> None:
        if self.raw:
            self.out.append(self.raw.decode(self.codepage, errors="replace"))
            self.raw.clear()


def rtf_to_text(rtf: bytes) -> str:
    """The visible text of an RTF document; '' when there is none or it is unreadable."""
    try:
        state = _State()
        source = rtf.decode("latin-1")
        position = 0
        while position < len(source):
            match = _TOKEN.match(source, position)
            if match is None:  # a lone backslash at the very end
                break
            position = _step(state, match, source)
        state.flush()
        return _tidy("".join(state.out))
    except Exception:  # malformed beyond repair: no text rather than an error
        return ""


def _step(state: _State, match: re.Match[str], source: str) -> int:
    """Apply one token; returns where the next token starts."""
    word, number, hexbyte, symbol, brace, text = match.groups()
    starts_group, state.group_start = state.group_start, False
    if brace:
        _brace(state, brace)
    elif hexbyte:
        if state.pending_skip:
            state.pending_skip -= 1
        elif not state.skipping:
            state.raw.append(int(hexbyte, 16))
    elif symbol:
        if symbol == "*" and starts_group:
            state.skipping = True  # {\* …}: an optional destination we do not know
        else:
            state.emit(_SYMBOLS.get(symbol, ""))
    elif word:
        return _control(state, word, number, match, starts_group)
    elif text:
        state.emit(text)
    return match.end()


def _brace(state: _State, brace: str) -> None:
    """Open or close a group, saving or restoring what a group scopes."""
    state.flush()
    if brace == "{":
        state.stack.append((state.skipping, state.uc))
        state.group_start = True
    elif state.stack:
        state.skipping, state.uc = state.stack.pop()
    state.pending_skip = 0


def _control(state: _State, word: str, number: str | None, match, starts_group: bool) -> int:
    """A control word: breaks and specials become text; some set state."""
    if word == "bin" and number:  # raw binary data follows: jump over it
        return match.end() + max(0, int(number))
    if starts_group and word in _SKIPPED:
        state.skipping = True
    elif word == "ansicpg" and number:
        state.codepage = _codepage(number)
    elif word == "uc" and number:
        state.uc = max(0, int(number))
    elif word == "u" and number:
        code = int(number)
        code = code + 65536 if code < 0 else code  # RTF writes 16-bit signed values
        state.emit(chr(code) if 0 <= code <= 0x10FFFF else "\ufffd")
        state.pending_skip = state.uc
    elif word in _BREAKS:
        state.emit(_BREAKS[word])
    return match.end()


def _codepage(number: str) -> str:
    """The Python codec for an RTF \\ansicpg number, cp1252 when unknown."""
    name = f"cp{int(number)}"
    try:
        codecs.lookup(name)
    except LookupError:
        return "cp1252"
    return name


def _tidy(text: str) -> str:
    """No trailing blanks, at most one empty line in a row, no blank ends."""
    lines = [line.rstrip() for line in text.replace("\x00", "").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
