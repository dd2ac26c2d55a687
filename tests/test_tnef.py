"""F-ATT-3: TNEF (winmail.dat) payloads are unpacked into real attachments and a body."""

from __future__ import annotations

import email
import json
import random
import struct
import time
from email import policy
from email.message import EmailMessage

import pytest

from engine.parse import parse
from engine.parse.tnef import DEFAULT_NAME, TnefContent, unpack

pytestmark = pytest.mark.corpus

_BODY_FIELD = {"htmlbody": "html", "rtfbody": "rtf", "body": "text"}


def _expected(corpus) -> dict:
    expected = json.loads((corpus / "tnefparse" / "expected.json").read_text())
    return {name: case for name, case in expected.items() if "attachment_long_filenames" in case}


def _wrapped(payload: bytes) -> bytes:
    """A whole mail carrying the payload as application/ms-tnef; name=winmail.dat."""
    mail = EmailMessage()
    mail["From"] = "Outlook User <user@example.com>"
    mail["To"] = "help@example.com"
    mail["Subject"] = "Printer"
    mail["Message-ID"] = "<tnef-test@example.com>"
    mail.set_content("See the attachments.")
    mail.add_attachment(
        payload, maintype="application", subtype="ms-tnef",
        filename="winmail.dat", params={"name": "winmail.dat"},
    )
    return mail.as_bytes()


def _payload_of(raw: bytes) -> bytes:
    """The winmail.dat part read back with the stdlib, as parse() would see it."""
    mail = email.message_from_bytes(raw, policy=policy.default)
    parts = [p for p in mail.iter_attachments() if p.get_content_type() == "application/ms-tnef"]
    assert len(parts) == 1
    return parts[0].get_content()


def test_tnefparse_corpus_all_19_in_order_F_ATT_3(corpus):
    """The score in docs/reply-and-tnef.md: tnefparse 19/19 (each wrapped in a MIME mail)."""
    expected = _expected(corpus)
    assert len(expected) == 19
    misses = {}
    for name, case in sorted(expected.items()):
        payload = (corpus / "tnefparse" / "examples" / name).read_bytes()
        extracted = _payload_of(_wrapped(payload))
        assert extracted == payload
        content = unpack(extracted)
        names = [a.filename for a in content.attachments]
        want = case["attachment_long_filenames"] or []
        # tnefparse names an attachment without any name ''; ours is DEFAULT_NAME.
        if names != want:
            misses[name] = (names, want)
        field = _BODY_FIELD.get(case["body_attr"])
        if field:
            assert getattr(content, field), (name, field)
    assert misses == {}


def test_whole_path_through_parse_F_ATT_3(corpus):
    """parse() replaces winmail.dat by what it carries, in the same order."""
    for name, case in sorted(_expected(corpus).items()):
        payload = (corpus / "tnefparse" / "examples" / name).read_bytes()
        message = parse(_wrapped(payload))
        assert [a.filename for a in message.attachments] == case["attachment_long_filenames"], name


def test_attachments_carry_type_size_digest_and_data_F_ATT_3(corpus):
    content = unpack((corpus / "tnefparse" / "examples" / "two-files.tnef").read_bytes())
    first = content.attachments[0]
    assert first.size == len(first.data) == 244
    import hashlib

    assert first.sha256 == hashlib.sha256(first.data).hexdigest()
    assert first.content_type == "application/octet-stream"  # no extension, no MIME tag
    assert (first.inline, first.content_id) == (False, None)
    assert content.defects == ()


def test_long_file_name_wins_over_the_8_3_title_F_ATT_3(corpus):
    content = unpack((corpus / "tnefparse" / "examples" / "long-filename.tnef").read_bytes())
    assert [a.filename for a in content.attachments] == ["allproductsmar2000.dat"]  # not ALLPRO~1.DAT


def test_non_ascii_names_and_inline_images_F_ATT_3(corpus):
    content = unpack((corpus / "tnefparse" / "examples" / "umlaut.tnef").read_bytes())
    by_name = {a.filename: a for a in content.attachments}
    assert "UmlautAnhang-äüö.txt" in by_name
    image = by_name["image003.jpg"]
    assert image.content_type == "image/jpeg"
    assert image.inline and image.content_id == "image003.jpg@01D2EE6A.85652C70"
    assert f"cid:{image.content_id}" in content.html  # the HTML Outlook wrapped in RTF
    assert not by_name["TBZ PARIV GmbH.jpg"].inline


def test_rtf_only_body_gets_a_plain_text_rendering_F_ATT_3(corpus):
    content = unpack((corpus / "tnefparse" / "examples" / "long-filename.tnef").read_bytes())
    assert content.rtf.startswith(b"{\\rtf1")
    assert content.text.startswith("I've attached a temp. license for QARun 4.7.")
    assert "-----Original Message-----\nFrom: Mark Simpson" in content.text
    plain = unpack((corpus / "tnefparse" / "examples" / "triples.tnef").read_bytes())
    assert plain.text == "Sample description\n"  # the plain body wins over the RTF one


def test_embedded_message_is_kept_as_a_tnef_attachment_F_ATT_3(corpus):
    content = unpack((corpus / "tnefparse" / "examples" / "IPM-DistList.tnef").read_bytes())
    [embedded] = content.attachments
    assert embedded.filename == "Untitled Attachment"
    assert embedded.content_type == "application/ms-tnef"
    inner = unpack(embedded.data)  # itself a TNEF stream we can read
    assert not any(d.startswith("tnef-unreadable") for d in inner.defects)


def test_nameless_attachment_gets_a_default_name_F_ATT_3(corpus):
    content = unpack((corpus / "tnefparse" / "examples" / "minimal_attachment.tnef").read_bytes())
    assert [(a.filename, a.data) for a in content.attachments] == [(DEFAULT_NAME, b"this is a test\n\x00")]


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x78\x9f", b"not tnef at all", b"\x78\x9f\x3e\x22" + b"\xff" * 64, bytes(range(256))],
)
def test_garbage_gives_a_defect_never_an_exception_F_ATT_3(payload):
    content = unpack(payload)
    assert isinstance(content, TnefContent)
    assert content.attachments == () and content.defects


def test_truncated_and_corrupted_payloads_never_raise_F_ATT_3(corpus):
    payload = (corpus / "tnefparse" / "examples" / "unicode-mapi-attr-name.tnef").read_bytes()
    for end in range(0, len(payload), max(1, len(payload) // 60)):
        assert isinstance(unpack(payload[:end]), TnefContent)
    rng = random.Random(3)  # deterministic
    for _ in range(60):
        broken = bytearray(payload)
        for _ in range(rng.randint(1, 12)):
            broken[rng.randrange(6, len(broken))] = rng.randrange(256)
        assert isinstance(unpack(bytes(broken)), TnefContent)


def test_hostile_counts_stay_fast_F_ATT_3():
    """A MAPI property count of 2**32-1 and a flood of tiny objects cost milliseconds."""
    header = struct.pack("<IH", 0x223E9F78, 1)

    def obj(level: int, name: int, kind: int, data: bytes) -> bytes:
        return struct.pack("<BHHI", level, name, kind, len(data)) + data + b"\0\0"

    counted = header + obj(1, 0x9003, 6, struct.pack("<I", 0xFFFFFFFF) + b"\0" * 16)
    flood = header + obj(1, 0x8008, 7, b"x\0") * 200_000
    start = time.perf_counter()
    assert isinstance(unpack(counted), TnefContent)
    assert unpack(flood).defects == ("tnef-unreadable: too many objects",)
    assert time.perf_counter() - start < 2.0


def test_rtf_rendering_of_the_usual_constructs_F_ATT_3():
    from engine.parse.rtf import rtf_to_text

    rtf = (
        rb"{\rtf1\ansi\ansicpg1251\deff0{\fonttbl{\f0 Arial;}}{\*\generator X;}"
        rb"{\colortbl;\red0\green0\blue0;}\pard \'cf\'f0\'e8\'ec\'e5\'f0\par "
        rb"\uc1\u8364?5 \{x\}\tab y\line z{\pict\bin4 \par}\par"
        rb"{\field{\*\fldinst HYPERLINK x}{\fldrslt link}}\u99999999?}"
    )
    assert rtf_to_text(rtf) == "\u041f\u0440\u0438\u043c\u0435\u0440\n\u20ac5 {x}\ty\nz\nlink\ufffd"
    assert rtf_to_text(b"{\\rtf1 unclosed {group \\") == "unclosed group"
    assert rtf_to_text(b"") == ""
