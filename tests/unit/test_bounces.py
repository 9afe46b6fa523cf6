"""Bounce and complaint parser: synthetic messages of the common shapes."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import time

import pytest

from policy.bounces import parser as bounces
from policy.bounces import reasons as bounce_reasons
from policy.bounces.parser import BounceReport, parse, parse_for_score

POSTFIX_DSN = b"""\
Return-Path: <>
From: MAILER-DAEMON@mx.sluice.example (Mail Delivery System)
To: campaigns@sluice.example
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="AA11.1700000000/mx.sluice.example"

This is a MIME-encapsulated message.

--AA11.1700000000/mx.sluice.example
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.sluice.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<Gone.User@Remote.example>: host mx.remote.example[198.51.100.7] said: 550
    5.1.1 <gone.user@remote.example>: Recipient address rejected: User unknown
    in virtual mailbox table (in reply to RCPT TO command)

--AA11.1700000000/mx.sluice.example
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.sluice.example
Arrival-Date: Mon,  6 Jan 2025 10:00:00 +0000 (UTC)

Final-Recipient: rfc822; Gone.User@Remote.example
Original-Recipient: rfc822;gone.user@remote.example
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.remote.example
Diagnostic-Code: smtp; 550 5.1.1 <gone.user@remote.example>: Recipient address
    rejected: User unknown in virtual mailbox table

--AA11.1700000000/mx.sluice.example
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Return-Path: <campaigns@sluice.example>
From: News <campaigns@sluice.example>
To: gone.user@remote.example
Subject: January offers
Message-ID: <job-42.1@sluice.example>
X-Job: job-42
X-Mw-Campaign-Uid: cmp123
X-Mw-Subscriber-Uid: sub456

--AA11.1700000000/mx.sluice.example--
"""

EXIM_TEXT = b"""\
Return-path: <>
From: Mail Delivery System <Mailer-Daemon@relay.remote.example>
To: campaigns@sluice.example
Subject: Mail delivery failed: returning message to sender
X-Failed-Recipients: full.box@remote.example
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  full.box@remote.example
    host mx.remote.example [198.51.100.9]
    SMTP error from remote mail server after RCPT TO:<full.box@remote.example>:
    552 5.2.2 Mailbox full, quota exceeded

------ This is a copy of the message, including all the headers. ------

Return-path: <campaigns@sluice.example>
From: campaigns@sluice.example
To: full.box@remote.example
Subject: January offers
Message-ID: <job-43.1@sluice.example>
X-Job: job-43

Hello.
"""

QMAIL_TEXT = b"""\
From: MAILER-DAEMON@mail.remote.example
To: campaigns@sluice.example
Subject: failure notice

Hi. This is the qmail-send program at mail.remote.example.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<nobody@remote.example>:
Sorry, no mailbox here by that name. (#5.1.1)

<tired@remote.example>:
198.51.100.4 does not like recipient.
Remote host said: 452 4.2.2 Mailbox over quota
Giving up on 198.51.100.4.

--- Below this line is a copy of the message.

From: campaigns@sluice.example
To: nobody@remote.example
Subject: hi
"""

GMAIL_REPUTATION = b"""\
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: campaigns@sluice.example
Subject: Delivery Status Notification (Failure)
MIME-Version: 1.0
Content-Type: multipart/report; boundary="g1"; report-type=delivery-status

--g1
Content-Type: text/plain; charset="UTF-8"

** Message blocked **

Your message to reader@gmail.example has been blocked.

--g1
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com

Final-Recipient: rfc822; reader@gmail.example
Action: failed
Status: 5.7.1
Remote-MTA: dns; gmail-smtp-in.l.google.com. (2607:f8b0::1b)
Diagnostic-Code: smtp; 550-5.7.1 [203.0.113.25] Our system has detected that
 this message is likely suspicious due to the very low reputation of the
 sending IP address. To best protect our users from spam, the message has
 been blocked. 550 5.7.1 https://support.google.com/mail/answer/188131 - gsmtp

--g1--
"""

OFFICE365_515 = b"""\
From: postmaster@outlook.example
To: campaigns@sluice.example
Subject: Undeliverable: January offers
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="ms"

--ms
Content-Type: text/plain; charset="us-ascii"

Delivery has failed to these recipients or groups:

someone@hotmail.example
Your message wasn't delivered.

--ms
Content-Type: message/delivery-status

Reporting-MTA: dns;DM6PR00MB0000.namprd00.prod.outlook.com

Final-Recipient: rfc822;someone@hotmail.example
Action: failed
Status: 5.7.515
Diagnostic-Code: smtp;550 5.7.515 Access denied, sending domain sluice.example
 does not meet the required authentication level.

--ms--
"""

SPAMHAUS_BLOCK = b"""\
From: MAILER-DAEMON@mx.sluice.example (Mail Delivery System)
To: campaigns@sluice.example
Subject: Undelivered Mail Returned to Sender
Content-Type: multipart/report; report-type=delivery-status; boundary="sb"

--sb
Content-Type: message/delivery-status

Final-Recipient: rfc822; user@corp.example
Action: failed
Status: 5.7.1
Diagnostic-Code: smtp; 554 5.7.1 Service unavailable; Client host [203.0.113.25]
 blocked using zen.spamhaus.org

--sb--
"""

ARF_COMPLAINT = b"""\
From: Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.yahoo.example>
To: fbl@sluice.example
Subject: FW: January offers
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="arf"

--arf
Content-Type: text/plain; charset="US-ASCII"

This is an email abuse report for an email message received from IP 203.0.113.25.

--arf
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Yahoo!-Mail-Feedback/2.0
Version: 0.1
Original-Mail-From: <campaigns@sluice.example>
Original-Rcpt-To: <Annoyed@Yahoo.example>
Arrival-Date: Mon, 06 Jan 2025 10:00:00 +0000

--arf
Content-Type: message/rfc822

From: campaigns@sluice.example
To: annoyed@yahoo.example
Subject: January offers
Message-ID: <job-44.1@sluice.example>
X-Job: job-44

--arf--
"""

JMRP_COMPLAINT = b"""\
From: staff@hotmail.example
To: fbl@sluice.example
Subject: complaint about message from 203.0.113.25
Content-Type: multipart/mixed; boundary="jm"

--jm
Content-Type: text/plain

This is an email abuse report.

--jm
Content-Type: message/rfc822

X-HmXmrOriginalRecipient: reader@hotmail.example
From: campaigns@sluice.example
To: reader@hotmail.example
Subject: January offers

--jm--
"""

VACATION = b"""\
From: "Away, Person" <away.person@company.example>
To: campaigns@sluice.example
Subject: Automatic reply: January offers
Auto-Submitted: auto-replied
Content-Type: text/plain; charset="us-ascii"

I am out of the office until Monday.
"""

NOT_A_BOUNCE = b"""\
From: Friend <friend@company.example>
To: campaigns@sluice.example
Subject: Lunch?
Message-ID: <abc@company.example>
Content-Type: text/plain; charset="utf-8"

Shall we have lunch on Friday? Write to friend@company.example.
"""

DELAYED = b"""\
From: Mail Delivery Subsystem <MAILER-DAEMON@mx.sluice.example>
To: campaigns@sluice.example
Subject: Warning: could not send message for past 4 hours
Content-Type: multipart/report; report-type=delivery-status; boundary="dl"

--dl
Content-Type: message/delivery-status

Final-Recipient: RFC822; slow@remote.example
Action: delayed
Status: 4.4.7
Diagnostic-Code: SMTP; 421 4.4.7 Message delivery time expired

--dl--
"""


def _only(raw: bytes) -> BounceReport:
    reports = parse(raw)
    assert len(reports) == 1, reports
    return reports[0]


def test_postfix_dsn_reads_fields_and_original_tracking_headers() -> None:
    r = _only(POSTFIX_DSN)
    assert r.recipient == "gone.user@remote.example"
    assert (r.status, r.reply_code, r.action) == ("5.1.1", "550", "failed")
    assert r.remote_mta == "mx.remote.example"
    assert "User unknown" in r.diagnostic
    assert (r.reason, r.kind, r.hard) == ("userunknown", "hard", True)
    assert r.pmta_bounce_cat == "bad-mailbox"
    assert r.mailwizz_type == "hard"
    assert (r.x_job, r.x_mw_campaign_uid, r.x_mw_subscriber_uid) == ("job-42", "cmp123", "sub456")
    assert r.message_id == "<job-42.1@sluice.example>"


def test_exim_plain_text_bounce() -> None:
    r = _only(EXIM_TEXT)
    assert r.recipient == "full.box@remote.example"
    assert (r.status, r.reply_code) == ("5.2.2", "552")
    assert (r.reason, r.kind, r.hard) == ("mailboxfull", "soft", False)
    assert r.pmta_bounce_cat == "quota-issues"
    assert r.mailwizz_type == "soft"
    assert r.x_job == "job-43"


def test_qmail_two_recipients_each_with_its_own_reason() -> None:
    by_rcpt = {r.recipient: r for r in parse(QMAIL_TEXT)}
    assert set(by_rcpt) == {"nobody@remote.example", "tired@remote.example"}
    assert by_rcpt["nobody@remote.example"].reason == "userunknown"
    assert by_rcpt["nobody@remote.example"].hard is True
    tired = by_rcpt["tired@remote.example"]
    assert tired.status == "4.2.2"
    assert tired.reason == "mailboxfull"
    assert tired.hard is False


@pytest.mark.parametrize("raw", [GMAIL_REPUTATION, SPAMHAUS_BLOCK])
def test_reputation_blocks_never_suppress_the_recipient(raw: bytes) -> None:
    r = _only(raw)
    assert r.reason == "blocked"
    assert r.kind == "block"
    assert r.hard is False
    assert r.mailwizz_type == "internal"
    assert r.pmta_bounce_cat == "spam-related"


def test_office365_515_blocks_the_sending_domain() -> None:
    r = _only(OFFICE365_515)
    assert r.recipient == "someone@hotmail.example"
    assert r.status == "5.7.515"
    assert r.reason == "blocked"
    assert r.kind == "block"
    assert r.hard is False


def test_arf_complaint() -> None:
    r = _only(ARF_COMPLAINT)
    assert r.recipient == "annoyed@yahoo.example"
    assert (r.reason, r.kind, r.feedback_type) == ("feedback", "complaint", "abuse")
    assert r.hard is False
    assert r.x_job == "job-44"


def test_microsoft_jmrp_complaint() -> None:
    r = _only(JMRP_COMPLAINT)
    assert r.recipient == "reader@hotmail.example"
    assert r.kind == "complaint"


def test_vacation_autoreply_reports_the_replying_mailbox() -> None:
    r = _only(VACATION)
    assert r.recipient == "away.person@company.example"
    assert (r.reason, r.kind, r.hard) == ("vacation", "autoreply", False)


def test_delayed_dsn_is_soft() -> None:
    r = _only(DELAYED)
    assert r.action == "delayed"
    assert r.reason == "expired"
    assert r.kind == "soft"
    assert r.hard is False


def test_ordinary_mail_is_not_a_bounce() -> None:
    assert parse(NOT_A_BOUNCE) == []


@pytest.mark.parametrize("raw", [POSTFIX_DSN, EXIM_TEXT, QMAIL_TEXT, ARF_COMPLAINT])
def test_lf_crlf_and_cr_only_give_the_same_reports(raw: bytes) -> None:
    expected = parse(raw)
    assert expected
    assert parse(raw.replace(b"\n", b"\r\n")) == expected
    assert parse(raw.replace(b"\n", b"\r")) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe" * 1000,
        bytes(range(256)) * 64,
        b"Content-Type: multipart/report; boundary=x\n\n--x\nContent-Type: message/deliv",
        b"From: MAILER-DAEMON@x\nContent-Type: multipart/report; boundary=\n\n--\n--\n",
        b"From: MAILER-DAEMON@x\nContent-Type: text/plain; charset=no-such-charset\n"
        b"Content-Transfer-Encoding: base64\n\n!!!not base64!!!",
    ],
)
def test_malformed_input_never_raises(raw: bytes) -> None:
    result = parse(raw)
    assert isinstance(result, list)
    assert all(isinstance(r, BounceReport) for r in result)


def test_random_bytes_never_raise() -> None:
    for size in (1, 17, 4096, 65536):
        assert isinstance(parse(os.urandom(size)), list)


def test_truncated_dsn_still_yields_the_recipient() -> None:
    cut = POSTFIX_DSN[: POSTFIX_DSN.index(b"Remote-MTA: dns; mx.remote.example")]
    r = _only(cut)
    assert r.recipient == "gone.user@remote.example"
    assert r.status == "5.1.1"


def test_wrong_charset_declaration_is_tolerated() -> None:
    raw = EXIM_TEXT.replace(
        b"Auto-Submitted: auto-replied",
        b"Content-Type: text/plain; charset=iso-2022-jp\nContent-Transfer-Encoding: 8bit",
    ).replace(b"quota exceeded", "quota exceeded \u00e9\u00e8".encode())
    assert _only(raw).recipient == "full.box@remote.example"


def test_bounce_of_a_bounce_reads_the_inner_report() -> None:
    raw = (
        b"From: MAILER-DAEMON@outer.example\nTo: campaigns@sluice.example\n"
        b"Subject: Undelivered Mail Returned to Sender\n"
        b"Content-Type: text/plain\n\n"
        b"The message returned below could not be delivered.\n\n" + POSTFIX_DSN
    )
    reports = parse(raw)
    assert [r.recipient for r in reports] == ["gone.user@remote.example"]


def test_fifty_megabyte_input_returns_quickly() -> None:
    raw = POSTFIX_DSN + b"A" * (50 * 1024 * 1024)
    start = time.perf_counter()
    reports = parse(raw)
    assert time.perf_counter() - start < 2.0
    assert [r.recipient for r in reports] == ["gone.user@remote.example"]


def test_huge_repetitive_report_is_bounded() -> None:
    raw = b"From: MAILER-DAEMON@x.example\nSubject: Undelivered\n\n" + (
        b"Final-Recipient: rfc822; a@b.example\nStatus: 5.1.1\n" * 200_000
    )
    start = time.perf_counter()
    reports = parse(raw)
    assert time.perf_counter() - start < 5.0
    assert 0 < len(reports) <= 500


def test_report_is_frozen_and_as_dict_has_scorer_keys() -> None:
    r = _only(POSTFIX_DSN)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.reason = "other"  # type: ignore[misc]
    d = r.as_dict()
    assert {"recipient", "status", "reason", "hard", "class"} <= set(d)
    assert d["class"] == r.kind
    assert parse_for_score(POSTFIX_DSN) == [d]


def test_parse_swallows_internal_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(raw: bytes) -> list[BounceReport]:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(bounces, "_parse", boom)
    assert parse(POSTFIX_DSN) == []


# --- Precedence between status code, reply text and the refused command ---


def _dsn(status: str, diagnostic: str, rcpt: str = "someone@remote.example") -> bytes:
    """A minimal RFC 3464 report for one recipient."""
    return f"""\
From: MAILER-DAEMON@mx.sluice.example
To: campaigns@sluice.example
Subject: Delivery Status Notification (Failure)
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain

Your message could not be delivered.

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.sluice.example

Final-Recipient: rfc822; {rcpt}
Action: failed
Status: {status}
Diagnostic-Code: smtp; {diagnostic}

--b1--
""".encode()


def _text_bounce(body: str, subject: str = "Mail delivery failed") -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@relay.sluice.example>\n"
        "To: campaigns@sluice.example\n"
        f"Subject: {subject}\n\n{body}"
    ).encode()


@pytest.mark.parametrize(
    ("status", "diagnostic", "reason", "hard"),
    [
        # Refused at RCPT, "unknown" is the verdict on the address whatever
        # the code says.
        ("5.7.1", "553 Invalid recipient (in reply to RCPT TO command)", "userunknown", True),
        ("5.2.1", "550 5.2.1 User Unknown (in reply to RCPT TO command)", "userunknown", True),
        # Elsewhere a security or disabled-mailbox code wins: not the address.
        ("5.7.1", "550 5.7.1 550 User Unknown", "filtered", False),
        ("5.2.1", "550 5.2.1 <someone@remote.example>... User Unknown", "filtered", False),
        # The reporting MTA's own comment on the code settles the conflict.
        ("5.2.1 (mailbox disabled)", "550 5.2.1 User Unknown", "suspend", False),
        # A "User unknown" that names no address is a per-message refusal.
        ("5.0.0", "550 : User unknown", "filtered", False),
        # The stock wording with no refused command, no address-level code
        # and no verdict of the reporting MTA: filters after DATA say the
        # same, so it does not suppress the address.
        ("5.0.0", "550 <someone@remote.example>: User unknown", "filtered", False),
        ("5.0.0", "550 Unknown user someone@remote.example", "filtered", False),
        # The stage or an address-level code settles it.
        (
            "5.0.0",
            "550 <someone@remote.example>: User unknown (in reply to RCPT TO command)",
            "userunknown",
            True,
        ),
        ("5.1.0", "550 <someone@remote.example>: User unknown", "userunknown", True),
        # So does the reporting MTA's own comment on the status code.
        (
            "5.0.0 (Remote SMTP server has rejected address)",
            "550 <someone@remote.example>: User unknown",
            "userunknown",
            True,
        ),
    ],
)
def test_code_text_and_command_precedence(
    status: str, diagnostic: str, reason: str, hard: bool
) -> None:
    r = _only(_dsn(status, diagnostic))
    assert (r.reason, r.hard) == (reason, hard)


def test_failed_dsn_takes_the_permanent_code_of_the_remote_answer() -> None:
    r = _only(_dsn("4.5.0", "550 5.5.0 Service refused, please try later"))
    assert r.status == "5.5.0"


def test_indented_transcript_gives_the_refused_command() -> None:
    body = (
        "                 UNDELIVERABLE MAIL\n\n"
        "Your message to the following recipients cannot be delivered:\n\n"
        "<someone@remote.example>:\n    mx.remote.example [192.0.2.1]:\n"
        ">>> DATA\n<<< 550 Unknown user someone@remote.example\n"
    )
    r = _only(_text_bounce(body))
    assert r.recipient == "someone@remote.example"
    assert (r.reason, r.hard) == ("filtered", False)


# --- Wording ---


@pytest.mark.parametrize(
    ("diagnostic", "reason"),
    [
        ("500 Remote server does not support TLS (state 6).", "failedstarttls"),
        ("connect to mx.remote.example: server refused to talk to me: 421 go away", "blocked"),
    ],
)
def test_wording_rules(diagnostic: str, reason: str) -> None:
    assert _only(_dsn("5.0.0", diagnostic)).reason == reason


def test_malformed_address_notice() -> None:
    body = (
        "A message that you sent contained one or more recipient addresses that were\n"
        "incorrectly constructed:\n\n"
        "  someone@remote.example: malformed address: may not follow a display name\n\n"
        "------ This is a copy of your message, including all the headers. ------\n\n"
        "To: someone@remote.example, other@remote.example\nFrom: campaigns@sluice.example\n"
        "Subject: Hi\n\nHello\n"
    )
    r = _only(_text_bounce(body, "Mail failure - malformed recipient address"))
    assert (r.recipient, r.reason, r.hard) == ("someone@remote.example", "syntaxerror", False)


def test_returned_to_sender_subject_is_not_a_sender_rejection() -> None:
    body = (
        "Your message could not\nbe delivered to one or more recipients.\n\n"
        "--- Original message ---\n"
        "To: someone@remote.example\nFrom: campaigns@sluice.example\nSubject: Hi\n\nHello\n"
    )
    r = _only(_text_bounce(body, "Undelivered Mail Returned to Sender"))
    assert r.recipient == "someone@remote.example"
    assert r.reason == "undefined"
    assert r.status == "5.0.0"


# --- Status derived when the text gives no enhanced code ---


@pytest.mark.parametrize(
    ("line", "status", "hard"),
    [
        ("550 sorry, no such user here (in reply to RCPT TO command)", "5.1.1", True),
        ("552 mailbox is full", "5.2.2", False),
        ("452 mailbox is full", "4.2.2", False),
        ("554 something went wrong", "5.0.0", False),
        ("Error, ERROR_CODE :421, Host not reachable.", "4.4.0", False),
    ],
)
def test_status_is_derived_from_reply_code_and_reason(line: str, status: str, hard: bool) -> None:
    body = f"Delivery to the following recipient failed:\n\n  someone@remote.example\n  {line}\n"
    r = _only(_text_bounce(body))
    assert (r.status, r.hard) == (status, hard)


# --- Structure ---


def test_mbox_with_two_messages_gives_both_reports() -> None:
    one = _dsn("5.1.1", "550 5.1.1 User unknown", "first@remote.example")
    two = _dsn("5.1.1", "550 5.1.1 User unknown", "second@remote.example")
    mbox = b"From MAILER-DAEMON  Thu Apr 29 23:34:45 2025\n" + one
    mbox += b"\nFrom MAILER-DAEMON  Thu Apr 29 23:35:45 2025\n" + two
    assert [r.recipient for r in parse(mbox)] == ["first@remote.example", "second@remote.example"]


def test_lost_boundary_parameter_is_recovered() -> None:
    raw = _dsn("5.1.1", "550 5.1.1 User unknown").replace(b' boundary="b1"', b"")
    r = _only(raw)
    assert (r.recipient, r.reason) == ("someone@remote.example", "userunknown")


def test_quoted_local_part_is_kept() -> None:
    r = _only(_dsn("5.1.1", "550 5.1.1 User unknown", '"a..b"@remote.example'))
    assert r.recipient == '"a..b"@remote.example'


# --- Newline forms: every cause below is pinned in LF, CRLF and CR-only ---

NEWLINES = {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}


def _in_form(raw: bytes, form: str) -> bytes:
    return raw.replace(b"\n", NEWLINES[form])


def _reading(reports: list[BounceReport]) -> list[tuple[str, str, str, bool]]:
    return [(r.recipient, r.status, r.reason, r.hard) for r in reports]


by_form = pytest.mark.parametrize("form", list(NEWLINES))


@pytest.mark.parametrize("raw", [POSTFIX_DSN, EXIM_TEXT, QMAIL_TEXT, DELAYED])
def test_crlf_converted_twice_and_mixed_forms_read_like_lf(raw: bytes) -> None:
    expected = parse(raw)
    assert expected
    # "\r\r\n": a CRLF message passed through a second LF-to-CRLF conversion.
    assert parse(raw.replace(b"\n", b"\r\r\n")) == expected
    # Headers with CRLF, body with LF (a gateway that added its own headers).
    head, _, body = raw.partition(b"\n\n")
    assert parse(head.replace(b"\n", b"\r\n") + b"\r\n\r\n" + body) == expected


ENCODED_NOTICE_TEXT = (
    b"This message was created automatically by mail delivery software.\n\n"
    b"A message that you sent could not be delivered to one or more of its\n"
    b"recipients. This is a permanent error. The following address(es) failed:\n\n"
    b"  gone@remote.example\n"
    b"    host mx.remote.example [192.0.2.9]\n"
    b"    SMTP error from remote mail server after RCPT TO:<gone@remote.example>:\n"
    b"    550 5.1.1 <gone@remote.example>: Recipient address rejected: User unknown\n\n"
    b"------ This is a copy of the message, including all the headers. ------\n\n"
    b"From: news-desk@sluice.example\n"
    b"To: gone@remote.example, colleague@remote.example\n"
    b"Subject: January offers\n\nHello\n"
)


def _encoded_notice(cte: bytes, payload: bytes) -> bytes:
    return (
        b"From: Mail Delivery System <Mailer-Daemon@relay.remote.example>\n"
        b"To: campaigns@sluice.example\n"
        b"Subject: Mail delivery failed: returning message to sender\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="enc"\n\n'
        b"--enc\n"
        b"Content-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: " + cte + b"\n\n" + payload + b"\n"
        b"--enc--\n"
    )


@by_form
@pytest.mark.parametrize("inner", list(NEWLINES))
def test_encoded_part_with_its_own_newline_form(form: str, inner: str) -> None:
    # The part's decoded text keeps whatever newlines its writer used,
    # independently of the newline form of the message around it.
    text = _in_form(ENCODED_NOTICE_TEXT, inner)
    # Written with LF soft line breaks; the message's own form is applied below.
    qp = binascii.b2a_qp(text, istext=False).replace(b"\r\n", b"\n")
    for cte, payload in ((b"base64", base64.encodebytes(text)), (b"quoted-printable", qp)):
        r = _only(_in_form(_encoded_notice(cte, payload), form))
        assert (r.recipient, r.status, r.reason, r.hard) == (
            "gone@remote.example",
            "5.1.1",
            "userunknown",
            True,
        ), cte


MESSAGE_DETAILS_NOTICE = b"""\
From: postmaster@sms.remote.example
To: campaigns@sluice.example
Subject: Re: January offers
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative;
boundary="inner"

--inner
Content-Type: text/plain; charset=us-ascii

Error: Invalid user address

Error message below:
550 - Requested action not taken: no such user here

Message details:
  Subject: January offers
  MAIL FROM: campaigns@sluice.example
  RCPT TO: 5550100@sms.remote.example
  From: news-desk@sluice.example
  Size (in bytes): 39

--inner--

--outer--
"""


@by_form
def test_sender_lines_inside_the_text_name_no_recipient(form: str) -> None:
    # "From:" on its own line in the notice's listing is the original
    # sender, not a second failed recipient.
    reports = parse(_in_form(MESSAGE_DETAILS_NOTICE, form))
    assert [r.recipient for r in reports] == ["5550100@sms.remote.example"]


BRACKETED_NOTICE = b"""\
From: Mail Delivery System <MAILER-DAEMON@relay.sluice.example>
To: campaigns@sluice.example
Subject: Undeliverable Mail

Unknown host: could not deliver the message.

  550-F=[campaigns@sluice.example] T=[reader@remote.example] host not found
"""


@by_form
def test_address_in_square_brackets_loses_the_closing_bracket(form: str) -> None:
    reports = parse(_in_form(BRACKETED_NOTICE, form))
    assert [r.recipient for r in reports] == ["reader@remote.example"]
    assert reports[0].reason == "hostunknown"


def _sns_bounce() -> bytes:
    inner = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": "gone@remote.example",
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
        },
        "mail": {
            "source": "campaigns@sluice.example",
            "sourceArn": "arn:aws:ses:eu-west-1:123456789012:identity/campaigns@sluice.example",
            "commonHeaders": {"from": ["campaigns@sluice.example"]},
        },
    }
    envelope = json.dumps({"Type": "Notification", "Message": json.dumps(inner)}, indent=2)
    # Mail transports fold the long line: a newline and a space mid-string.
    cut = envelope.index("bounceSubType")
    envelope = envelope[:cut] + "\n " + envelope[cut:]
    return (
        "From: no-reply@sns.amazonaws.example\n"
        "To: bounces@sluice.example\n"
        "Subject: AWS Notification Message\n"
        "Content-Type: text/plain; charset=UTF-8\n\n" + envelope + "\n"
    ).encode()


@by_form
def test_ses_notification_inside_an_sns_envelope(form: str) -> None:
    # The notification is a JSON string in the envelope: its quotes are
    # escaped, and only the recipients it lists are reported.
    reports = parse(_in_form(_sns_bounce(), form))
    assert _reading(reports) == [("gone@remote.example", "5.1.1", "userunknown", True)]


QMAIL_SENDER_REFUSED = b"""\
From: MAILER-DAEMON@mx.sluice.example
To: campaigns@sluice.example
Subject: failure notice

Hi. This is the qmail-send program at mx.sluice.example.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<reader@remote.example>:
Connected to 192.0.2.25 but sender was rejected.
Remote host said: 550 5.7.1 <news-desk@sluice.example>... Access denied

--- Below this line is a copy of the message.

Return-Path: <news-desk@sluice.example>
From: news-desk@sluice.example
To: reader@remote.example
Subject: Hi

Hello
"""


@by_form
def test_sender_quoted_by_the_remote_is_not_a_recipient(form: str) -> None:
    # Sendmail's "<a@b>... reason" shape names the refused sender here.
    reports = parse(_in_form(QMAIL_SENDER_REFUSED, form))
    assert [(r.recipient, r.kind, r.hard) for r in reports] == [
        ("reader@remote.example", "block", False)
    ]


@by_form
@pytest.mark.parametrize(
    ("block", "reason", "hard"),
    [
        # No stage, no enhanced code: the stock wording is not proof.
        ("Remote host said: 550 Unknown user reader@remote.example", "filtered", False),
        # qmail-remote states the stage in words.
        (
            "192.0.2.25 does not like recipient.\nRemote host said: 550 sorry, no such user here",
            "userunknown",
            True,
        ),
        (
            "192.0.2.25 failed after I sent the message.\n"
            "Remote host said: 550 sorry, no such user here",
            "filtered",
            False,
        ),
        (
            "192.0.2.25 does not like sender.\nRemote host said: 553 sorry, unknown user",
            "rejected",
            False,
        ),
        # "SMTP:RCPT host ...": the stage named before the host.
        (
            "SMTP:RCPT host 192.0.2.25: 553 5.3.0 <reader@remote.example>... No such user",
            "userunknown",
            True,
        ),
    ],
)
def test_unknown_user_needs_the_stage_or_an_address_code(
    form: str, block: str, reason: str, hard: bool
) -> None:
    body = (
        "Hi. This is the qmail-send program at mx.sluice.example.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
        f"<reader@remote.example>:\n{block}\n"
    )
    r = _only(_in_form(_text_bounce(body, "failure notice"), form))
    assert r.recipient == "reader@remote.example"
    assert (r.reason, r.hard) == (reason, hard)


@by_form
@pytest.mark.parametrize(
    ("notice", "reason"),
    [
        ("Your message could not be delivered.", "filtered"),
        # The reporting MTA's own verdict on the address.
        ("** Address not found **\n\nThe address couldn't be found.", "userunknown"),
        ("mail.local: unknown user: someone", "userunknown"),
    ],
)
def test_reporting_mta_verdict_on_the_address(form: str, notice: str, reason: str) -> None:
    raw = _dsn("5.0.0", "550 <someone@remote.example>: User unknown")
    raw = raw.replace(b"Your message could not be delivered.", notice.encode())
    assert _only(_in_form(raw, form)).reason == reason


def test_stage_rule_is_for_bounce_notices_only() -> None:
    # A record of the relay's own MTA (PowerMTA accounting) comes with that
    # MTA's own category, so classify leaves its "user unknown" alone.
    diag = "550 <someone@remote.example>: User unknown"
    assert bounce_reasons.classify("5.0.0", "550", diag) == "userunknown"
    assert bounce_reasons.classify("5.0.0", "550", diag, notice="") == "filtered"


def _unnamed_notice(failed: str, to: str) -> bytes:
    """A notice whose text names no recipient: who failed comes from headers."""
    return (
        "From: Mail Delivery Subsystem <mailer-daemon@mail.remote.example>\n"
        "To: campaigns@sluice.example\n"
        "Subject: Delivery Status Notification (Failure)\n"
        f"X-Failed-Recipients: {failed}\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\n'
        "\n--b1\nContent-Type: text/plain\n\n"
        "** Message not delivered **\n\n"
        "The relay you configured refused the session.\n\nThe response was:\n\n"
        "Unspecified Error: server does not advertise AUTH capability\n"
        "\n--b1\nContent-Type: message/delivery-status\n\n"
        "\n--b1\nContent-Type: message/rfc822\n\n"
        f"From: campaigns@sluice.example\nTo: {to}\nSubject: News\n\nHello.\n"
        "\n--b1--\n"
    ).encode()


@pytest.mark.parametrize(
    ("failed", "to", "expected"),
    [
        # One header address the notice never repeats, one other addressee:
        # the returned message is what failed.
        ("team-alias@groups.remote.example", "<reader@remote.example>", ["reader@remote.example"]),
        # They agree: nothing to choose.
        ("reader@remote.example", "reader@remote.example", ["reader@remote.example"]),
        # The header lists more than the one addressee (Cc, Bcc): the header's list.
        (
            "reader@remote.example, other@remote.example",
            "reader@remote.example",
            ["other@remote.example", "reader@remote.example"],
        ),
        # No header: the single addressee.
        ("", "reader@remote.example", ["reader@remote.example"]),
    ],
)
@pytest.mark.parametrize("form", list(NEWLINES))
def test_who_failed_when_the_text_names_no_recipient(
    form: str, failed: str, to: str, expected: list[str]
) -> None:
    raw = _unnamed_notice(failed, to).replace(b"X-Failed-Recipients: \n", b"")
    reports = parse(raw.replace(b"\n", NEWLINES[form]))
    assert sorted(r.recipient for r in reports) == expected
    assert {r.kind for r in reports} == {"block"} and not any(r.hard for r in reports)


def test_a_failed_recipients_header_the_text_repeats_is_kept() -> None:
    raw = _unnamed_notice("team-alias@groups.remote.example", "reader@remote.example").replace(
        b"The relay you configured",
        b"Delivery to team-alias@groups.remote.example failed: the relay",
    )
    assert [r.recipient for r in parse(raw)] == ["team-alias@groups.remote.example"]
