"""Real-world edge cases from the Ruby mail gem's fixtures (MIT): what a reader of each mail sees.

The expectations restate what the mail gem's own specs assert of these files
(addresses, subject, attachment names), read by hand from the mails.
SPEC IDs proved here: F-BODY-4, F-ATT-3, F-USR-1.
"""

from __future__ import annotations

import pytest

from engine.parse import parse

pytestmark = pytest.mark.corpus

EXPECTED = {
    # an empty entry at the start of To
    "weird_to_header.eml": ("", "anonymous@i.tp.host", ["user-example@aol.com", "e-s-a-s-2200@app.ar.com"], []),
    "cant_parse_from.eml": ("Meet the new MacBook Pro family. Now includes 13-inch.",
                            "News@InsideApple.Apple.com", ["karl.baum@gmail.com"], []),
    # an attachment without a name gets one
    "attachment_without_a_filename.eml": ("testing", "foo@example.com", ["blah@example.com"], ["file"]),
    # a raw 8-bit (UTF-8) file name
    "attachment_nonascii_filename.eml": ("testing", "foo@example.com", ["blah@example.com"], ["ciële.txt"]),
    # a blank folded line inside To
    "new_line_in_to_header.eml": ("[Online Lead] Online Lead #1111111", "l@gcn-example.com",
                                  ["leads@sg.dc.com", "sag@leads.gs.ry.com", "sn@example-hotmail.com",
                                   "e-s-a-g-8718@app.ar.com", "jp@t-exmaple.com", "cc@c-l-example.com"], []),
    # an mbox "From " line first, EUC-KR subject and base64 body
    "raw_email_double_at_in_header.eml": ("NOTE: 한국말로 하는 것", "jamis@37signals.com",
                                          ["willard15georgina@jamis.backpackit.com"], []),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_mail_gem_fixture_reads_as_its_reader_sees_it_F_BODY_4(corpus, name):
    subject, sender, to, attachments = EXPECTED[name]
    message = parse((corpus / "mail-gem" / name).read_bytes())
    assert message.subject == subject
    assert message.from_.address == sender
    assert [a.address for a in message.to] == to
    assert [a.filename for a in message.attachments] == attachments
    assert message.text.strip()
