"""Read address-list headers leniently: the structure first, encoded words decoded after."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# An encoded word is one token even when its text holds address specials
# (`=?iso-8859-1?Q?B=FCrling,=20Andreas?=`): decoding it first would split
# the display name at the comma and lose the address.
_ENCODED = re.compile(r"=\?[^?\s]*\?[bBqQ]\?[^?]*\?=")
_ATOM_END = re.compile(r"[\s\"(),;:<>]")
_MAILTO = re.compile(r"^mailto:", re.I)
_SPACES = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")  # no blank or control character is part of an address


@dataclass
class _Token:
    kind: str  # word, quoted, comment, angle, sep, colon
    text: str


def address_list(line: str, decode: Callable[[str], str], defects: list[str] | None = None,
                 field: str = "address") -> tuple[tuple[str, str], ...]:
    """(address, display name) pairs of one unfolded header line, in order.

    Broken but common forms (unbalanced quotes or brackets, addresses
    without brackets, Outlook's unquoted `Last, First <a@b>`) still give the
    one plausible address; each repair is noted in `defects` as `field: …`.
    """
    notes: list[str] = []
    found: list[tuple[str, str]] = []
    pending: list[_Token] = []  # an address-less chunk: maybe the start of a display name
    for chunk in _chunks(_tokens(line, notes)):
        if _null_angle(chunk):  # `MAILER-DAEMON <>`: the null sender, named
            notes.append("empty <> address: the name kept as a local address")
            found += _local_only(pending, decode) + _local_only([t for t in chunk if t.kind != "angle"], decode)
            pending = []
        elif _has_address(chunk):
            if pending and any(t.kind == "angle" for t in chunk):
                chunk = pending + [_Token("word", ",")] + chunk
                notes.append("unquoted comma in a display name")
            elif pending:
                found += _local_only(pending, decode)
            pending = []
            found += _mailboxes(chunk, decode, notes)
        else:
            found += _local_only(pending, decode)
            pending = chunk
    found += _local_only(pending, decode)
    if defects is not None:
        defects += [f"{field}: {note}" for note in dict.fromkeys(notes)]
    return tuple(found)


class _Finder:
    """Next index of a character at or after a position, each scan done once.

    Positions only grow while tokenizing, so a cached answer stays right;
    without it `<<<<…` or `((((…` cost a scan to the end per bracket."""

    def __init__(self, line: str) -> None:
        self.line = line
        self.cache: dict[str, int] = {}
        self.closing: dict[int, int] | None = None

    def next(self, char: str, pos: int) -> int:
        found = self.cache.get(char)
        if found is None or (found != -1 and found < pos):
            found = self.line.find(char, pos)
            self.cache[char] = found
        return found

    def comment_end(self, pos: int) -> int:
        """Index of the `)` closing the `(` at pos (nesting counted), or -1."""
        if self.closing is None:
            self.closing, stack = {}, []
            for index, char in enumerate(self.line):
                if char == "(":
                    stack.append(index)
                elif char == ")" and stack:
                    self.closing[stack.pop()] = index
        return self.closing.get(pos, -1)


def _tokens(line: str, notes: list[str]) -> list[_Token]:
    tokens: list[_Token] = []
    finder = _Finder(line)
    pos = 0
    while pos < len(line):
        char = line[pos]
        if char.isspace():
            pos += 1
        elif char == '"':
            pos = _quoted(line, pos, tokens, notes)
        elif char == "(":
            pos = _comment(line, pos, tokens, notes, finder)
        elif char == "<":
            pos = _angle(line, pos, tokens, notes, finder)
        elif char in ">)":
            notes.append(f"stray '{char}' dropped")
            pos += 1
        elif char in ",;":
            tokens.append(_Token("sep", char))
            pos += 1
        elif char == ":":
            tokens.append(_Token("colon", char))
            pos += 1
        else:
            pos = _word(line, pos, tokens)
    return tokens


def _quoted(line: str, pos: int, tokens: list[_Token], notes: list[str]) -> int:
    text: list[str] = []
    index = pos + 1
    while index < len(line):
        char = line[index]
        if char == "\\" and index + 1 < len(line):
            text.append(line[index + 1])
            index += 2
            continue
        if char == '"':
            tokens.append(_Token("quoted", "".join(text)))
            return index + 1
        text.append(char)
        index += 1
    notes.append("unbalanced quote dropped")  # read on as if the quote were not there
    return pos + 1


def _comment(line: str, pos: int, tokens: list[_Token], notes: list[str], finder: _Finder) -> int:
    end = finder.comment_end(pos)
    if end != -1:
        tokens.append(_Token("comment", line[pos + 1 : end]))
        return end + 1
    notes.append("unbalanced '(' dropped")
    return pos + 1


def _angle(line: str, pos: int, tokens: list[_Token], notes: list[str], finder: _Finder) -> int:
    end = finder.next(">", pos + 1)
    following = finder.next("<", pos + 1)
    if end == -1 or -1 < following < end:
        ends = (finder.next(",", pos), finder.next(";", pos), following)
        stop = min((i for i in ends if i != -1), default=len(line))
        notes.append("unclosed '<'")
        tokens.append(_Token("angle", line[pos + 1 : stop]))
        return stop
    tokens.append(_Token("angle", line[pos + 1 : end]))
    return end + 1


def _word(line: str, pos: int, tokens: list[_Token]) -> int:
    encoded = _ENCODED.match(line, pos)
    if encoded:
        tokens.append(_Token("word", encoded.group(0)))
        return encoded.end()
    end = _ATOM_END.search(line, pos)
    stop = end.start() if end else len(line)
    inner = _ENCODED.search(line, pos, stop + 200)
    if inner and inner.start() < stop:  # `Name=?utf-8?…?=` glued to text
        stop = inner.start()
    stop = max(stop, pos + 1)  # a word is never empty, so the scan always moves on
    tokens.append(_Token("word", line[pos:stop]))
    return stop


def _chunks(tokens: list[_Token]) -> list[list[_Token]]:
    """Mailbox-sized pieces: split at , and ; (Outlook), group names dropped."""
    chunks: list[list[_Token]] = [[]]
    for token in tokens:
        if token.kind == "sep":
            chunks.append([])
        elif token.kind == "colon" and not any(t.kind == "angle" for t in chunks[-1]):
            chunks[-1] = []  # `undisclosed-recipients:` is a group name, not a mailbox
        elif token.kind != "colon":
            chunks[-1].append(token)
    return [chunk for chunk in chunks if chunk]


def _null_angle(chunk: list[_Token]) -> bool:
    angles = [t for t in chunk if t.kind == "angle"]
    return bool(angles) and not any(t.text.strip() for t in angles) and not any(_address_word(t) for t in chunk)


def _has_address(chunk: list[_Token]) -> bool:
    return any(t.kind == "angle" or _address_word(t) for t in chunk)


def _address_word(token: _Token) -> bool:
    return token.kind == "word" and "@" in token.text and not _ENCODED.fullmatch(token.text)


def _mailboxes(chunk: list[_Token], decode: Callable[[str], str], notes: list[str]) -> list[tuple[str, str]]:
    angles = [i for i, t in enumerate(chunk) if t.kind == "angle" and _clean_address(t.text)]
    if angles:
        return [_angle_mailbox(chunk, angles, decode, notes)]
    words = [i for i, t in enumerate(chunk) if _address_word(t)]
    if len(words) > 1:
        notes.append("addresses separated by spaces")
        return [(_clean_address(chunk[i].text), "") for i in words if _clean_address(chunk[i].text)]
    address = _clean_address(chunk[words[0]].text) if words else ""
    rest = [t for i, t in enumerate(chunk) if i not in words]
    name = _phrase([t for t in rest if t.kind != "comment"]) or _comments(rest)
    if any(t.kind in ("word", "quoted") for t in rest):
        notes.append("address without angle brackets")
    return [(address, _clean_name(decode(name), address, notes))] if address else []


def _angle_mailbox(chunk: list[_Token], angles: list[int], decode: Callable[[str], str],
                   notes: list[str]) -> tuple[str, str]:
    with_at = [i for i in angles if "@" in chunk[i].text]
    chosen = (with_at or angles)[-1]
    if len(angles) > 1:
        notes.append("several <addresses> in one mailbox: the last one kept")
    address = _clean_address(chunk[chosen].text)
    before = [t for t in chunk[:chosen] if t.kind != "angle"]
    after = [t for t in chunk[chosen + 1 :] if t.kind != "angle"]
    name = _phrase([t for t in before if t.kind != "comment"])
    if not name and _phrase([t for t in after if t.kind != "comment"]):
        name = _phrase([t for t in after if t.kind != "comment"])
        notes.append("display name after the address")
    name = name or _comments(before + after)
    return address, _clean_name(decode(name), address, notes)


def _phrase(tokens: list[_Token]) -> str:
    text = " ".join(t.text for t in tokens if t.kind in ("word", "quoted") and t.text)
    return text.replace(" , ", ", ")


def _comments(tokens: list[_Token]) -> str:
    return " ".join(t.text for t in tokens if t.kind == "comment" and t.text.strip())


def _local_only(chunk: list[_Token], decode: Callable[[str], str]) -> list[tuple[str, str]]:
    # A bare local name (`MAILER-DAEMON (Mail Delivery System)`) is an
    # address of the local host; several words are a stray display name.
    words = [t for t in chunk if t.kind != "comment"]
    if len(words) != 1 or words[0].kind != "word" or _ENCODED.fullmatch(words[0].text):
        return []
    address = _clean_address(words[0].text)
    return [(address, _clean_name(decode(_comments(chunk)), address, []))] if address else []


def _clean_address(text: str) -> str:
    address = _MAILTO.sub("", _SPACES.sub("", text)).strip("<>")
    if len(address) > 1 and address[0] == address[-1] and address[0] in "'\"":
        address = address[1:-1]
    return address.strip("<>'\".,;:")


def _clean_name(name: str, address: str, notes: list[str]) -> str:
    name = " ".join(name.split())
    while len(name) > 1 and name[0] == name[-1] and name[0] in "'\"":
        name = name[1:-1].strip()  # 'Bob' and doubly quoted names
    if name.count("<") != name.count(">") and (name[:1] in ("<", ">") or name[-1:] in ("<", ">")):
        notes.append("stray angle bracket in a display name")
        name = name.strip("<> '\"")
    return "" if name.lower() == address.lower() else name


_PLAIN_ADDRESS_SPECIALS = set('"(),:;<>[\\]@')
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def undeliverable(address: str) -> str:
    """Why mail cannot be addressed to `address` ('' when it can): checked where the decision is made.

    Only plain local@domain addresses are answered (no quoted local parts, no address
    literals): one that cannot be written in a To header or an SMTP RCPT must not
    reach the outbox, where it would fail on every attempt.
    """
    if not address or len(address) > 254:
        return "empty" if not address else "longer than 254 characters"
    if any(c.isspace() or not c.isprintable() for c in address):
        return "contains a control character or white space"
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or _PLAIN_ADDRESS_SPECIALS & set(local + domain):
        return "not a plain local@domain address"
    if len(local.encode("utf-8")) > 64 or local.startswith(".") or local.endswith(".") or ".." in local:
        return "the part before @ is not a valid local part"
    try:
        ascii_domain = domain.rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        return "the domain is not a valid host name"
    if not all(_LABEL.match(label) for label in ascii_domain.split(".")):
        return "the domain is not a valid host name"
    return ""
