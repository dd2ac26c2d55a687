"""Bounce reading: failed recipients, permanence, status and the original Message-ID (F-REF-9)."""

from __future__ import annotations

import email
import email.policy

import pytest

from engine.parse.bounce import detect
from engine.message import Bounce, FailedRecipient

POLICIES = [email.policy.compat32, email.policy.default]

DSN = """From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: help@example.com
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce-1@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

I could not deliver your mail.
--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; bob@example.net
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: Recipient address
    rejected: User unknown

Final-Recipient: rfc822; carol@example.net
Action: delayed
Status: 4.2.2
Diagnostic-Code: smtp; 452 4.2.2 Mailbox full

Final-Recipient: rfc822; dave@example.net
Action: delivered
Status: 2.0.0
--B
Content-Type: text/rfc822-headers

From: help@example.com
To: bob@example.net
Subject: [#42] Your ticket
Message-ID: <ticket-42.7@helpdesk.example.com>
--B--
"""


@pytest.mark.parametrize("policy", POLICIES)
def test_dsn_recipients_status_and_original_id_F_REF_9(policy):
    bounce = detect(email.message_from_string(DSN, policy=policy))
    assert bounce == Bounce(
        recipients=(
            FailedRecipient("bob@example.net", True, "5.1.1",
                            "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown"),
            FailedRecipient("carol@example.net", False, "4.2.2", "452 4.2.2 Mailbox full"),
        ),
        original_message_id="<ticket-42.7@helpdesk.example.com>",
    )


def test_original_recipient_is_preferred_to_the_alias_target_F_REF_9():
    text = DSN.replace("Final-Recipient: rfc822; bob@example.net",
                       "Original-Recipient: rfc822;bob@example.net\nFinal-Recipient: rfc822; b.smith@mx.example.net")
    assert detect(email.message_from_string(text)).recipients[0].address == "bob@example.net"


def test_failed_over_a_4xx_condition_is_final_F_REF_9():
    text = DSN.replace("Status: 5.1.1", "Status: 4.4.7")
    first = detect(email.message_from_string(text)).recipients[0]
    assert (first.permanent, first.status) == (True, "4.4.7")


def test_original_id_from_a_returned_message_part_F_REF_9():
    text = DSN.replace("Content-Type: text/rfc822-headers", "Content-Type: message/rfc822")
    assert detect(email.message_from_string(text)).original_message_id == "<ticket-42.7@helpdesk.example.com>"


def test_success_only_dsn_is_not_a_bounce_F_REF_9():
    text = DSN.replace("Action: failed", "Action: delivered").replace("Action: delayed", "Action: relayed")
    assert detect(email.message_from_string(text)) is None


EXIM = """From: Mail Delivery System <Mailer-Daemon@mail.example.org>
To: help@example.com
Subject: Mail delivery failed: returning message to sender
X-Failed-Recipients: erin@example.org
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  erin@example.org
    SMTP error from remote mail server after RCPT TO:<erin@example.org>:
    550 5.1.1 No such user here

------ This is a copy of the message, including all the headers. ------

Return-path: <help@example.com>
Message-ID: <ticket-7.1@helpdesk.example.com>
From: help@example.com
To: erin@example.org
Subject: [#7] Hello
"""


@pytest.mark.parametrize("policy", POLICIES)
def test_prose_bounce_and_quoted_message_id_F_REF_9(policy):
    bounce = detect(email.message_from_string(EXIM, policy=policy))
    assert [r.address for r in bounce.recipients] == ["erin@example.org"]
    assert bounce.recipients[0].permanent is True
    assert bounce.original_message_id == "<ticket-7.1@helpdesk.example.com>"


QMAIL = """From: MAILER-DAEMON@mx.example.org
To: help@example.com
Subject: failure notice

Hi. This is the qmail-send program at mx.example.org.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<frank@example.org>:
192.0.2.1 does not like recipient.
Remote host said: 550 5.1.1 <frank@example.org>... User unknown
Giving up on 192.0.2.1.

--- Below this line is a copy of the message.

Return-Path: <help@example.com>
From: help@example.com
To: frank@example.org
"""


def test_qmail_bounce_F_REF_9():
    bounce = detect(email.message_from_string(QMAIL))
    assert [(r.address, r.permanent) for r in bounce.recipients] == [("frank@example.org", True)]


VACATION = """From: Jane <jane@example.org>
To: help@example.com
Subject: Out of office: [#42] Your ticket
Return-Path: <>
Auto-Submitted: auto-replied

I am away until Monday. For urgent matters write to bob@example.org.
"""


def test_vacation_reply_is_not_a_bounce_F_REF_9():
    assert detect(email.message_from_string(VACATION)) is None


ARF = """From: feedback@mail.example.net
To: abuse@example.com
Subject: Abuse report
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary=B

--B
Content-Type: text/plain

This is an email abuse report for bob@example.net
--B
Content-Type: message/feedback-report

Feedback-Type: abuse
Original-Rcpt-To: bob@example.net
--B--
"""


def test_complaint_is_not_a_bounce_F_REF_9():
    assert detect(email.message_from_string(ARF)) is None


def test_person_writing_about_a_delivery_failure_is_not_a_bounce_F_REF_9():
    text = ("From: jane@example.org\nTo: help@example.com\nSubject: Delivery failure of my order\n\n"
            "My parcel for bob@example.org failed: 550 returned.\n")
    assert detect(email.message_from_string(text)) is None


@pytest.mark.parametrize("policy", POLICIES)
def test_garbage_never_raises_F_REF_9(policy):
    raw = (b"From: MAILER-DAEMON <>\nContent-Type: multipart/report; report-type=delivery-status;"
           b" boundary=\"\"\nSubject: =?x?q?\xff?=\n\n--\nContent-Type: message/delivery-status\n\n"
           b"Final-Recipient: \xff\xfe\nAction: failed\n")
    result = detect(email.message_from_bytes(raw, policy=policy))
    assert result is None or isinstance(result, Bounce)


def test_failure_report_naming_nobody_is_still_a_bounce_F_REF_9():
    text = DSN.split("Final-Recipient: rfc822; bob@example.net")[0] + "--B\nContent-Type: text/rfc822-headers\n\n" \
        "Message-ID: <ticket-42.7@helpdesk.example.com>\n--B--\n"
    bounce = detect(email.message_from_string(text))
    assert bounce == Bounce(recipients=(), original_message_id="<ticket-42.7@helpdesk.example.com>")


def test_boundary_that_never_shows_up_is_read_as_text_F_REF_9():
    text = DSN.replace('boundary="B"', 'boundary="NOT-B"')
    bounce = detect(email.message_from_string(text))
    assert [r.address for r in bounce.recipients] == ["bob@example.net", "carol@example.net"]


@pytest.mark.parametrize("body", ["a" * 300_000, "<" * 300_000, " \n" * 150_000, "x@" + "a." * 150_000,
                                  "Final-Recipient: rfc822; " + "a" * 200_000 + "\nAction: failed\n"])
def test_hostile_bodies_are_read_in_bounded_time_F_REF_9(body):
    import time

    text = ("From: MAILER-DAEMON@x.example\nTo: help@example.com\nSubject: Undeliverable: x\n"
            "X-Failed-Recipients: " + " " * 100_000 + "\n\n" + body)
    started = time.perf_counter()
    detect(email.message_from_string(text))
    assert time.perf_counter() - started < 5  # about 0.7 s on the slowest of these


def test_a_big_returned_attachment_is_not_read_and_not_changed_F_REF_9():
    import time

    attachment = ("QUJD" * 19 + "\n") * 250_000  # 19 MB of base64
    text = EXIM.replace("Subject: [#7] Hello\n", "Subject: [#7] Hello\nMIME-Version: 1.0\n"
                        "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n" + attachment)
    msg = email.message_from_string(text)
    before = msg.get_payload()
    started = time.perf_counter()
    bounce = detect(msg)
    assert time.perf_counter() - started < 2
    assert [r.address for r in bounce.recipients] == ["erin@example.org"]
    assert msg.get_payload() == before


def test_a_bounce_forwarded_as_an_attachment_is_not_a_bounce_F_REF_9():
    text = ("From: jane@example.org\nTo: help@example.com\nSubject: Fwd: why did this bounce?\nMIME-Version: 1.0\n"
            "Content-Type: multipart/mixed; boundary=OUTER\n\n--OUTER\nContent-Type: text/plain\n\nCan you help?\n"
            "--OUTER\nContent-Type: message/rfc822\n\n" + DSN + "\n--OUTER--\n")
    assert detect(email.message_from_string(text)) is None


def test_a_dsn_wrapped_by_a_mail_filter_is_read_inside_F_REF_9():
    text = ("From: Mail Delivery Subsystem <MAILER-DAEMON@filter.example.net>\nTo: help@example.com\n"
            "Subject: Returned mail: User unknown\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=OUTER\n\n"
            "--OUTER\nContent-Type: text/plain\n\nThe following addresses had permanent delivery errors\n"
            "--OUTER\nContent-Type: message/rfc822\n\n" + DSN + "\n--OUTER--\n")
    bounce = detect(email.message_from_string(text))
    assert [r.address for r in bounce.recipients] == ["bob@example.net", "carol@example.net"]
    assert bounce.original_message_id == "<ticket-42.7@helpdesk.example.com>"


SES = """From: AWS Notifications <no-reply@sns.amazonaws.com>
To: help@example.com
Subject: AWS Notification Message
x-amz-sns-message-id: ad6bdf42-f483-5bae-bf50-8fc1aad3f981
Content-Type: text/plain; charset=UTF-8

{"notificationType":"Bounce","bounce":{"bounceType":"%s","bouncedRecipients":[{"emailAddress":"gina@example.org",\
"action":"failed","status":"5.1.1","diagnosticCode":"smtp; 550 5.1.1 user unknown"}]},"mail":{"messageId":"0101-ses",\
"headers":[{"name":"Message-ID","value":"<ticket-9.3@helpdesk.example.com>"}],"commonHeaders":{"subject":"[#9]"!
 }}}

--
If you wish to stop receiving notifications from this topic, please click below to unsubscribe.
"""


@pytest.mark.parametrize("kind, permanent", [("Permanent", True), ("Transient", False)])
def test_amazon_ses_json_notification_F_REF_9(kind, permanent):
    bounce = detect(email.message_from_string(SES % kind))
    assert bounce == Bounce(
        recipients=(FailedRecipient("gina@example.org", permanent, "5.1.1", "550 5.1.1 user unknown"),),
        original_message_id="<ticket-9.3@helpdesk.example.com>",
    )


def test_amazon_ses_complaint_is_not_a_bounce_F_REF_9():
    text = SES.replace('"notificationType":"Bounce"', '"notificationType":"Complaint"') % "Permanent"
    assert detect(email.message_from_string(text)) is None


def test_a_part_type_missing_its_semicolon_is_still_read_F_REF_9():
    text = ("From: MAILER-DAEMON@mx.example.org\nTo: help@example.com\nSubject: Returned mail: User unknown\n"
            "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n--B\n"
            "Content-Type: text/plain\n   charset=\"iso-2022-jp\"\n\n"
            "---The following addresses had delivery errors---\nhank@example.org [User unknown]\n--B--\n")
    bounce = detect(email.message_from_string(text))
    assert [r.address for r in bounce.recipients] == ["hank@example.org"]


def test_a_prose_warning_that_delivery_goes_on_is_temporary_F_REF_9():
    text = ("From: MAILER-DAEMON@mx.example.org\nTo: help@example.com\nSubject: Mail delivery warning\n\n"
            "This is an advisory-only message. Delivery to the following recipient has been delayed:\n\n"
            "    ivan@example.org\n    452 4.2.2 Mailbox full\n\nDelivery attempts will continue.\n")
    (recipient,) = detect(email.message_from_string(text)).recipients
    assert (recipient.address, recipient.permanent, recipient.status) == ("ivan@example.org", False, "4.2.2")
