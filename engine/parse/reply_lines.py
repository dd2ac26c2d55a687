"""What both reply cutters (text and HTML) recognise: the marks HTML leaves in text, and sender-header blocks."""

from __future__ import annotations

import re

# Private-use characters mark, in text rendered from HTML, where the HTML
# structure showed a quote, a hard cut (the earlier mail follows unquoted) or
# a signature block; the line classifier then treats them like `>`
# lines, an "Original Message" line and a "-- " line (engine/parse/reply.py).
QUOTE_MARK = "\ue000"
CUT_MARK = "\ue001"
SIGNATURE_MARK = "\ue002"

# Header keys of the block Outlook (and webmails imitating it) put above the
# unquoted earlier mail: "From: … Sent: … To: … Subject: …", in many languages.
_FROM_KEYS = (
    "from|von|de|van|da|fra|från|od|от|lähettäjä|feladó|kimden|expéditeur|remitente"
    "|afzender|mittente|remetente|avsändare|afsender|avsender|nadawca|odesílatel"
    "|差出人|送信者|发件人|寄件者|보낸 사람|보낸사람"
)
_OTHER_KEYS = (
    "sent|date|to|subject|cc|reply-to|on behalf of|gesendet|datum|an|betreff|kopie"
    "|envoyé|à|a|objet|enviado|enviada|enviado el|enviado em|enviada em|fecha|para|asunto"
    "|assunto|verzonden|aan|onderwerp"
    "|inviato|oggetto|data|sendt|til|emne|skickat|till|ämne|kopia|wysłano|wysłane|do"
    "|temat|odesláno|komu|předmět|отправлено|дата|кому|тема|копия|lähetetty"
    "|vastaanottaja|aihe|elküldve|címzett|tárgy|gönderildi|kime|konu"
    "|送信日時|宛先|件名|发送时间|收件人|主题|日期|抄送|寄件日期|收件者|主旨"
    "|보낸 날짜|받는 사람|제목"
)
HEADER_LINE = re.compile(
    rf"^\s*\**\s*(?P<key>{_FROM_KEYS}|{_OTHER_KEYS})\s*\**\s*[:：]", re.IGNORECASE
)
FROM_KEY = re.compile(rf"^(?:{_FROM_KEYS})$", re.IGNORECASE)


def opens_with_sender_header(words: str) -> bool:
    """Does the text start like "From: … Sent: …" (in any language we know)?"""
    match = HEADER_LINE.match(words)
    return bool(match and FROM_KEY.match(match.group("key")))
