"""Every knob works or is refused: the walker visits every property of both schemas (F-CFG-5, F-CFG-2).

Each property is either
- proved: a probe changes it alone and something the code does comes out different
  (a decision, the source a fetch uses, the SMTP settings, what a poll, the
  directory sync or the monitor writes into a store), or a named test proves it where
  only a real server can;
- marked `x-validation-only` in the schema, with the reason; or
- marked `x-not-yet-built` in the schema, and then validation refuses it when written.
A property added to a schema without one of these fails here.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.knobtools import (DROP, Case, Directory, Fetch, Housekeeping, Monitor, Poll, ProvedBy, Send, StoreUrl, add, edit,
                             leaves)

M = "mailbox."
SETTINGS = "00-settings.yaml"
TOKENS = "50-tokens.yaml"
CATALOG = "60-catalog.yaml"
DIRECTORY = "70-directory.yaml"
NEW = "new1-mailbox-defaults-and-auto-reply"  # Alice (known, Acme Ltd) opens a ticket; auto-reply sent
TECH_REPLY = "tok1-technician-sets-fields-on-reply"  # Jane (technician) replies to 1001 with five tokens
LOOP = "pre5-loop-sixth-message-rejected"  # the sixth mail in five minutes: rejected, error user told
UNKNOWN = "usr2-name-from-local-part"  # an unknown acme.test sender opens a ticket
CLOSED = "ref4-closed-ticket-ignored-sender-told"
REOPEN = "ref4-closed-ticket-reopen-assigns-fallback-group"
EXE = "att2-blocked-exe-listed-in-note"
SCREENSHOT = "att3-inline-screenshot-becomes-attachment"


SECOND = "99-zprobe.yaml"  # a second added rules file, to overlay the first
MOVE = {"after_processing": {"action": "move", "folder": "Processed", "create_folder": True}}


def _blocked(**rule) -> tuple:
    return (add({"attachments": {"blocked": [rule]}}),)


def _filter(section: str, entry) -> tuple:
    return (add({"filters": {section: [entry]}}),)


def _token(name: str, change: dict) -> tuple:
    return tuple(edit(TOKENS, ("tokens", {"name": name}, key), value) for key, value in change.items())


def _catalog(section: str, name: str, key, value) -> tuple:
    path = (section, {"name": name}) + (key if isinstance(key, tuple) else (key,))
    return (edit(CATALOG, path, value),)


def _dir(section: str, selector: dict, key: str, value) -> tuple:
    return (edit(DIRECTORY, ("directory", section, selector, key), value),)


# OAuth bases the probes change one field of: Entra ID client credentials, a certificate, a Google installed app.
SMTP_OAUTH = {"oauth": {"tenant_id": "t", "client_id": "c", "client_secret": {"env": "PROBE_SECRET"}}}
SMTP_CERT = {"oauth": {"tenant_id": "t", "client_id": "c", "certificate": {"private_key": {"env": "PROBE_SECRET"},
                                                                          "thumbprint": "AB12"}}}
GOOGLE_APP = {"provider": "google", "client_id": "c", "client_secret": {"env": "PROBE_SECRET"},
              "refresh_token": {"env": "PROBE_SECRET"}}
# A Google service account key as the Cloud console downloads it (the key is never used: no token is asked for).
PROBE_KEY = json.dumps({"type": "service_account", "client_email": "probe@project.iam.gserviceaccount.com",
                        "private_key": "-----BEGIN PRIVATE KEY-----\nprobe\n-----END PRIVATE KEY-----\n",
                        "private_key_id": "k1", "token_uri": "https://oauth2.googleapis.com/token"})

PROOFS = {
    # ---- mailbox: identity and fetching ----
    M + "name": Poll({"name": "help-desk"}),
    M + "address": Case(NEW, {"address": "helpdesk@example.com"}),
    M + "active": Poll({"active": False}),
    M + "protocol": Fetch("imap", {"protocol": "pop3"}),
    M + "server.host": Fetch("imap", {"server": {"host": "imap2.example.org"}}),
    M + "server.port": Fetch("imap", {"server": {"port": 1993}}),
    M + "server.tls": Fetch("imap", {"server": {"tls": "starttls"}}),
    M + "server.verify_certificate": Fetch("imap", {"server": {"verify_certificate": False}}),
    M + "server.ca_file": Fetch("imap", {"server": {"ca_file": "/etc/ssl/internal-ca.pem"}}),
    M + "server.timeout_seconds": Fetch("imap", {"server": {"timeout_seconds": 5}}),
    M + "auth.method": Fetch("imap", {"auth": {"method": ["scram-sha-256"]}}),
    M + "auth.username": Fetch("imap", {"auth": {"username": "someone-else"}}),
    M + "auth.password": Fetch("imap", {"auth": {"password": {"env": "PROBE_OTHER_SECRET"}}}),
    M + "auth.forbid_plaintext_login": Fetch("imap", {"auth": {"forbid_plaintext_login": False}}),
    M + "auth.allow_ntlm": Fetch("ews", {"auth": {"allow_ntlm": True}}),
    M + "server.tls_min_version": Fetch("imap", {"server": {"tls_min_version": "1.3"}}),
    M + "server.tls_max_version": Fetch("imap", {"server": {"tls_max_version": "1.2"}}),
    M + "auth.oauth.provider": Fetch("imap", {"auth": {"oauth": {"provider": "google"}}},
                                     {"auth": {"oauth": {"client_id": "c", "client_secret": {"env": "PROBE_SECRET"},
                                                         "tenant_id": "t", "refresh_token": {"env": "PROBE_SECRET"}}}}),
    M + "auth.oauth.refresh_token": Fetch("imap", {"auth": {"oauth": {"refresh_token": {"env": "PROBE_OTHER_SECRET"}}}},
                                          {"auth": {"oauth": GOOGLE_APP}}),
    M + "auth.oauth.service_account_key": Fetch("imap", {"auth": {"oauth": {"service_account_key": {"env": "PROBE_KEY"}}}},
                                                {"auth": {"oauth": GOOGLE_APP}}),
    M + "auth.oauth.tenant_id": Fetch("graph", {"auth": {"oauth": {"tenant_id": "other-tenant"}}}),
    M + "auth.oauth.client_id": Fetch("graph", {"auth": {"oauth": {"client_id": "other-client"}}}),
    M + "auth.oauth.client_secret": Fetch("graph", {"auth": {"oauth": {"client_secret": {"env": "PROBE_OTHER_SECRET"}}}}),
    M + "auth.oauth.certificate.private_key": Fetch(
        "graph", {"auth": {"oauth": {"certificate": {"private_key": {"env": "PROBE_OTHER_SECRET"}}}}},
        {"auth": {"oauth": {"client_secret": DROP, "certificate": {"private_key": {"env": "PROBE_SECRET"},
                                                                   "thumbprint": "AB12"}}}}),
    M + "auth.oauth.certificate.thumbprint": Fetch(
        "graph", {"auth": {"oauth": {"certificate": {"thumbprint": "CD34"}}}},
        {"auth": {"oauth": {"client_secret": DROP, "certificate": {"private_key": {"env": "PROBE_SECRET"},
                                                                   "thumbprint": "AB12"}}}}),
    M + "auth.oauth.cloud": Fetch("graph", {"auth": {"oauth": {"cloud": "usgov"}}}),
    M + "auth.oauth.token_url": Fetch("imap", {"auth": {"oauth": {"token_url": "https://idp.example.org/token2"}}},
                                      {"auth": {"oauth": {"provider": "generic", "client_id": "c",
                                                          "client_secret": {"env": "PROBE_SECRET"},
                                                          "token_url": "https://idp.example.org/token"}}}),
    M + "auth.oauth.scopes": Fetch("graph", {"auth": {"oauth": {"scopes": ["https://graph.microsoft.com/Mail.Read"]}}}),
    M + "auth.oauth.authority_host": Fetch("graph", {"auth": {"oauth": {"authority_host": "https://login.example.org"}}}),
    M + "auth.oauth.ca_file": Fetch("graph", {"auth": {"oauth": {"ca_file": "/etc/ssl/proxy-ca.pem"}}}),
    M + "folder": Fetch("imap", {"folder": "Support"}),
    M + "fetch": Fetch("maildir", {"fetch": "all"}),
    M + "maildir.path": Fetch("maildir", {"maildir": {"path": "var/maildir/other"}}),
    M + "pop3.leave_on_server": Fetch("pop3", {"pop3": {"leave_on_server": True}}),
    M + "pop3.max_messages_per_session": Fetch("pop3", {"pop3": {"max_messages_per_session": 5}}),
    M + "imap.max_messages_per_session": Fetch("imap", {"imap": {"max_messages_per_session": 5}}),
    M + "ews.autodiscover": Fetch("ews", {"ews": {"autodiscover": True, "endpoint_url": DROP}}),
    M + "ews.endpoint_url": Fetch("ews", {"ews": {"endpoint_url": "https://mail2.example.org/EWS/Exchange.asmx"}}),
    M + "ews.server": Fetch("ews", {"ews": {"server": "mail2.example.org"}}),
    M + "ews.domain": Fetch("ews", {"ews": {"domain": "CONTOSO"}}),
    M + "ews.version": Fetch("ews", {"ews": {"version": "Exchange2016"}}),
    M + "ews.shared_mailbox": Fetch("ews", {"ews": {"shared_mailbox": "facilities@example.org"}}),
    M + "ews.access_type": Fetch("ews", {"ews": {"access_type": "impersonation"}}),
    M + "ews.autodiscover_url": Fetch("ews", {"ews": {"autodiscover_url": "https://autodiscover.example.org/x.svc"}}),
    M + "graph.user": Fetch("graph", {"graph": {"user": "other@example.org"}}),
    M + "graph.page_size": Fetch("graph", {"graph": {"page_size": 10}}),
    M + "graph.max_retries": Fetch("graph", {"graph": {"max_retries": 0}}),
    M + "graph.base_url": Fetch("graph", {"graph": {"base_url": "https://graph.example.org/v1.0"}}),
    # ---- mailbox: polling and what happens on the server ----
    M + "polling.interval_seconds": Poll({"polling": {"interval_seconds": 600}}),
    M + "polling.max_messages": Poll({"polling": {"max_messages": 2}}),
    M + "polling.batch_size": Poll({"polling": {"batch_size": 1}}),
    M + "polling.max_backoff_seconds": Poll({"polling": {"max_backoff_seconds": 30}, "maildir": {"path": "not-a-dir/x"}},
                                            garbage=False),
    M + "after_processing.action": Poll({"after_processing": {"action": "delete"}}),
    M + "after_processing.folder": Poll({"after_processing": {"folder": "Elsewhere"}}, base=MOVE),
    M + "after_processing.create_folder": Poll({"after_processing": {"create_folder": False}}, base=MOVE),
    M + "quarantine_folder": Poll({"quarantine_folder": "Quarantine"}, garbage=True),
    M + "authentication.trusted_authserv_ids": Case("tok3-technician-closes-ticket", {
        "authentication": {"trusted_authserv_ids": ["mx.other.example"]}}),
    M + "tokens.require_authentication": Case("tok3-require-authentication-none-internal-relay",
                                              {"tokens": {"require_authentication": "aligned_pass"}}),
    M + "outgoing.answer_failed_dmarc": Case("out1-no-auto-reply-to-a-failed-dmarc-sender",
                                             {"outgoing": {"answer_failed_dmarc": True}}),
    M + "monitor.auth_failures_before_ticket": Monitor({"auth_failures_before_ticket": 4}),
    M + "monitor.quick_pick": Monitor({"quick_pick": "Email monitor alert"}),
    # ---- mailbox: what mail becomes ----
    M + "return_address": Case("out6-return-address-per-mailbox", {"return_address": DROP}),
    M + "from_name": Case(NEW, {"from_name": "Another Desk"}),
    M + "error_user": Case(LOOP, {"error_user": "jdoe"}),
    M + "size_limits.max_message_mb": Case(NEW, {"size_limits": {"max_message_mb": 0.0001}}),
    M + "size_limits.max_attachment_mb": Case(SCREENSHOT, {"size_limits": {"max_attachment_mb": 0.001}}),
    M + "subject_max_length": Case(NEW, {"subject_max_length": 5}),
    M + "auto_generated.action": Case("pre2-exchange-auto-reply-ignored", {"auto_generated": {"action": "process"}}),
    M + "auto_generated.bounces": Case("ref9-dsn-about-our-auto-reply-filed", {"auto_generated": {"bounces": "ignore"}}),
    M + "auto_generated.out_of_office": Case("pre2-exchange-auto-reply-ignored",
                                             {"auto_generated": {"out_of_office": "process"}}),
    M + "auto_generated.delivery_report": Case("pre2-dsn-multipart-report-ignored",
                                               {"auto_generated": {"delivery_report": "process"}}),
    M + "auto_generated.list": Case("pre2-precedence-bulk-newsletter", {"auto_generated": {"list": "process"}}),
    M + "auto_generated.auto_submitted": Case("pre2-meeting-request-ignored",
                                              {"auto_generated": {"auto_submitted": "process"}}),
    M + "loop_prevention.enabled": Case(LOOP, {"loop_prevention": {"enabled": False}}),
    M + "loop_prevention.action": Case(LOOP, {"loop_prevention": {"action": "ignore"}}),
    M + "loop_prevention.max_messages": Case(LOOP, {"loop_prevention": {"max_messages": 50}}),
    M + "loop_prevention.window_minutes": Case("pre5-earlier-burst-outside-window-accepted",
                                               {"loop_prevention": {"window_minutes": 60}}),
    M + "new_tickets.create_tickets": Case(NEW, {"new_tickets": {"create_tickets": False}}),
    M + "new_tickets.quick_pick": Case(NEW, {"new_tickets": {"quick_pick": "New starter"}}),
    M + "new_tickets.assignee.user": Case(NEW, {"new_tickets": {"assignee": {"group": DROP, "user": "jdoe"}}}),
    M + "new_tickets.assignee.group": Case(NEW, {"new_tickets": {"assignee": {"group": "Messaging"}}}),
    M + "new_tickets.class": Case(NEW, {"new_tickets": {"class": "Question"}}),
    M + "new_tickets.category": Case(NEW, {"new_tickets": {"category": "HR"}}),
    M + "new_tickets.priority": Case(NEW, {"new_tickets": {"priority": "High"}}),
    M + "new_tickets.issue_type": Case(NEW, {"new_tickets": {"issue_type": "Network"}}),
    M + "new_tickets.issue_subtype": Case(NEW, {"new_tickets": {"issue_subtype": "VPN"}},
                                          base={"new_tickets": {"issue_type": "Access"}}),
    M + "new_tickets.derive_from_subject": Case("new2-longest-match-wins",
                                                {"new_tickets": {"derive_from_subject": False}}),
    M + "new_tickets.logging_technician": Case(NEW, {"new_tickets": {"logging_technician": "jdoe"}}),
    M + "new_tickets.use_linked_technician": Case("usr4-technician-reply-acts-as-self",
                                                  {"new_tickets": {"use_linked_technician": False}}),
    M + "new_tickets.submitted_by_note": Case(NEW, {"new_tickets": {"submitted_by_note": False}}),
    M + "unknown_senders.policy": Case(UNKNOWN, {"unknown_senders": {"policy": "reject"}}),
    M + "unknown_senders.submit_as": Case(UNKNOWN, {"unknown_senders": {"submit_as": "jdoe"}},
                                          base={"unknown_senders": {"policy": "submit_as", "submit_as": "email-guest"}}),
    M + "unknown_senders.user_template": Case(
        UNKNOWN, {"unknown_senders": {"user_template": "contractor"}},
        base={"unknown_senders": {"policy": "create_from_template", "user_template": "external-requester"}},
        rules=(add({"user_templates": [{"name": "contractor", "role": "technician"}]}),),
        base_rules=(add({"user_templates": [{"name": "contractor", "role": "technician"}]}),)),
    M + "unknown_senders.organisation": Case("pre3-accept-from-everyone-takes-unknown-sender",
                                             {"unknown_senders": {"organisation": "Acme Ltd"}}),
    M + "unknown_senders.location": Case(UNKNOWN, {"unknown_senders": {"location": "Building 7"}}),
    M + "unknown_senders.organisation_from_domain": Case(UNKNOWN,
                                                         {"unknown_senders": {"organisation_from_domain": False}}),
    M + "unknown_senders.create_organisation_for_unknown_domain": Case(
        "pre3-accept-from-everyone-takes-unknown-sender",
        {"unknown_senders": {"create_organisation_for_unknown_domain": True}}),
    M + "unknown_senders.send_login_credentials": Case(UNKNOWN, {"unknown_senders": {"send_login_credentials": True}}),
    M + "unknown_senders.create_anonymously": Case(UNKNOWN, {"unknown_senders": {"create_anonymously": False}}),
    M + "unknown_senders.update_anonymously": Case("usr3-anonymous-update-refused",
                                                   {"unknown_senders": {"update_anonymously": True}}),
    M + "unknown_senders.close_anonymously": ProvedBy(
        "tests/test_golden_cases.py::test_close_anonymously_decides_for_unknown_senders_F_USR_3_F_TOK_3"),
    M + "unknown_senders.default_user": Case(UNKNOWN, {"unknown_senders": {"default_user": "email-guest"}}),
    M + "cc.policy": Case("new3-cc-existing-users-only", {"cc": {"policy": "ignore"}}),
    M + "cc.user_template": Case("new3-cc-created-with-defaults",
                                 {"cc": {"policy": "create_from_template", "user_template": "external-requester"}},
                                 base={"cc": {"policy": "create_from_template", "user_template": "contractor"}},
                                 rules=(add({"user_templates": [{"name": "contractor", "role": "technician"}]}),),
                                 base_rules=(add({"user_templates": [{"name": "contractor", "role": "technician"}]}),)),
    M + "replies.reference_in_body": Case("ref1-reference-in-body", {"replies": {"reference_in_body": False}}),
    M + "replies.match_message_ids": Case("ref1-in-reply-to-our-auto-reply", {"replies": {"match_message_ids": False}}),
    M + "replies.unknown_reference": Case("ref2-unknown-ticket-opens-new", {"replies": {"unknown_reference": "reject"}}),
    M + "replies.require_visibility": Case("ref3-stranger-may-not-see-ticket", {"replies": {"require_visibility": False}}),
    M + "replies.closed_tickets": Case(CLOSED, {"replies": {"closed_tickets": "note"}}),
    M + "replies.reopen_assign_to": Case(REOPEN, {"replies": {"reopen_assign_to": "unchanged"}}),
    M + "replies.reopen_fallback_group": Case(REOPEN, {"replies": {"reopen_fallback_group": "Messaging"}}),
    M + "replies.hide_from_portal_unless_recipient": Case("ref10-hidden-when-requester-not-recipient",
                                                          {"replies": {"hide_from_portal_unless_recipient": False}}),
    M + "replies.strip_quotes": Case("ref5-gmail-reply-quote-and-signature-cut", {"replies": {"strip_quotes": False}}),
    M + "replies.auto_bundle": Case("ref7-same-subject-bundled", {"replies": {"auto_bundle": False}}),
    M + "body.preserve_html": Case("body2-preserve-html-sanitised", {"body": {"preserve_html": False}}),
    M + "body.keep_remote_images": Case("body2-remote-images-and-css-urls-removed", {"body": {"keep_remote_images": True}}),
    M + "body.attach_raw_message": Case(NEW, {"body": {"attach_raw_message": True}}),
    M + "body.attach_html_rendering": Case(NEW, {"body": {"attach_html_rendering": True}}),
    M + "outgoing.enabled": Case(NEW, {"outgoing": {"enabled": False}}),
    M + "outgoing.auto_reply": Case(NEW, {"outgoing": {"auto_reply": False}}),
    M + "outgoing.auto_reply_window_minutes": Case("out1-one-auto-reply-per-window",
                                                   {"outgoing": {"auto_reply_window_minutes": 0}}),
    M + "outgoing.error_notices": Case(LOOP, {"outgoing": {"error_notices": False}}),
    M + "outgoing.notice_window_minutes": Case("out2-error-notice-held-back-within-window",
                                               {"outgoing": {"notice_window_minutes": 0}}),
    M + "outgoing.closed_ticket_replies": Case(CLOSED, {"outgoing": {"closed_ticket_replies": False}}),
    M + "outgoing.templates.auto_reply": Case(NEW, {"outgoing": {"templates": {"auto_reply": "closed_updated"}}}),
    M + "outgoing.templates.error_notice": Case(LOOP, {"outgoing": {"templates": {"error_notice": "rejected"}}}),
    M + "outgoing.templates.closed_not_updated": Case(CLOSED, {"outgoing": {"templates": {
        "closed_not_updated": "auto_reply"}}}),
    M + "outgoing.templates.closed_updated": Case(REOPEN, {"outgoing": {"templates": {"closed_updated": "auto_reply"}}}),
    M + "outgoing.templates.rejected": Case("pre4-lottery-phrase-in-body-rejected",
                                            {"outgoing": {"templates": {"rejected": "auto_reply"}}},
                                            rules=(edit("20-keywords.yaml", ("keywords", {"phrase": "You have won"},
                                                                             "notify_sender"), True),),
                                            base_rules=(edit("20-keywords.yaml", ("keywords", {"phrase": "You have won"},
                                                                                  "notify_sender"), True),)),
    M + "outgoing.templates.login_credentials": Case(
        UNKNOWN, {"outgoing": {"templates": {"login_credentials": "auto_reply"}}},
        base={"unknown_senders": {"send_login_credentials": True}}),

    # ---- rules: settings ----
    "settings.return_address": Case(NEW, rules=(edit(SETTINGS, ("settings", "return_address"), "it-support@example.com"),),
                                    mailbox="example-imap"),
    "settings.from_name": Case(NEW, rules=(edit(SETTINGS, ("settings", "from_name"), "IT Support"),), mailbox="example-imap"),
    "settings.error_user": Case(LOOP, rules=(edit(SETTINGS, ("settings", "error_user"), "jdoe"),)),
    "settings.ticket_base_url": Case(UNKNOWN, rules=(edit(SETTINGS, ("settings", "ticket_base_url"), "https://x.example/t/"),),
                                     base={"unknown_senders": {"send_login_credentials": True}}),
    "settings.portal_base_url": Case(NEW, rules=(edit(SETTINGS, ("settings", "portal_base_url"), "https://x.example/p/"),)),
    "settings.outgoing.enabled": Case(NEW, rules=(edit(SETTINGS, ("settings", "outgoing", "enabled"), False),)),
    "settings.authentication.trusted_authserv_ids": Case("tok3-technician-closes-ticket", rules=(
        edit(SETTINGS, ("settings", "authentication", "trusted_authserv_ids"), ["mx.other.example"]),)),
    "settings.store.url": StoreUrl("sqlite:///var/other.db"),
    "settings.smtp.host": Send({"host": "relay.example.org"}),
    "settings.smtp.port": Send({"port": 2525}),
    "settings.smtp.tls": Send({"tls": "implicit"}),
    "settings.smtp.verify_certificate": Send({"verify_certificate": False}),
    "settings.smtp.username": Send({"username": "mailer"}),
    "settings.smtp.password": Send({"password": {"env": "PROBE_SECRET"}}),
    "settings.smtp.max_attempts": Send({"max_attempts": 2}),
    "settings.smtp.send": Poll({}, smtp={"send": True}),
    "settings.smtp.transport": Send({"transport": "graph"}),
    "settings.smtp.graph_base_url": Send({"graph_base_url": "https://graph.example.org/v1.0"}, {"transport": "graph"}),
    "settings.smtp.ca_file": Send({"ca_file": "internal-ca.pem"}),
    "settings.smtp.tls_min_version": Send({"tls_min_version": "1.3"}),
    "settings.smtp.tls_max_version": Send({"tls_max_version": "1.2"}),
    "settings.smtp.oauth.mailbox": Send({"oauth": {"mailbox": "example-m365"}}, SMTP_OAUTH),
    "settings.smtp.oauth.provider": Send({"oauth": {"provider": "google"}},
                                         {"oauth": {**SMTP_OAUTH["oauth"], "refresh_token": {"env": "PROBE_SECRET"}}}),
    "settings.smtp.oauth.tenant_id": Send({"oauth": {"tenant_id": "other-tenant"}}, SMTP_OAUTH),
    "settings.smtp.oauth.client_id": Send({"oauth": {"client_id": "other-client"}}, SMTP_OAUTH),
    "settings.smtp.oauth.client_secret": Send({"oauth": {"client_secret": {"env": "PROBE_OTHER_SECRET"}}}, SMTP_OAUTH),
    "settings.smtp.oauth.certificate.private_key": Send(
        {"oauth": {"certificate": {"private_key": {"env": "PROBE_OTHER_SECRET"}}}}, SMTP_CERT),
    "settings.smtp.oauth.certificate.thumbprint": Send({"oauth": {"certificate": {"thumbprint": "CD34"}}}, SMTP_CERT),
    "settings.smtp.oauth.refresh_token": Send({"oauth": {"refresh_token": {"env": "PROBE_OTHER_SECRET"}}},
                                              {"oauth": GOOGLE_APP}),
    "settings.smtp.oauth.service_account_key": Send({"oauth": {"service_account_key": {"env": "PROBE_KEY"}}},
                                                    {"oauth": GOOGLE_APP}),
    "settings.smtp.oauth.cloud": Send({"oauth": {"cloud": "usgov"}}, SMTP_OAUTH),
    "settings.smtp.oauth.token_url": Send({"oauth": {"token_url": "https://idp.example.org/token2"}},
                                          {"oauth": {"provider": "generic", "client_id": "c",
                                                     "client_secret": {"env": "PROBE_SECRET"},
                                                     "token_url": "https://idp.example.org/token"}}),
    "settings.smtp.oauth.scopes": Send({"oauth": {"scopes": ["https://outlook.office365.com/SMTP.Send"]}}, SMTP_OAUTH),
    "settings.smtp.oauth.authority_host": Send({"oauth": {"authority_host": "https://login.example.org"}}, SMTP_OAUTH),
    "settings.smtp.oauth.ca_file": Send({"oauth": {"ca_file": "/etc/ssl/proxy-ca.pem"}}, SMTP_OAUTH),
    "settings.store.keep_raw_mail_days": Housekeeping((edit(SETTINGS, ("settings", "store", "keep_raw_mail_days"), 1),)),
    # Each kind's maximum age against mail 30 h old: replies (24 h) expire unless raised, notices (168 h) only if lowered.
    **{f"settings.smtp.max_age_hours.{kind}": Housekeeping(
        (edit(SETTINGS, ("settings", "smtp", "max_age_hours", kind), 48 if hours == 24 else 12),))
       for kind, hours in (("auto_reply", 24), ("rejected", 24), ("closed_updated", 24), ("closed_not_updated", 24),
                           ("error_notice", 168), ("login_credentials", 168))},
    "limits.subject_max_length": Case(NEW, rules=(edit(SETTINGS, ("limits", "subject_max_length"), 5),)),
    "limits.message_seconds": ProvedBy("tests/test_poll_quarantine.py::"
                                       "test_a_mail_over_the_time_budget_is_quarantined_and_the_mail_behind_it_goes_on_F_FAIL_1"),
    "filters.accept_from": Case(NEW, rules=(edit("10-filters.yaml", ("filters", "accept_from"), "technicians"),)),
    "filters.senders[]": Case(NEW, rules=_filter("senders", "alice@acme")),
    "filters.senders[].pattern": Case(NEW, rules=_filter("senders", {"pattern": "alice"}),
                                      base_rules=_filter("senders", {"pattern": "nobody-here"})),
    "filters.senders[].match": Case(NEW, rules=_filter("senders", {"pattern": "acme", "match": "full"}),
                                    base_rules=_filter("senders", {"pattern": "acme"})),
    "filters.never_send_to[]": Case(NEW, rules=_filter("never_send_to", "someone@other.test, @acme.test")),
    "filters.never_send_to[].pattern": Case(NEW, rules=_filter("never_send_to", {"pattern": "alice"}),
                                            base_rules=_filter("never_send_to", {"pattern": "nobody-here"})),
    "filters.never_send_to[].match": Case(NEW, rules=_filter("never_send_to", {"pattern": "acme.test", "match": "domain"}),
                                          base_rules=_filter("never_send_to", {"pattern": "acme.test", "match": "full"})),
    "filters.subjects[]": Case(NEW, rules=_filter("subjects", "desk phone")),
    "filters.subjects[].pattern": Case(NEW, rules=_filter("subjects", {"pattern": "desk phone"}),
                                       base_rules=_filter("subjects", {"pattern": "nothing like it"})),
    "filters.subjects[].match": Case(NEW, rules=_filter("subjects", {"pattern": "phone", "match": "full"}),
                                     base_rules=_filter("subjects", {"pattern": "phone"})),
    # ---- rules: entries ----
    "keywords[].phrase": Case(NEW, rules=(add({"keywords": [{"phrase": "no service"}]}),),
                              base_rules=(add({"keywords": [{"phrase": "no such words"}]}),)),
    "keywords[].where": Case(NEW, rules=(add({"keywords": [{"phrase": "phone shows", "where": "body"}]}),),
                             base_rules=(add({"keywords": [{"phrase": "phone shows", "where": "subject"}]}),)),
    "keywords[].reason": Case(NEW, rules=(add({"keywords": [{"phrase": "no service", "notify_sender": True,
                                                            "reason": "probe"}]}),),
                              base_rules=(add({"keywords": [{"phrase": "no service", "notify_sender": True}]}),)),
    "keywords[].notify_sender": Case("pre4-lottery-phrase-in-body-rejected",
                                     rules=(edit("20-keywords.yaml", ("keywords", {"phrase": "You have won"},
                                                                      "notify_sender"), True),)),
    "excluded_text[].text": Case(NEW, rules=(add({"excluded_text": [{"name": "probe", "text": "No service"}]}),),
                                 base_rules=(add({"excluded_text": [{"name": "probe", "text": "Not in the mail"}]}),)),
    "excluded_text[].regex": Case(NEW, rules=(add({"excluded_text": [{"name": "probe", "regex": "[Nn]o service"}]}),),
                                  base_rules=(add({"excluded_text": [{"name": "probe", "regex": "not in the mail"}]}),)),
    "attachments.blocked[].name": Case(SCREENSHOT, rules=_blocked(name="*.png"), base_rules=_blocked(name="*.gif")),
    "attachments.blocked[].extension": Case(SCREENSHOT, rules=_blocked(extension="png"), base_rules=_blocked(extension="gif")),
    "attachments.blocked[].content_type": Case(SCREENSHOT, rules=_blocked(content_type="image/*"),
                                               base_rules=_blocked(content_type="audio/*")),
    "attachments.blocked[].sha256": ProvedBy("tests/test_golden_cases.py::test_blocked_attachment_by_sha256_F_ATT_2"),
    "attachments.blocked[].max_bytes": Case(SCREENSHOT, rules=_blocked(name="*.png", max_bytes=10),
                                            base_rules=_blocked(name="*.png")),
    "attachments.blocked[].reason": Case(SCREENSHOT, rules=_blocked(name="*.png", reason="no images"),
                                         base_rules=_blocked(name="*.png")),
    "tokens[].name": Case(TECH_REPLY, rules=_token("category", {"name": "kategorie"})),
    "tokens[].effect": Case(TECH_REPLY, rules=_token("category", {"effect": "set_class"})),
    "tokens[].values": Case(TECH_REPLY, rules=_token("priority", {"values": ["Low", "Normal"]})),
    "tokens[].fields": Case(TECH_REPLY, rules=_token("set", {"fields": ["Asset tag"]})),
    "tokens[].roles": Case("tok1-requester-priority-on-new-ticket", rules=_token("priority", {"roles": ["technician"]})),
    "priorities": Case(TECH_REPLY, rules=(edit(CATALOG, ("priorities",), ["Low", "Normal", "High"]),)),
    "classes": Case(TECH_REPLY, rules=(edit(CATALOG, ("classes",), ["Incident"]),),
                    base_rules=_token("category", {"effect": "set_class"}), replace=((b"#category IT", b"#category Question"),)),
    "categories": Case(TECH_REPLY, rules=(edit(CATALOG, ("categories",), ["Facilities", "HR"]),)),
    "types[].name": Case("new2-tie-broken-by-declaration-order", rules=_catalog("types", "Hardware", "name", "Devices")),
    "types[].match.exact": Case(NEW, rules=_catalog("types", "Network", ("match", "exact"), ['desk phone shows "no service"'])),
    "types[].match.contains": Case(NEW, rules=_catalog("types", "Network", ("match", "contains"), ["no service"])),
    "types[].subtypes[].name": Case("new2-tie-broken-by-declaration-order",
                                    rules=_catalog("types", "Hardware", ("subtypes", {"name": "Laptop"}, "name"), "Notebook")),
    "types[].subtypes[].match.exact": Case(NEW, rules=_catalog("types", "Hardware", ("subtypes", {"name": "Printer"},
                                                                                  "match", "exact"),
                                                             ['desk phone shows "no service"'])),
    "types[].subtypes[].match.contains": Case(NEW, rules=_catalog("types", "Hardware", ("subtypes", {"name": "Printer"},
                                                                                     "match", "contains"), ["desk phone"])),
    "quick_picks[].name": Case("new1-mailbox-quick-pick-default", {"new_tickets": {"quick_pick": "Joiner"}},
                               rules=_catalog("quick_picks", "New starter", "name", "Joiner")),
    "quick_picks[].type": Case("new1-mailbox-quick-pick-default", rules=_catalog("quick_picks", "New starter", "type",
                                                                                "Network")),
    "quick_picks[].subtype": Case("new1-mailbox-quick-pick-default",
                                  rules=_catalog("quick_picks", "New starter", "subtype", "VPN")),
    "quick_picks[].priority": Case("new1-mailbox-quick-pick-default",
                                   rules=_catalog("quick_picks", "New starter", "priority", "Low")),
    "quick_picks[].class": Case("new1-mailbox-quick-pick-default",
                                rules=_catalog("quick_picks", "New starter", "class", "Question")),
    "quick_picks[].category": Case("new1-mailbox-quick-pick-default",
                                   rules=_catalog("quick_picks", "New starter", "category", "IT")),
    "quick_picks[].assignee.user": Case("new1-mailbox-quick-pick-default",
                                        rules=_catalog("quick_picks", "New starter", "assignee", {"user": "jdoe"})),
    "quick_picks[].assignee.group": Case("new1-mailbox-quick-pick-default",
                                         rules=_catalog("quick_picks", "New starter", "assignee", {"group": "Messaging"})),
    "quick_picks[].match.exact": Case(NEW, rules=_catalog("quick_picks", "New starter", ("match", "exact"),
                                                          ['desk phone shows "no service"'])),
    "quick_picks[].match.contains": Case(NEW, rules=_catalog("quick_picks", "New starter", ("match", "contains"),
                                                             ["desk phone"])),
    "user_templates[].role": Case("usr2-create-user-from-template",
                                  rules=(edit(DIRECTORY, ("user_templates", {"name": "external-requester"}, "role"),
                                              "technician"),)),
    "user_templates[].organisation": Case("usr2-create-user-from-template",
                                          rules=(edit(DIRECTORY, ("user_templates", {"name": "external-requester"},
                                                                  "organisation"), "Acme Ltd"),)),
    "user_templates[].location": Case("usr2-create-user-from-template",
                                      rules=(edit(DIRECTORY, ("user_templates", {"name": "external-requester"},
                                                              "location"), "Head office"),)),
    "directory.users[].login": Directory(_dir("users", {"login": "email-guest"}, "login", "guest")),
    "directory.users[].name": Directory(_dir("users", {"login": "email-guest"}, "name", "Guest")),
    "directory.users[].email": Directory(_dir("users", {"login": "email-guest"}, "email", "guest2@example.com")),
    "directory.users[].role": Directory(_dir("users", {"login": "email-guest"}, "role", "technician")),
    "directory.users[].organisation": Directory(_dir("users", {"login": "email-guest"}, "organisation", "Acme Ltd")),
    "directory.groups[].name": Directory(_dir("groups", {"name": "Messaging"}, "name", "Mail team")),
    "directory.groups[].members": Directory(_dir("groups", {"name": "Messaging"}, "members", ["jdoe"])),
    "directory.organisations[].name": Directory(_dir("organisations", {"name": "Example Corp"}, "name", "Example Inc")),
    "directory.organisations[].domains": Directory(_dir("organisations", {"name": "Example Corp"}, "domains",
                                                        ["example.org"])),
    "directory.organisations[].shares_tickets": Case("ref3-colleague-in-sharing-organisation",
                                                     rules=_dir("organisations", {"name": "Acme Ltd"}, "shares_tickets",
                                                                False)),
    # ---- rules: overlays (a later file extends or replaces an earlier file's entry) ----
    "excluded_text[].extends": Case("body1-disclaimer-rewrapped-removed", rules=(add({"excluded_text": [
        {"extends": "example-disclaimer", "regex": "confidential"}]}, SECOND),), base_rules=(add({"excluded_text": [
            {"replace": "example-disclaimer", "text": "nothing like it"}]}),)),
    "excluded_text[].replace": Case("body1-disclaimer-rewrapped-removed", rules=(add({"excluded_text": [
        {"replace": "example-disclaimer", "text": "nothing like it"}]}),)),
    "tokens[].extends": Case(TECH_REPLY, rules=(add({"tokens": [{"extends": "category", "values": ["Facilities"]}]}),)),
    "tokens[].replace": Case("tok1-requester-priority-on-new-ticket", rules=(add({"tokens": [
        {"replace": "priority", "effect": "set_priority", "roles": ["technician"]}]}),)),
    "types[].extends": Case(NEW, rules=(add({"types": [{"extends": "Network", "match": {"contains": ["no service"]}}]}),)),
    "types[].replace": Case("new2-tie-broken-by-declaration-order", rules=(add({"types": [{"replace": "Hardware"}]}),)),
    "types[].subtypes[].extends": Case(NEW, rules=(add({"types": [{"extends": "Hardware", "subtypes": [
        {"extends": "Printer", "match": {"contains": ["desk phone"]}}]}]}),)),
    "types[].subtypes[].replace": Case("new2-tie-broken-by-declaration-order", rules=(add({"types": [
        {"extends": "Hardware", "subtypes": [{"replace": "Laptop", "match": {"contains": ["docking"]}}]}]}),)),
    "quick_picks[].extends": Case(NEW, rules=(add({"quick_picks": [{"extends": "Password reset",
                                                                   "match": {"contains": ["desk phone"]}}]}),)),
    "quick_picks[].replace": Case("new1-mailbox-quick-pick-default", rules=(add({"quick_picks": [
        {"replace": "New starter", "priority": "Low"}]}),)),
    "user_templates[].extends": Case("usr2-create-user-from-template", rules=(add({"user_templates": [
        {"extends": "external-requester", "location": "Head office"}]}, SECOND),), base_rules=(add({"user_templates": [
            {"replace": "external-requester", "role": "requester", "organisation": "Example Corp"}]}),)),
    "user_templates[].replace": Case("usr2-create-user-from-template", rules=(add({"user_templates": [
        {"replace": "external-requester", "role": "technician"}]}),)),
    "directory.users[].extends": Directory((add({"directory": {"users": [{"extends": "email-guest",
                                                                          "organisation": "Acme Ltd"}]}}),)),
    "directory.users[].replace": Directory((add({"directory": {"users": [{"replace": "email-guest",
                                                                          "email": "guest2@example.com"}]}}),)),
    "directory.groups[].extends": Directory((add({"directory": {"groups": [{"extends": "Messaging",
                                                                           "members": ["jdoe"]}]}}),)),
    "directory.groups[].replace": Directory((add({"directory": {"groups": [{"replace": "Messaging"}]}}),)),
    "directory.organisations[].extends": Directory((add({"directory": {"organisations": [
        {"extends": "Example Corp", "domains": ["example.org"]}]}}),)),
    "directory.organisations[].replace": Directory((add({"directory": {"organisations": [
        {"replace": "Example Corp"}]}}),)),
    "references.subject": Case("ref1-subject-issue-hash-form",
                               rules=(edit(SETTINGS, ("references", "subject"), ["[Ticket#{id}]"]),)),
    "references.tag": Case(NEW, rules=(edit(SETTINGS, ("references", "tag"), "[Case {id}]"),)),
    "reply_prefixes": Case("ref7-same-subject-bundled", rules=(edit(SETTINGS, ("reply_prefixes",), ["Xyz"]),),
                           replace=((b"Subject: ", b"Subject: Xyz: "),)),
    "templates.*.subject": Case(NEW, rules=(edit("80-templates.yaml", ("templates", "auto_reply", "subject"), "Thanks"),)),
    "templates.*.body": Case(NEW, rules=(edit("80-templates.yaml", ("templates", "auto_reply"),
                                              {"subject": "Re: {{ ticket.subject }}", "body": "We have it."}),)),
    "templates.*.body_file": Case(NEW, rules=(edit("80-templates.yaml", ("templates", "auto_reply", "body_file"),
                                                   "templates/rejected.txt.j2"),)),
}


def _walk():
    found = []
    for kind in ("mailbox", "rules"):
        found += [(kind, path, node) for path, node in leaves(kind)]
    return found


KNOBS = _walk()


def _marked(node: dict) -> str | None:
    return next((k for k in ("x-validation-only", "x-not-yet-built") if k in node), None)


@pytest.mark.parametrize("kind,path,node", KNOBS, ids=[f"{k}:{p}" for k, p, _ in KNOBS])
def test_every_knob_changes_what_the_code_does_or_is_marked_F_CFG_5(kind, path, node, monkeypatch):
    """Changing the knob alone changes a decision, a fetch, a send or a store write."""
    monkeypatch.setenv("PROBE_SECRET", "s3cret")
    monkeypatch.setenv("PROBE_OTHER_SECRET", "0ther")
    monkeypatch.setenv("PROBE_KEY", PROBE_KEY)
    monkeypatch.setenv("M365_CLIENT_SECRET", "m365-s3cret")
    mark = _marked(node)
    if mark:
        assert path not in PROOFS, f"{path} is {mark} but has a proof"
        assert str(node[mark]).strip(), f"{path}: say why it is {mark}"
        return
    assert path in PROOFS, f"{path} ({kind}) has no proof: add a probe, or mark it x-validation-only / x-not-yet-built"
    base, changed = PROOFS[path].run()
    assert base != changed, f"{path}: changing it changed nothing"


def test_every_proof_names_a_schema_property():
    known = {path for _, path, _ in KNOBS}
    assert set(PROOFS) <= known, sorted(set(PROOFS) - known)


NO_CHANGE = [Case(NEW), Case(NEW, rules=(add({"keywords": [{"phrase": "zz top"}]}),)), Fetch("graph", {}),
             Fetch("imap", {}), Poll({}), Monitor({}), Directory(()), Send({}), StoreUrl("sqlite:///var/mailgate.db")]


@pytest.mark.parametrize("probe", NO_CHANGE, ids=[type(p).__name__ for p in NO_CHANGE])
def test_a_probe_without_a_change_sees_no_difference(probe, monkeypatch):
    """So a difference the walker sees comes from the knob, not from the probe itself."""
    monkeypatch.setenv("PROBE_SECRET", "s3cret")
    base, changed = probe.run()
    assert base == changed


NOT_BUILT = [(k, p) for k, p, n in KNOBS if "x-not-yet-built" in n]
# While every knob is built, the refusal is still proved: on a knob marked for the test only.
STAND_IN = ("mailbox", "mailbox.pop3.leave_on_server")


@pytest.mark.parametrize("kind,path", NOT_BUILT or [STAND_IN])
def test_a_knob_not_yet_built_is_refused_where_it_is_written_F_CFG_2(kind, path, tmp_path, monkeypatch):
    from engine.config.load import load_file
    from engine.config.semantic import value_problems

    if not NOT_BUILT:
        node = next(n for k, p, n in KNOBS if (k, p) == STAND_IN)
        monkeypatch.setitem(node, "x-not-yet-built", "marked by this test")
    assert "[]" not in path and "*" not in path, "write a config case for it instead"
    lines, parts = ["version: 1"], path.split(".")
    lines += [f"{'  ' * i}{part}:" for i, part in enumerate(parts[:-1])] + [f"{'  ' * (len(parts) - 1)}{parts[-1]}: 1"]
    (tmp_path / "f.yaml").write_text("\n".join(lines) + "\n")
    loaded, _ = load_file(tmp_path / "f.yaml", "f.yaml", kind)
    problems = [p for p in value_problems(loaded) if "not built yet" in p.message]
    assert [(p.line, p.column) for p in problems] == [(len(parts) + 1, 2 * len(parts) - 1)]


# ---- routes (F-ROUTE-1): a route that misses against one that hits, on one mail ----

URGENT = {"priority": "Urgent"}  # the default ticket is Normal: a route that hits changes it
PROBE_GROUP = {"directory": {"groups": [{"name": "Probe", "members": ["alice"]}]},
               "calendars": [{"name": "night", "time_zone": "UTC", "hours": "00:00-01:00"}]}


def _routes(*routes, calendars=None) -> tuple:
    data = {**PROBE_GROUP, "routes": list(routes)}
    if calendars:
        data["calendars"] = [*PROBE_GROUP["calendars"], *calendars]
    return (add(data),)


def _when(case: str, miss: dict, hit: dict) -> Case:
    """A route with `miss` as its condition against the same route with `hit`."""
    return Case(case, rules=_routes({"name": "probe", "when": hit, "then": URGENT}),
                base_rules=_routes({"name": "probe", "when": miss, "then": URGENT}))


def _then(action: dict, base: dict | None = None, case: str = NEW) -> Case:
    """A route that hits, without and with one more action."""
    base = base or {"tags": ["probe"]}
    return Case(case, rules=_routes({"name": "probe", "when": {"is": "new"}, "then": {**base, **action}}),
                base_rules=_routes({"name": "probe", "when": {"is": "new"}, "then": base}))


def _text_tests(field: str, value: str, case: str = NEW, extra: dict | None = None) -> dict:
    """equals / contains / matches / case_sensitive of one text condition, against `value` as the mail has it."""
    extra = extra or {}
    test = lambda **t: {field: {**extra, **t}}  # noqa: E731
    return {
        f"routes[].when.{field}.equals": _when(case, test(equals="not it"), test(equals=value)),
        f"routes[].when.{field}.contains": _when(case, test(contains="zz-not-in-it"), test(contains=value[1:-1])),
        f"routes[].when.{field}.matches": _when(case, test(matches="^zz-not-in-it"), test(matches="^" + re.escape(value[:4]))),
        f"routes[].when.{field}.case_sensitive": _when(case, test(contains=value.upper(), case_sensitive=True),
                                                       test(contains=value.upper())),
    }


NEW_TEXT = 'Since this morning my desk phone only says "No service".\n\nAlice'
KNOWN_ALICE = "ref2-unknown-ticket-opens-new"  # Alice, a known Acme Ltd user, opens a new ticket
SHOT = "Screenshot 2026-01-15 at 12.30.11.png"
ROUTE_PROOFS = {
    **_text_tests("header", 'Desk phone shows "No service"', extra={"name": "Subject"}),
    "routes[].when.header.name": _when(NEW, {"header": {"name": "X-Not-There", "contains": "phone"}},
                                       {"header": {"name": "Subject", "contains": "phone"}}),
    "routes[].when.header.exists": _when(NEW, {"header": {"name": "X-Not-There", "exists": True}},
                                         {"header": {"name": "X-Not-There", "exists": False}}),
    **_text_tests("sender", "alice@acme.test"),
    **_text_tests("sender_domain", "acme.test"),
    **_text_tests("sender_name", "Alice Archer"),
    **_text_tests("recipient", "support@example.com"),
    **_text_tests("subject", 'Desk phone shows "No service"'),
    **_text_tests("body", NEW_TEXT),
    **_text_tests("organisation", "Acme Ltd", KNOWN_ALICE),
    **_text_tests("attachment_name", SHOT, SCREENSHOT),
    **_text_tests("attachment_type", "image/png", SCREENSHOT),
    "routes[].when.attachment_count.min": _when(SCREENSHOT, {"attachment_count": {"min": 5}},
                                                {"attachment_count": {"min": 1}}),
    "routes[].when.attachment_count.max": _when(SCREENSHOT, {"attachment_count": {"max": 0}},
                                                {"attachment_count": {"max": 5}}),
    "routes[].when.attachment_bytes.min": _when(SCREENSHOT, {"attachment_bytes": {"min": 10_000_000}},
                                                {"attachment_bytes": {"min": 1}}),
    "routes[].when.attachment_bytes.max": _when(SCREENSHOT, {"attachment_bytes": {"max": 10}},
                                                {"attachment_bytes": {"max": 10_000_000}}),
    "routes[].when.auto_generated": _when(NEW, {"auto_generated": "list"}, {"auto_generated": "none"}),
    "routes[].when.authentication": _when(NEW, {"authentication": "pass"}, {"authentication": "none"}),
    "routes[].when.mailbox": _when(NEW, {"mailbox": "example-imap"}, {"mailbox": "demo"}),
    "routes[].when.is": _when(NEW, {"is": "reply"}, {"is": "new"}),
    "routes[].when.requester_group": _when(KNOWN_ALICE, {"requester_group": "Service Desk"},
                                           {"requester_group": "Probe"}),
    "routes[].when.business_hours.calendar": _when(NEW, {"business_hours": {"calendar": "night"}},
                                                   {"business_hours": {"calendar": "office"}}),
    "routes[].when.business_hours.within": _when(NEW, {"business_hours": {"calendar": "office", "within": False}},
                                                 {"business_hours": {"calendar": "office", "within": True}}),
    "routes[].then.group": _then({"group": "Messaging"}),
    "routes[].then.assignee": _then({"assignee": "jdoe"}),
    "routes[].then.priority": _then({"priority": "Urgent"}),
    "routes[].then.type": _then({"type": "Network"}),
    "routes[].then.subtype": _then({"subtype": "Printer"}, {"type": "Hardware"}),
    "routes[].then.class": _then({"class": "Question"}),
    "routes[].then.category": _then({"category": "HR"}),
    "routes[].then.custom_fields": _then({"custom_fields": {"Cost center": "1234"}}),
    "routes[].then.tags": _then({"tags": ["other"]}, {"priority": "Urgent"}),
    "routes[].then.distribution": _then({"distribution": ["pager@example.org"]}),
    "routes[].then.hidden_from_portal": _then({"hidden_from_portal": True}),
    "routes[].then.auto_reply": _then({"auto_reply": None}),
    "routes[].then.ignore": _then({"ignore": "probe"}),
    "routes[].then.reject": _then({"reject": "probe"}),
    "routes[].then.process_auto_generated": Case(
        "pre2-exchange-auto-reply-ignored",
        rules=_routes({"name": "probe", "when": {"auto_generated": "out_of_office"},
                       "then": {"process_auto_generated": True, "tags": ["probe"]}}),
        base_rules=_routes({"name": "probe", "when": {"auto_generated": "out_of_office"}, "then": {"tags": ["probe"]}})),
    "routes[].enabled": Case(NEW, rules=_routes({"name": "probe", "when": {"is": "new"}, "then": URGENT, "enabled": False}),
                             base_rules=_routes({"name": "probe", "when": {"is": "new"}, "then": URGENT})),
    "routes[].continue": Case(NEW, rules=_routes({"name": "a", "when": {"is": "new"}, "then": URGENT, "continue": True},
                                                 {"name": "b", "when": {"is": "new"}, "then": {"category": "HR"}}),
                              base_rules=_routes({"name": "a", "when": {"is": "new"}, "then": URGENT},
                                                 {"name": "b", "when": {"is": "new"}, "then": {"category": "HR"}})),
    "calendars[].time_zone": _when(NEW, {"business_hours": {"calendar": "probe"}}, {"business_hours": {"calendar": "probe"}}),
    "calendars[].weekdays": _when(NEW, {"business_hours": {"calendar": "probe"}}, {"business_hours": {"calendar": "probe"}}),
    "calendars[].hours": _when(NEW, {"business_hours": {"calendar": "probe"}}, {"business_hours": {"calendar": "probe"}}),
    "calendars[].holidays": _when(NEW, {"business_hours": {"calendar": "probe"}}, {"business_hours": {"calendar": "probe"}}),
}


def _calendar(base: dict, change: dict) -> Case:
    """The same business-hours route under a calendar that holds the mail's arrival and one that does not."""
    route = {"name": "probe", "when": {"business_hours": {"calendar": "probe"}}, "then": URGENT}
    return Case(NEW, rules=_routes(route, calendars=[{"name": "probe", **base, **change}]),
                base_rules=_routes(route, calendars=[{"name": "probe", **base}]))


# The case's mail arrives Thursday 2026-01-15 12:00 UTC (13:00 in Berlin).
OFFICE = {"time_zone": "Europe/Berlin", "weekdays": ["thu"], "hours": "12:30-14:00"}
ROUTE_PROOFS.update({
    "calendars[].time_zone": _calendar(OFFICE, {"time_zone": "UTC"}),
    "calendars[].weekdays": _calendar(OFFICE, {"weekdays": ["mon"]}),
    "calendars[].hours": _calendar(OFFICE, {"hours": "18:00-19:00"}),
    "calendars[].holidays": _calendar(OFFICE, {"holidays": ["2026-01-15"]}),
})
PROOFS.update(ROUTE_PROOFS)
