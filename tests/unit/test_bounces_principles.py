"""One test per principle of the bounce classifier (policy.bounces.decide).

Each test reads a fixture written from public material (tests/fixtures/bounces)
in all three newline forms and changes only the part the principle is about,
so the verdict can only come from that part.
"""

from __future__ import annotations

import os

import pytest

from policy.bounces import parse
from policy.bounces.decide import LOW_CONFIDENCE, decide
from policy.bounces.report import BounceReport

HERE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "bounces")
FORMS = {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}
POSTFIX_CAUSE = "Recipient address rejected: User unknown in virtual\n    mailbox table"
POSTFIX_DSN_CAUSE = "Recipient address\n    rejected: User unknown in virtual mailbox table"


def read(name: str, form: str, *swaps: tuple[str, str]) -> dict[str, BounceReport]:
    with open(os.path.join(HERE, name), encoding="utf-8") as fh:
        text = fh.read()
    for old, new in swaps:
        assert old in text, old
        text = text.replace(old, new)
    raw = text.encode().replace(b"\n", FORMS[form])
    return {r.recipient: r for r in parse(raw)}


def postfix(form: str, cause: str, status: str = "5.1.1", stage: str = "RCPT TO") -> BounceReport:
    """The Postfix notice with the remote server's words (in the text and in
    the DSN), the status and the refused command replaced."""
    reports = read(
        "postfix-dsn.eml",
        form,
        (POSTFIX_CAUSE, cause),
        (POSTFIX_DSN_CAUSE, cause),
        ("550 5.1.1", f"550 {status}"),
        ("Status: 5.1.1", f"Status: {status}"),
        ("(in reply to RCPT TO command)", f"(in reply to {stage} command)"),
    )
    return reports["user@example.net"]


every_form = pytest.mark.parametrize("form", sorted(FORMS))


@every_form
def test_unknown_user_at_rcpt_is_hard_and_says_why(form: str) -> None:
    r = postfix(form, "Recipient address rejected: User unknown in virtual mailbox table")
    assert (r.reason, r.hard, r.rule) == ("userunknown", True, "code+text")
    assert "user unknown" in r.evidence
    assert r.confidence == "high"


@every_form
@pytest.mark.parametrize(
    "cause",
    [
        "Client host [192.0.2.1] blocked using zen.spamhaus.org",
        "Message rejected due to local policy",
        "Your message looks like spam",
        "Too many recipients this hour, try later",
        "Sender frequency limited",
        "Message refused due to recipient preferences",
        "Service unavailable; blocked",
        "Invalid recipient: blocked",
    ],
)
def test_sending_side_vocabulary_beats_a_511_and_is_never_hard(form: str, cause: str) -> None:
    r = postfix(form, cause)
    assert not r.hard
    assert r.kind in ("block", "soft")
    assert r.rule in ("vocabulary", "text-over-code")


@every_form
@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        ("Mailbox full", "mailboxfull"),
        ("User is over quota", "mailboxfull"),
        ("Not enough disk space to deliver", "mailboxfull"),
        ("User account is disabled", "suspend"),
    ],
)
def test_specific_text_beats_a_generic_511(form: str, cause: str, reason: str) -> None:
    r = postfix(form, cause)
    assert (r.reason, r.hard, r.rule) == (reason, False, "text-over-code")


@every_form
def test_the_senders_own_domain_refused_is_not_the_recipients_host(form: str) -> None:
    recipient_side = postfix(form, "Recipient address rejected: Domain not found", "5.1.2")
    sender_side = postfix(form, "Sender address rejected: Domain not found", "5.1.2")
    assert (recipient_side.reason, recipient_side.hard) == ("hostunknown", True)
    assert (sender_side.reason, sender_side.hard) == ("rejected", False)
    assert sender_side.rule == "sender-text"
    assert "sender address rejected" in sender_side.evidence


@every_form
@pytest.mark.parametrize("stage", ["MAIL FROM", "HELO"])
def test_a_refusal_before_rcpt_is_never_the_recipients_fault(form: str, stage: str) -> None:
    r = postfix(form, "User unknown", stage=stage)
    assert not r.hard
    assert r.rule == "stage"


@every_form
def test_a_temporary_code_is_never_permanent(form: str) -> None:
    r = postfix(form, "User unknown", status="4.1.1")
    assert not r.hard


@every_form
def test_an_exim_delay_warning_is_never_permanent(form: str) -> None:
    r = read("exim-delay.eml", form)["late@example.net"]
    assert not r.hard
    assert r.status.startswith("4")


def test_delay_words_without_a_code_keep_it_soft() -> None:
    d = decide("", "", "User unknown at this time; we will keep trying to deliver")
    assert (d.reason, d.rule) == ("expired", "delay")


@every_form
def test_null_mx_is_hard_but_a_refused_sender_is_not(form: str) -> None:
    null_mx = postfix(form, "Domain does not accept mail (null MX, RFC 7505)", "5.1.10")
    refused = postfix(form, "Domain does not accept mail from you", "5.7.1")
    assert (null_mx.reason, null_mx.hard) == ("notaccept", True)
    assert not refused.hard


@every_form
def test_each_recipient_keeps_its_own_reason(form: str) -> None:
    reports = read("exim-failure.eml", form)
    assert (reports["first@example.net"].reason, reports["first@example.net"].hard) == (
        "userunknown",
        True,
    )
    second = reports["second@example.org"]
    assert not second.hard
    assert second.reason in ("expired", "networkerror")


@every_form
def test_a_reason_in_the_notice_is_not_lent_to_several_recipients(form: str) -> None:
    # The notice says "user unknown" once, in no recipient's block.
    reports = read(
        "exim-failure.eml",
        form,
        (
            "    SMTP error from remote mail server after RCPT TO:<first@example.net>:\n"
            "    550 5.1.1 <first@example.net>: Recipient address rejected: User unknown\n",
            "",
        ),
        (
            "    retry timeout exceeded\n    host mx.example.org [192.0.2.20]: "
            "Connection timed out\n",
            "",
        ),
        ("This is a permanent error.", "This is a permanent error: User unknown."),
    )
    assert set(reports) == {"first@example.net", "second@example.org"}
    assert not any(r.hard for r in reports.values())


@every_form
def test_rfc3464_recipients_are_read_one_by_one(form: str) -> None:
    # The subject says "User unknown": true of one recipient, not of the others.
    reports = read("rfc3464-multi.eml", form)
    assert reports["carol@ucsd.example.edu"].reason in ("userunknown", "filtered")
    assert not reports["bob@hp.example.com"].hard
    assert reports["bob@hp.example.com"].action == "delayed"
    alice = reports["alice@vnet.example.com"]
    assert not alice.hard and alice.rule != "context"


@every_form
def test_a_bounce_of_a_bounce_never_names_the_original_sender(form: str) -> None:
    reports = read("nested.eml", form)
    assert "sender@example.org" not in reports
    assert set(reports) == {"reader@example.net"}
    assert (reports["reader@example.net"].reason, reports["reader@example.net"].hard) == (
        "mailboxfull",
        False,
    )


@every_form
def test_the_same_notice_with_an_ordinary_returned_message_names_its_recipient(
    form: str,
) -> None:
    # Only the returned message changes: a plain message, not a notice.
    reports = read(
        "nested.eml",
        form,
        (
            "From: Mail Delivery Subsystem <MAILER-DAEMON@relay.example.com>\nTo: <sender",
            "From: Someone <someone@example.com>\nTo: <sender",
        ),
        ("Subject: Returned mail: see transcript for details", "Subject: Hello again"),
        ("Return-Path: <MAILER-DAEMON>", "Return-Path: <someone@example.com>"),
    )
    assert "sender@example.org" in reports
    assert reports["sender@example.org"].hard


@every_form
def test_a_list_managers_held_post_is_never_hard(form: str) -> None:
    reports = read("mailman-held.eml", form)
    held = reports["example-list@lists.example.org"]
    assert (held.reason, held.hard, held.rule) == ("filtered", False, "vocabulary")
    assert "non-member" in held.evidence


@every_form
def test_a_list_managers_other_mail_is_not_a_bounce(form: str) -> None:
    # Only the notice's words change: a welcome message from the same list.
    welcome = read(
        "mailman-held.eml",
        form,
        (
            "Subject: Your message to Example-list awaits moderator approval",
            "Subject: Welcome to the Example-list mailing list",
        ),
        (
            "Is being held until the list moderator can review it for approval.",
            "Is a fine subject for a first post.",
        ),
        (
            "The reason it is being held:\n\n    Post by non-member to a members-only list",
            "Welcome to the list.",
        ),
        (
            "Either the message will get posted to the list, or you will receive\n"
            "notification of the moderator's decision.",
            "Enjoy.",
        ),
    )
    assert welcome == {}


def test_code_only_readings_are_low_confidence() -> None:
    d = decide("5.1.1", "550", "")
    assert (d.reason, d.rule) == ("userunknown", "code-only")
    assert d.rule in LOW_CONFIDENCE and d.confidence == "low"
    assert decide("5.1.1", "550", "550 5.1.1 No such user").confidence == "high"


@every_form
def test_a_delay_notice_without_any_code_is_still_a_delay(form: str) -> None:
    # Only the delay reason changes: no status, no reply code, no address words.
    r = read(
        "exim-delay.eml",
        form,
        (
            "SMTP error from remote mail server after RCPT TO:<late@example.net>:\n"
            "    host mx.example.net [192.0.2.10]: 451 4.2.0 Mailbox temporarily unavailable",
            "host mx.example.net [192.0.2.10]: Connection timed out",
        ),
    )["late@example.net"]
    assert (r.hard, r.action) == (False, "delayed")
    assert r.status.startswith("4")
