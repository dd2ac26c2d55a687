"""parse(): decoded headers, bodies, sanitised HTML, attachments, defects; never raises.

SPEC IDs proved here: F-ATT-3, F-BODY-2, F-BODY-4, F-FAIL-1, F-OUT-4, F-PRE-2, F-PRE-6, F-PRE-7, F-REF-1, F-REF-9.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import random

import pytest

from engine.message import Message
from engine.parse import parse


def mail(headers: str, body: str | bytes = "body\n") -> bytes:
    """Raw bytes of a mail: CRLF line ends, as it comes off the wire."""
    head = headers.strip("\n").replace("\n", "\r\n").encode("utf-8")
    data = body if isinstance(body, bytes) else body.replace("\n", "\r\n").encode("utf-8")
    return head + b"\r\n\r\n" + data


# --- headers -----------------------------------------------------------------


@pytest.mark.parametrize(
    "subject, expected",
    [
        ("=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=", "Grüße aus Köln"),
        ("=?ISO-8859-1?B?Q2Fm6SBjcuhtZQ==?=", "Café crème"),
        ("=?koi8-r?B?8NLJ18XU?= world", "Привет world"),
        ("=?windows-1252?Q?=93quoted=94?=", "\u201cquoted\u201d"),
        ("=?iso-2022-jp?B?GyRCJUYlOSVIGyhC?=", "テスト"),
        ("Re: =?utf-8?B?5Zue5aSN?= =?utf-8?B?5rWL6K+V?=", "Re: 回复测试"),
        # one multi-byte character split across two encoded words
        ("=?utf-8?q?=C3?= =?utf-8?q?=A4?=", "ä"),
        ("=?utf-8?b?ww==?=\n =?utf-8?b?pA==?=", "ä"),
        ("=?utf-8*de?q?Hallo?=", "Hallo"),  # RFC 2231 language in an encoded word
        ("=?gb2312?B?1tDOxA==?=", "中文"),
        ("plain ascii", "plain ascii"),
    ],
)
def test_encoded_word_subjects_decode_F_BODY_4(subject, expected):
    assert parse(mail(f"Subject: {subject}\nFrom: a@example.com")).subject == expected


def test_unknown_charset_degrades_to_readable_text_F_BODY_4():
    message = parse(mail("Subject: =?x-no-such-charset?q?caf=C3=A9?=\nFrom: a@example.com"))
    assert message.subject == "café"
    assert any("unknown charset" in defect for defect in message.defects)


def test_raw_8bit_headers_are_read_as_utf8_or_latin1_F_BODY_4():
    utf8 = b"Subject: Stra\xc3\x9fe\r\nFrom: J\xc3\xb6rg <j@example.com>\r\n\r\nx"
    latin = b"Subject: Stra\xdfe gesperrt\r\nFrom: a@example.com\r\n\r\nx"
    assert parse(utf8).subject == "Straße"
    assert parse(utf8).from_.name == "Jörg"
    assert parse(latin).subject == "Straße gesperrt"


def test_encoded_line_breaks_cannot_inject_headers_F_OUT_4():
    message = parse(mail("Subject: =?utf-8?q?hi=0D=0ABcc:_victim@example.com?=\n"
                         "From: =?utf-8?q?Eve=0A?= <eve@example.com>"))
    assert message.subject == "hi Bcc: victim@example.com"
    assert message.from_.name == "Eve"


def test_folded_subject_is_unfolded():
    message = parse(mail("Subject: a long\n  folded subject\nFrom: a@example.com"))
    assert message.subject == "a long  folded subject"


def test_addresses_with_display_names():
    message = parse(mail(
        'From: "=?utf-8?q?M=C3=BCller=2C_Hans?=" <hans@example.com>\n'
        "Sender: Helpdesk Relay <relay@example.com>\n"
        "Reply-To: Team <team@example.com>, other@example.com\n"
        "To: Alice <alice@example.com>, bob@example.com (Bob B)\n"
        "To: carol@example.com\n"
        "Cc: undisclosed-recipients:;\n"
        "Return-Path: <bounce+123@example.com>"
    ))
    assert (message.from_.address, message.from_.name) == ("hans@example.com", "Müller, Hans")
    assert message.sender.address == "relay@example.com"
    assert [a.address for a in message.reply_to] == ["team@example.com", "other@example.com"]
    assert [(a.address, a.name) for a in message.to] == [
        ("alice@example.com", "Alice"), ("bob@example.com", "Bob B"), ("carol@example.com", "")]
    assert message.cc == ()
    assert message.return_path == "bounce+123@example.com"


def test_null_return_path_is_empty_string_and_missing_is_none():
    assert parse(mail("Return-Path: <>\nFrom: a@example.com")).return_path == ""
    assert parse(mail("From: a@example.com")).return_path is None


def test_message_ids_are_kept_without_angle_brackets_F_REF_1():
    message = parse(mail(
        "Message-ID: <abc.123@mail.example.com>\n"
        "In-Reply-To: <parent@example.com>\n"
        "References: <root@example.com>\n <parent@example.com>"
    ))
    assert message.message_id == "abc.123@mail.example.com"
    assert message.in_reply_to == "parent@example.com"
    assert message.references == ("root@example.com", "parent@example.com")


def test_date_is_iso_8601_and_bad_dates_are_none():
    assert parse(mail("Date: Tue, 02 Jan 2024 10:30:00 +0100")).date == "2024-01-02T10:30:00+01:00"
    assert parse(mail("Date: Tue, 02 Jan 2024 10:30:00 -0000")).date == "2024-01-02T10:30:00+00:00"
    bad = parse(mail("Date: the day before yesterday"))
    assert bad.date is None
    assert "unreadable Date header" in bad.defects


def test_headers_keep_order_and_decoded_values():
    message = parse(mail("X-One: 1\nSubject: =?utf-8?q?h=C3=A9?=\nX-One: 2"))
    assert message.headers == (("x-one", "1"), ("subject", "hé"), ("x-one", "2"))
    assert message.header("X-ONE") == "1"
    assert message.header("missing") is None


# --- bodies ------------------------------------------------------------------


def test_body_charsets_decode_and_wrong_labels_degrade_F_BODY_4():
    latin = mail("Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit",
                 "Gr\xfc\xdfe\n".encode("latin-1"))
    mislabelled = mail("Content-Type: text/plain; charset=us-ascii", "Grüße\n".encode("utf-8"))
    unknown = mail("Content-Type: text/plain; charset=x-klingon", "Grüße\n".encode("utf-8"))
    broken = mail("Content-Type: text/plain; charset=utf-8", b"caf\xe9 cr\xe8me br\xfbl\xe9e\n")
    assert parse(latin).text.strip() == "Grüße"
    assert parse(mislabelled).text.strip() == "Grüße"
    assert parse(unknown).text.strip() == "Grüße"
    assert parse(broken).text.strip() == "café crème brûlée"
    assert any("not valid utf-8" in d for d in parse(broken).defects)


def test_utf8_body_with_a_stray_cp1252_footer_keeps_both_F_BODY_4():
    body = "Grüße aus Köln\n".encode() + b"-- \nList footer: caf\xe9 \x93news\x94\n"
    message = parse(mail("Content-Type: text/plain; charset=utf-8", body))
    assert message.text == "Grüße aus Köln\n-- \nList footer: café \u201cnews\u201d\n"


def test_quoted_printable_and_base64_bodies():
    qp = mail("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable",
              "K=C3=B6ln is a =\nlong line\n")
    b64 = mail("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64 ",
               base64.encodebytes("Grüße\n".encode()).decode())
    assert parse(qp).text == "Köln is a long line\n"
    assert parse(b64).text == "Grüße\n"


def test_format_flowed_paragraphs_are_joined():
    body = "This is a long \nparagraph.\n> quoted \n> more\n-- \nsig\n"
    message = parse(mail("Content-Type: text/plain; charset=utf-8; format=flowed", body))
    assert message.text.splitlines() == ["This is a long paragraph.", "> quoted more", "-- ", "sig"]


HTML_MAIL = """\
Content-Type: multipart/alternative; boundary=XX

--XX
Content-Type: text/plain; charset=utf-8

Plain version
--XX
Content-Type: text/html; charset=utf-8

<html><head><style>p {color: red}</style><script>alert('head')</script></head>
<body onload="steal()"><p onclick="evil()" style="color: blue; position: fixed">Hello <b>there</b></p>
<a href="javascript:alert(1)">click</a> <a href="https://example.com/x">site</a>
<img src="cid:logo@x" onerror="bad()"><iframe src="https://evil.example"></iframe>
<script>alert(document.cookie)</script></body></html>
--XX--
"""


def test_html_is_sanitised_F_BODY_2():
    message = parse(mail("From: a@example.com\nMIME-Version: 1.0", "").replace(b"\r\n\r\n", b"\r\n", 1)
                    + HTML_MAIL.replace("\n", "\r\n").encode())
    html = message.html
    assert "Hello <b>there</b>" in html
    for forbidden in ("<script", "alert(", "onclick", "onload", "onerror", "javascript:", "<iframe",
                      "position"):
        assert forbidden not in html
    assert 'href="https://example.com/x"' in html
    assert 'src="cid:logo@x"' in html  # inline images keep their reference (F-ATT-3)
    assert message.text.strip() == "Plain version"  # plain stays plain


def test_html_only_mail_gets_a_readable_text_rendering_F_BODY_2():
    message = parse(mail(
        "Content-Type: text/html; charset=utf-8",
        "<html><body><h1>Printer</h1><p>It is <b>broken</b> &amp; smoking.</p>"
        "<script>alert(1)</script><ul><li>one</li><li>two</li></ul></body></html>",
    ))
    assert "It is broken & smoking." in message.text
    assert "alert" not in message.text and "<" not in message.text
    assert "one" in message.text and "two" in message.text
    assert "<script" not in message.html


def test_html_charset_from_meta_tag_F_BODY_4():
    html = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251"></head>'
    raw = mail("Content-Type: text/html", html.encode() + "<p>Привет</p>".encode("cp1251"))
    assert parse(raw).text.strip() == "Привет"


def test_huge_html_only_mail_is_rendered_quickly_F_BODY_2():
    import time

    html = "<html><body>" + "<p>Line <b>bold</b> &amp; more</p><script>x()</script>" * 40000 + "</body></html>"
    started = time.perf_counter()
    message = parse(mail("Content-Type: text/html; charset=utf-8", html))
    assert time.perf_counter() - started < 10  # html2text alone would need ~2 s per MB
    assert message.text.startswith("Line bold & more\n")
    assert "x()" not in message.text and "<" not in message.text


def test_multiple_inline_text_parts_are_joined_in_order():
    raw = mail("Content-Type: multipart/mixed; boundary=B", (
        "--B\nContent-Type: text/plain\n\nfirst\n"
        "--B\nContent-Type: image/png\nContent-Disposition: inline; filename=a.png\n"
        "Content-Transfer-Encoding: base64\n\niVBORw0KGgo=\n"
        "--B\nContent-Type: text/plain\n\nsecond\n--B--\n"))
    message = parse(raw)
    assert message.text.split() == ["first", "second"]
    assert [a.filename for a in message.attachments] == ["a.png"]


# --- attachments -------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.4\n" + b"x" * 5000


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode()


def test_attachments_have_name_type_size_sha256_F_ATT_3():
    raw = mail("Content-Type: multipart/mixed; boundary=B", (
        "--B\nContent-Type: text/plain\n\nsee attached\n"
        "--B\nContent-Type: application/pdf; name=\"ignored.pdf\"\n"
        "Content-Disposition: attachment; filename*=utf-8''Rechnung%20M%C3%A4rz.pdf\n"
        f"Content-Transfer-Encoding: base64\n\n{_b64(PDF)}"
        "--B\nContent-Type: application/octet-stream; name=\"=?utf-8?q?=C3=BCbersicht.xlsx?=\"\n"
        f"Content-Transfer-Encoding: base64\n\n{_b64(b'xlsx')}"
        "--B\nContent-Type: application/x-evil\nContent-Disposition: attachment; filename=\"../../etc/passwd\"\n\nroot\n"
        "--B--\n"))
    pdf, xlsx, evil = parse(raw).attachments
    assert (pdf.filename, pdf.content_type, pdf.size) == ("Rechnung März.pdf", "application/pdf", len(PDF))
    assert pdf.sha256 == hashlib.sha256(PDF).hexdigest()
    assert pdf.data == PDF and pdf.inline is False and pdf.content_id is None
    assert xlsx.filename == "übersicht.xlsx"
    assert evil.filename == "passwd"  # never a path


def test_rfc2231_continuations_in_filenames():
    raw = mail("Content-Type: multipart/mixed; boundary=B", (
        "--B\nContent-Type: text/plain\n\nx\n"
        "--B\nContent-Type: text/plain\nContent-Disposition: attachment;\n"
        " filename*0*=utf-8''%E6%97%A5%E6%9C%AC;\n filename*1*=%E8%AA%9E.txt\n\nhello\n--B--\n"))
    assert [a.filename for a in parse(raw).attachments] == ["日本語.txt"]


def test_inline_image_with_content_id_in_related_F_ATT_3():
    raw = mail("Content-Type: multipart/related; boundary=R", (
        "--R\nContent-Type: text/html; charset=utf-8\n\n<p>logo: <img src=\"cid:logo123@example\"></p>\n"
        "--R\nContent-Type: image/png\nContent-ID: <logo123@example>\n"
        f"Content-Transfer-Encoding: base64\n\n{_b64(PNG)}"
        "--R--\n"))
    message = parse(raw)
    (image,) = message.attachments
    assert image.inline is True
    assert image.content_id == "logo123@example"
    assert image.filename.endswith(".png")
    assert image.sha256 == hashlib.sha256(PNG).hexdigest()
    assert "cid:logo123@example" in message.html


FORWARDED = """\
From: fwd@example.com
Subject: Fwd: broken printer
Content-Type: multipart/mixed; boundary=OUT

--OUT
Content-Type: text/plain

See the mail below.
--OUT
Content-Type: message/rfc822

From: Original Sender <orig@example.com>
Subject: broken printer
Date: Mon, 01 Jan 2024 09:00:00 +0000
Content-Type: multipart/mixed; boundary=IN

--IN
Content-Type: text/plain

The printer is on fire.
--IN
Content-Type: image/jpeg; name=fire.jpg
Content-Transfer-Encoding: base64

{jpg}
--IN--

--OUT--
"""


def test_forwarded_message_rfc822_is_one_eml_attachment_named_by_its_subject_F_ATT_3():
    raw = FORWARDED.format(jpg=_b64(b"\xff\xd8\xff jpeg").strip()).replace("\n", "\r\n").encode()
    message = parse(raw)
    (eml,) = message.attachments
    assert (eml.filename, eml.content_type) == ("broken printer.eml", "message/rfc822")
    inner = parse(eml.data)  # the attached mail opens whole, its picture inside
    assert inner.subject == "broken printer"
    assert [a.data for a in inner.attachments] == [b"\xff\xd8\xff jpeg"]
    # the sender's words first, then what was forwarded under a banner
    assert message.text.startswith("See the mail below.")
    assert "The printer is on fire." in message.text
    assert "From: Original Sender <orig@example.com>" in message.text
    assert message.subject == "Fwd: broken printer"


def test_base64_encoded_message_rfc822_is_decoded():
    inner = b"Subject: inner\r\nContent-Type: text/plain\r\n\r\ninner text\r\n"
    raw = mail("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64", _b64(inner))
    message = parse(raw)
    assert "inner text" in message.text
    assert "base64 encoded message/rfc822 part" in message.defects


def test_tnef_winmail_dat_is_unpacked_F_ATT_3(corpus):
    pytest.importorskip("engine.parse.tnef")
    payload = (corpus / "tnefparse" / "examples" / "two-files.tnef").read_bytes()
    raw = mail("Content-Type: multipart/mixed; boundary=B", (
        "--B\nContent-Type: text/plain\n\nfiles\n"
        "--B\nContent-Type: application/ms-tnef; name=winmail.dat\n"
        f"Content-Transfer-Encoding: base64\n\n{_b64(payload)}--B--\n"))
    names = [a.filename for a in parse(raw).attachments]
    assert "winmail.dat" not in names
    assert names == ["AUTHORS", "README"]


def test_tnef_body_is_used_when_the_mail_has_none_F_ATT_3(corpus):
    pytest.importorskip("engine.parse.tnef")
    payload = (corpus / "tnefparse" / "examples" / "body.tnef").read_bytes()
    raw = mail("Content-Type: application/ms-tnef\nContent-Transfer-Encoding: base64", _b64(payload))
    message = parse(raw)
    assert message.attachments == ()
    assert message.html and "<script" not in message.html.lower()
    assert message.text.strip()


def test_big_attachment_is_exact_and_memory_is_bounded_F_PRE_7():
    import tracemalloc
    from email.message import EmailMessage

    data = random.Random(7).randbytes(6_000_000)
    msg = EmailMessage()
    msg["Subject"] = "big"
    msg.set_content("see attachment")
    msg.add_attachment(data, maintype="application", subtype="zip", filename="big.zip")
    msg.add_attachment(b"small", maintype="application", subtype="octet-stream", filename="s.bin")
    raw = msg.as_bytes()
    tracemalloc.start()
    try:
        message = parse(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(a.filename, a.size) for a in message.attachments] == [("big.zip", len(data)), ("s.bin", 5)]
    assert message.attachments[0].sha256 == hashlib.sha256(data).hexdigest()
    assert message.text.strip() == "see attachment"
    assert peak < 3 * len(raw)  # the stdlib line parser alone needs ~8x


def test_big_base64_block_sharing_a_part_with_other_lines_is_restored():
    block = base64.encodebytes(random.Random(8).randbytes(1_200_000)).decode()
    raw = mail("Content-Type: multipart/mixed; boundary=B", (
        "--B\nContent-Type: text/plain\n\nintro\n"
        "--B\nContent-Type: text/plain; name=dump.txt\nContent-Disposition: attachment\n\n"
        f"header line: not base64\n{block}trailer line: also not base64\n--B--\n"))
    (dump,) = parse(raw).attachments
    text = dump.data.decode().replace("\r\n", "\n")
    # the line end before a boundary belongs to the boundary (RFC 2046)
    assert text == f"header line: not base64\n{block}trailer line: also not base64"


# --- auto-generated and bounces ---------------------------------------------------


def test_dsn_is_auto_generated_and_bounce_found_F_PRE_2_F_REF_9():
    raw = mail(
        "From: MAILER-DAEMON@mx.example.com\nTo: help@example.org\nReturn-Path: <>\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=D",
        "--D\nContent-Type: text/plain\n\nI could not deliver your mail.\n"
        "--D\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        "Final-Recipient: rfc822; gone@example.net\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\n\n"
        "--D\nContent-Type: message/rfc822\n\nMessage-ID: <ticket-42@helpdesk.example.org>\n"
        "Subject: [Ticket#42] hello\n\nhello\n--D--\n",
    )
    message = parse(raw)
    assert message.auto_generated.value is True
    assert message.auto_generated.reasons
    assert message.bounce is not None
    assert [r.address for r in message.bounce.recipients] == ["gone@example.net"]
    assert message.bounce.recipients[0].permanent is True
    assert message.bounce.original_message_id == "ticket-42@helpdesk.example.org"
    assert message.text.startswith("I could not deliver your mail.")
    # unnamed report parts get the names people expect
    assert [a.filename for a in message.attachments] == ["delivery-status.txt", "[Ticket#42] hello.eml"]
    # the returned mail is an attachment, not part of the bounce text
    assert "message/rfc822" in [a.content_type for a in message.attachments]


def test_ordinary_mail_is_not_auto_generated_F_PRE_2():
    message = parse(mail("From: a@example.com\nTo: help@example.org\nSubject: help"))
    assert message.auto_generated.value is False
    assert message.bounce is None


# --- never raises, unreadable, digest ----------------------------------------------


def test_garbage_bytes_never_raise_F_FAIL_1():
    rng = random.Random(20240101)
    samples = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000))) for _ in range(150)]
    samples += [b"\x00" * 1000, b"\xff\xfe" * 500, b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
                b"Subject: " + b"=?utf-8?b?" * 5000, b"From: <<<@@@>>>\r\n\r\n", b":\r\n:\r\n\r\n",
                b"Content-Type: text/plain; charset*=''\r\nContent-Disposition: attachment; filename*0*=x\r\n\r\n"]
    for raw in samples:
        assert isinstance(parse(raw), Message)


def test_hostile_nesting_is_cut_not_crashed_F_FAIL_1():
    depth = 400
    head = "".join(f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n" for i in range(depth))
    tail = "".join(f"\r\n--b{i}--\r\n" for i in reversed(range(depth)))
    message = parse((head + "Content-Type: text/plain\r\n\r\ndeep" + tail).encode())
    assert message.unreadable is None
    assert any("too deep" in d for d in message.defects)


def test_thousands_of_nesting_levels_keep_header_and_text_F_FAIL_1():
    depth = 5000
    head = "".join(f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n" for i in range(depth))
    tail = "".join(f"\r\n--b{i}--\r\n" for i in reversed(range(depth)))
    message = parse(("Subject: nested\r\n" + head + "Content-Type: text/plain\r\n\r\ndeep" + tail).encode())
    assert message.unreadable is None
    assert message.subject == "nested"
    assert "deep" in message.text
    assert "MIME structure nested too deep: body read as text" in message.defects


def test_empty_and_binary_input_is_unreadable_F_FAIL_1():
    assert parse(b"").unreadable == "empty message"
    assert parse(b"\r\n \r\n").unreadable == "empty message"
    binary = parse(bytes(range(32)) * 200)
    assert binary.unreadable is not None
    assert binary.size == 6400


def test_mail_without_headers_keeps_its_text():
    message = parse(b"just some text\nwithout headers\n")
    assert message.unreadable is None
    assert "just some text" in message.text


def test_size_and_body_digest_F_PRE_6():
    one = mail("Subject: a\nDate: Mon, 01 Jan 2024 00:00:00 +0000", "same body\n")
    other_headers = mail("Subject: b\nX-Extra: 1", "same body\n")
    other_body = mail("Subject: a", "other body\n")
    assert parse(one).size == len(one)
    assert parse(one).body_digest == parse(other_headers).body_digest
    assert parse(one).body_digest != parse(other_body).body_digest


def test_message_is_frozen():
    message = parse(mail("Subject: x"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.subject = "changed"  # type: ignore[misc]
