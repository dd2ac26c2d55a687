"""Cut quoted earlier mail and signatures from a reply: what the sender wrote (F-REF-5)."""

from __future__ import annotations

import re
from functools import lru_cache

from engine.parse.reply_lines import CUT_MARK, FROM_KEY, HEADER_LINE, QUOTE_MARK, SIGNATURE_MARK


_WINDOW = 3  # attribution lines ("On … wrote:") are wrapped over at most 3 lines
_WINDOW_CHARS = 400  # bound on what the attribution regexes ever scan
_VERB_REACH = 150  # the wrote-verb stands this close to the closing colon
_LIBRARY_BUDGET = 64  # library look-ups per body
_LIBRARY_CHARS = 120  # real attributions are shorter; longer ones cost the library dearly

_QUOTED = re.compile(rf"^\s*(>|{QUOTE_MARK})")

# "-----Original Message-----", "---------- Forwarded message ---------" and
# their translations; the earlier mail follows, unquoted.
_SEPARATOR = re.compile(
    r"^\s*[-_=*]{2,}\s*(original message|original e-?mail|reply message|forwarded message"
    r"|ursprüngliche nachricht|weitergeleitete nachricht|message d'origine|message original"
    r"|message transféré|mensaje original|mensaje reenviado|oorspronkelijk bericht"
    r"|origineel bericht|doorgestuurd bericht|messaggio originale|messaggio inoltrato"
    r"|mensagem original|mensagem encaminhada|originalmeddelande|vidarebefordrat meddelande"
    r"|oprindelig meddelelse|videresendt meddelelse|opprinnelig melding|videresendt melding"
    r"|alkuperäinen viesti|välitetty viesti|původní zpráva|přeposlaná zpráva"
    r"|wiadomość oryginalna|oryginalna wiadomość|przekazana wiadomość|eredeti üzenet"
    r"|исходное сообщение|пересылаемое сообщение|原始邮件|原始郵件|转发的邮件)"
    r"\s*[-_=*]{2,}\s*$"
    r"|^\s*(begin forwarded message|anfang der weitergeleiteten nachricht"
    r"|début du message réexpédié|inicio del mensaje reenviado|begin doorgestuurd bericht"
    r"|inizio messaggio inoltrato|início da mensagem reencaminhada)\s*:\s*$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^\s*_{20,}\s*$")

# A real block also names when it was sent or what about: "From: Monday /
# To: Friday" in a room booking is not one.
_WHEN_OR_WHAT_KEY = re.compile(
    r"^(?:sent|date|subject|gesendet|datum|betreff|envoyé|objet|enviado|enviada|fecha"
    r"|enviado el|enviado em|enviada em|asunto|assunto|verzonden|onderwerp|inviato|data|oggetto|sendt|dato|emne|skickat|ämne"
    r"|wysłano|wysłane|temat|odesláno|předmět|отправлено|дата|тема|lähetetty|aihe"
    r"|elküldve|tárgy|gönderildi|konu|送信日時|件名|发送时间|主题|日期|寄件日期|主旨"
    r"|보낸 날짜|제목)$",
    re.IGNORECASE,
)

# "On <date>, <name> wrote:" and translations, possibly wrapped over lines.
_WROTE = re.compile(
    r"(wrote|writes|schrieb|a écrit|a ecrit|escribió|escribio|schreef|ha scritto"
    r"|escreveu|skrev|kirjoitti|napisał\(a\)|napisał|napisała|napsal\(a\)|napsal"
    r"|napísal|napisao|napisala|írta|написал\(а\)|написала|написал|пише|yazdı"
    r"|έγραψε|a scris|rašė|rakstīja|kirjutas|写道|寫道|のメッセージ|님이 작성)"
    r"[^:：]{0,120}[:：]\s*$",
    re.IGNORECASE,
)
# Attributions without a verb ('26.06.2014, 14:41, "Alex" <a@example.com>:',
# '… от Alex <a@example.com>:'): only trusted when a quote follows.
# How attributions open: a lead word, a weekday or a date.
_OPENING = re.compile(
    r"^\s*(\d|on\b|am\b|le\b|el\b|op\b|il\b|em\b|den\b|dne\b|dnia\b|w dniu\b|в\b|på\b"
    r"|(mon|tue|wed|thu|fri|sat|sun|mo|di|mi|do|fr|sa|so|lun|mar|mer|jeu|ven|sam|dim)\w*[.,])",
    re.IGNORECASE,
)
_DATE = re.compile(r"\d{1,4}[./:-]\d{1,2}|\d{1,2}:\d{2}|\b(19|20)\d{2}\b")
_ADDRESS = re.compile(r"@|&lt;|<[^>]*>")

_RULE = re.compile(r"^[\s*_=~\-]*$")
_SIGNATURE_LINE = re.compile(rf"^\s*(--|—|\\--|{SIGNATURE_MARK})\s*$")
# One-line client signatures ("Sent from my iPhone") in many languages.
_MOBILE = re.compile(
    r"^\s*(sent (from|via|with) (my|mail for windows|outlook|yahoo mail|samsung|blackberry"
    r"|sparrow|airmail|spark|proton ?mail|the \w+ app)\b"
    r"|get outlook for\b|von meinem .{1,40} gesendet|gesendet von (meinem|mail für)\b"
    r"|envoyé (de|depuis) (mon|l'application|outlook)\b|obtenir outlook pour\b"
    r"|enviado (desde|do|de) (mi|meu|o)\b|verzonden (vanaf|met) (mijn|outlook)\b"
    r"|verstuurd vanaf mijn\b|inviato da\b|skickat från\b|sendt fra\b"
    r"|lähetetty (laitteesta|iphonesta|android)|wysłane z\b|отправлено (с|из)\b)",
    re.IGNORECASE,
)
_SIGNATURE_LINES = 15  # a "--" line with more below it is a separator, not a signature


def reply_text(text: str, html: str | None = None, *, keep_signature: bool = False) -> str:
    """What the sender wrote: the reply without the quoted earlier mail (F-REF-5).

    `text` is the text/plain body and wins when it has visible text; otherwise
    `html` is cut in its structure and rendered. The signature ("-- " block,
    "Sent from my iPhone") is cut too unless `keep_signature`. When nothing
    would remain (a bare forward), the whole body is returned instead.
    """
    if (text or "").strip() or not html:
        return _cut_text(text or "", keep_signature) or _tidy(_lines(text or ""))
    from engine.parse import reply_html  # lxml and html2text only when needed

    marked = reply_html.render_marked(html, keep_signature)
    return _cut_text(marked, keep_signature) or _tidy(_lines(reply_html.render(html)))


def own_text(text: str, html: str | None = None) -> str:
    """Only what the sender wrote, signature kept: '' for a bare forward (where reply_text gives all).

    Email tokens are read from this, never from a quoted, forwarded or attached mail (F-TOK-3).
    """
    if (text or "").strip() or not html:
        return _cut_text(text or "", keep_signature=True)
    from engine.parse import reply_html

    return _cut_text(reply_html.render_marked(html, True), keep_signature=True)


def _lines(text: str) -> list[str]:
    """Lines of a body whatever its line endings."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _cut_text(text: str, keep_signature: bool) -> str:
    """The line classifier on plain text; '' when nothing would remain."""
    kept = _drop_quotes(_lines(text))
    if not keep_signature:
        kept = _drop_signature(kept)
    return _tidy(kept)


def _drop_quotes(lines: list[str]) -> list[str]:
    """Lines the sender wrote: up to the first hard cut, minus quoted blocks."""
    quoted = [bool(_QUOTED.match(line)) for line in lines]
    starts = _attributions(lines, quoted)
    kept: list[str] = []
    i = 0
    while i < len(lines):
        if quoted[i]:
            i += 1
            continue
        if _is_hard_cut(lines, i):
            break
        span, strong = starts.get(i, (0, False))
        if span:
            after = _next_visible(lines, i + span)
            if after is None or quoted[after]:
                i += span  # its quote follows: drop both, keep what comes after
                continue
            if strong:
                break  # an attribution above an unquoted earlier mail
        kept.append(lines[i])
        i += 1
    return kept


def _is_hard_cut(lines: list[str], i: int) -> bool:
    """Does the earlier mail start, unquoted, at line i?"""
    line = lines[i]
    if CUT_MARK in line or _SEPARATOR.match(line):
        return True
    if _UNDERSCORES.match(line):
        following = _next_visible(lines, i + 1)
        return following is not None and bool(HEADER_LINE.match(lines[following]))
    return _is_header_block(lines, i)


def _is_header_block(lines: list[str], i: int) -> bool:
    """Line i opens a "From: … Sent: … To: …" block: a sender key and a date or subject key."""
    first = HEADER_LINE.match(lines[i])
    if not first:
        return False
    keys = {first.group("key").lower()}
    for line in lines[i + 1 : i + 8]:
        match = HEADER_LINE.match(line)
        if match:
            keys.add(match.group("key").lower())
    return any(FROM_KEY.match(key) for key in keys) and any(
        _WHEN_OR_WHAT_KEY.match(key) for key in keys
    )


def _attributions(lines: list[str], quoted: list[bool]) -> dict[int, tuple[int, bool]]:
    """Map first line -> (line count, strong?) of every "On … wrote:" attribution."""
    found: dict[int, tuple[int, bool]] = {}
    budget = [_LIBRARY_BUDGET]
    for end, line in enumerate(lines):
        if quoted[end] or not line.rstrip().endswith((":", "：")):
            continue
        matches = []
        for span in range(1, min(_WINDOW, end + 1) + 1):
            window = lines[end - span + 1 : end + 1]
            if not all(part.strip() for part in window) or any(quoted[end - span + 1 : end]):
                break
            kind = _attribution_kind(" ".join(part.strip() for part in window), budget)
            if kind:
                matches.append((span, kind == "strong"))
        # Prefer the shortest window whose first line opens like an
        # attribution ("On …", "Am …", a date), so the reply's last line
        # above it is never swallowed; else the shortest window at all.
        opening = [m for m in matches if _OPENING.match(lines[end - m[0] + 1])]
        if opening or matches:
            span, strong = (opening or matches)[0]
            found[end - span + 1] = (span, strong)
    return found


def _attribution_kind(joined: str, budget: list[int]) -> str | None:
    """'strong' (a wrote-verb and a date or address), 'weak' (date and address
    only: trusted when a quote follows) or None."""
    if len(joined) > _WINDOW_CHARS:
        return None
    dated = bool(_DATE.search(joined) or _ADDRESS.search(joined))
    # The verb sits at most 120 characters before the colon: scan only the tail.
    if _WROTE.search(joined[-_VERB_REACH:]) or _library_attribution(joined, budget):
        return "strong" if dated else "weak"
    return "weak" if _DATE.search(joined) and _ADDRESS.search(joined) else None


def _library_attribution(joined: str, budget: list[int]) -> bool:
    """mail-parser-reply's "wrote" patterns, for wordings ours lack.

    Consulted only after ours miss, on short windows and a bounded number of
    times per body: its patterns backtrack quadratically on long lines.
    """
    if len(joined) > _LIBRARY_CHARS or budget[0] <= 0:
        return False
    budget[0] -= 1
    pattern = _library_pattern()
    return bool(pattern and pattern.search(joined))


@lru_cache(maxsize=1)
def _library_pattern() -> re.Pattern[str] | None:
    """The library's per-language attribution patterns, compiled once."""
    try:
        from mailparser_reply.constants import MAIL_LANGUAGES

        parts = [
            spec["wrote_header"]
            for spec in MAIL_LANGUAGES.values()
            if isinstance(spec, dict) and spec.get("wrote_header")
        ]
        return re.compile("|".join(f"(?:{part})" for part in parts), re.MULTILINE)
    except Exception:  # the library changed its table: our own patterns still work
        return None


def _next_visible(lines: list[str], start: int) -> int | None:
    """Index of the first non-blank line at or after start."""
    for index in range(start, len(lines)):
        if lines[index].strip():
            return index
    return None


def _drop_signature(lines: list[str]) -> list[str]:
    """Cut from a "-- " line, or a one-line client signature near the end."""
    visible = [index for index, line in enumerate(lines) if line.strip()]
    for position, index in enumerate(visible[1:], start=1):
        below = len(visible) - position - 1
        if _SIGNATURE_LINE.match(lines[index]) and below <= _SIGNATURE_LINES:
            return lines[:index]
    for index in visible[-3:]:
        line = lines[index]
        if index != visible[0] and len(line.strip()) <= 80 and _MOBILE.match(line):
            return lines[:index]
    return [line for line in lines if SIGNATURE_MARK not in line]


def _unmark(line: str) -> str:
    """A line without the HTML markers (for the fall-back to the whole body)."""
    return line.replace(QUOTE_MARK, "").replace(CUT_MARK, "").replace(SIGNATURE_MARK, "")


def _tidy(lines: list[str]) -> str:
    """Trailing blanks off every line; blank lines and rules off both ends."""
    cleaned = [_unmark(line).rstrip() for line in lines]
    while cleaned and _RULE.match(cleaned[-1]):
        cleaned.pop()  # the separator line that stood above the quote
    return "\n".join(cleaned).strip("\n")
