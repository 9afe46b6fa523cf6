"""The reply rules: token, auto-reply headers, out-of-office and return dates, unsubscribe
wording, quotes and signatures stripped."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from policy.replies import classes, dates, message, quoting, rules, token
from policy.tokens import BadToken

NOW = datetime(2026, 12, 4, 10, tzinfo=UTC).timestamp()
SECRETS = ["0123456789abcdef0123"]
MID = "0123456789abcdef0123456789abcdef@acme-mail.com"


def mail(body: str, subject: str = "Re: Hello", **headers: str) -> message.Reply:
    head = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    raw = (
        f"From: Ann <ann@example.com>\r\nTo: reply+x@reply.acme-mail.com\r\n"
        f"Subject: {subject}\r\nMessage-ID: <r1@example.com>\r\nIn-Reply-To: <{MID}>\r\n"
        f"{head}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    )
    return message.read(raw.encode())


def test_token_is_short_signed_case_insensitive_and_tenant_bound():
    addr = token.address(SECRETS, "acme", f"<{MID}>", "reply.acme-mail.com")
    local = addr.partition("@")[0]
    assert len(local) <= 64 and token.looks_like(local)
    assert token.verify(SECRETS, "acme", local) == MID[:32]
    assert token.verify(SECRETS, "acme", local.upper()) == MID[:32]
    # A new secret first still verifies the old tokens (rotation).
    assert token.verify(["f" * 20, *SECRETS], "acme", local) == MID[:32]
    for bad in (local[:-1] + ("a" if local[-1] != "a" else "b"), "reply+short", local):
        with pytest.raises(BadToken):
            token.verify(SECRETS if bad != local else ["9" * 20], "acme", bad)
    with pytest.raises(BadToken):
        token.verify(SECRETS, "other", local)  # another tenant's domain
    with pytest.raises(ValueError):
        token.issue(SECRETS, "acme", "<not-a-scenario-id@x>")


def test_reading_a_reply():
    r = mail("Yes please!\n\nOn Mon, Dec 1, 2026 at 10:00, Bob <b@acme-mail.com> wrote:\n> Hi")
    assert (r.sender, r.message_id, r.references) == ("ann@example.com", "r1@example.com", (MID,))
    assert "reply+x@reply.acme-mail.com" in r.recipients
    assert r.own_text == "Yes please!"


@pytest.mark.parametrize(
    "text",
    [
        "Sounds good.\n\nOn Tue, 1 Dec 2026, Bob wrote:\n> unsubscribe here",
        "Sounds good.\n\nLe mar. 1 déc. 2026 à 10:00, Bob <b@x.com> a écrit :\n> texte",
        "Sounds good.\n\nAm Di., 1. Dez. 2026 um 10:00 Uhr schrieb Bob <b@x.com>:\n> Text",
        "Sounds good.\n\nEl mar, 1 dic 2026 a las 10:00, Bob escribió:\n> texto",
        "Sounds good.\n\nIl giorno mar 1 dic 2026, Bob ha scritto:\n> testo",
        "Sounds good.\n\nOp di 1 dec. 2026 om 10:00 schreef Bob:\n> tekst",
        "Sounds good.\n-----Original Message-----\nFrom: Bob\nunsubscribe",
        "Sounds good.\n\nFrom: Bob <b@x.com>\nSent: Monday\nSubject: Hello",
        "Sounds good.\n--\nAnn Smith, CEO\nunsubscribe from our list",
        "Sounds good.\n\nSent from my iPhone",
        "Sounds good.\n\nVon meinem iPhone gesendet",
        "> quoted first\nSounds good.",
    ],
)
def test_quotes_and_signatures_are_stripped(text):
    assert quoting.strip(text) == "Sounds good."


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Auto_Submitted": "auto-replied"}, "auto-submitted"),
        ({"Auto_Submitted": "no"}, None),
        ({"X_Autoreply": "yes"}, "x-autoreply"),
        ({"Precedence": "auto_reply"}, "precedence"),
        ({"Precedence": "bulk"}, "precedence"),
        ({}, None),
    ],
)
def test_auto_reply_headers(headers, expected):
    assert rules.automatic(mail("Thanks", **headers)) == expected


@pytest.mark.parametrize(
    ("subject", "body", "back"),
    [
        ("Out of Office", "I am out of the office, back on 12 January.", date(2027, 1, 12)),
        ("Réponse automatique", "Je suis absent, de retour le 12/01.", date(2027, 1, 12)),
        ("Abwesenheit", "Ich bin bis zum 12.01.2027 nicht im Büro.", date(2027, 1, 12)),
        ("Fuera de la oficina", "Estoy de vacaciones hasta el 12 de enero.", date(2027, 1, 12)),
        ("Fuori ufficio", "Sono in ferie fino al 12 gennaio 2027.", date(2027, 1, 12)),
        ("Afwezig", "Ik ben met vakantie tot en met 12-01-2027.", date(2027, 1, 12)),
        ("Automatic reply: Hello", "I am on holiday with limited access to email.", None),
    ],
)
def test_out_of_office_in_six_languages_with_the_return_date(subject, body, back):
    verdict = rules.classify(mail(body, subject, Auto_Submitted="auto-replied"), NOW)
    assert verdict is not None and verdict.classification == classes.OUT_OF_OFFICE
    assert verdict.return_date == back
    # Without the header, absence wording in the subject still makes it an out-of-office.
    verdict = rules.classify(mail(body, subject), NOW)
    assert verdict is not None and verdict.classification == classes.OUT_OF_OFFICE


def test_an_automatic_answer_without_absence_is_an_auto_reply():
    verdict = rules.classify(mail("Your ticket #42 was received.", "Ticket received",
                                  Auto_Submitted="auto-generated"), NOW)  # fmt: skip
    assert verdict is not None and verdict.classification == classes.AUTO_REPLY


def test_return_dates():
    assert dates.return_date("Back on January 12th, 2027", NOW) == date(2027, 1, 12)
    assert dates.return_date("Ab dem 12. Januar wieder erreichbar", NOW) == date(2027, 1, 12)
    assert dates.return_date("I will return on 03/02", NOW) == date(2027, 2, 3)
    assert dates.return_date("back on 12/25", NOW) == date(2026, 12, 25)  # US order fits only
    assert dates.return_date("back on 1 December", NOW) == date(2027, 12, 1)  # next one
    assert dates.return_date("back on 2 March 2020", NOW) is None  # past: no date
    assert dates.return_date("back on 31/02", NOW) is None
    assert dates.return_date("call me at 12/01", NOW) is None  # no return word
    assert dates.resume_at(date(2027, 1, 12)) == datetime(2027, 1, 13, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    "body",
    [
        "Please unsubscribe me.",
        "Remove me from your list",
        "STOP",
        "Merci de me désabonner.",
        "Bitte abmelden.",
        "Por favor, darme de baja.",
        "Cancellami dalla lista, grazie.",
        "Graag afmelden.",
    ],
)
def test_unsubscribe_wording(body):
    verdict = rules.classify(mail(body), NOW)
    assert verdict is not None and verdict.classification == classes.UNSUBSCRIBE_REQUEST


def test_unsubscribe_in_the_quoted_original_is_not_a_request():
    body = "Tell me more about pricing.\n\nOn Mon, Bob wrote:\n> To unsubscribe, click here"
    assert rules.classify(mail(body), NOW) is None


def test_reports_go_to_the_bounce_path():
    raw = (
        b"From: MAILER-DAEMON@x\r\nSubject: failure\r\nContent-Type: multipart/report;"
        b' report-type=delivery-status; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nfailed\r\n--b--\r\n"
    )
    assert rules.is_report(message.read(raw), "")
    assert not rules.is_report(mail("hello"), "ann@example.com")


def test_html_only_reply():
    raw = (
        b"From: a@example.com\r\nSubject: Re\r\nContent-Type: text/html\r\n\r\n"
        b"<p>Let&#39;s meet on Tuesday</p><div>On Mon, Bob wrote:</div><blockquote>x</blockquote>"
    )
    assert message.read(raw).own_text == "Let's meet on Tuesday"
