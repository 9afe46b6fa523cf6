"""A scenario email as bytes: parses back to what was rendered, whatever the characters."""

from __future__ import annotations

import email
import email.policy
import quopri

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.scenarios.catalog import Content
from scheduler.scenarios.message import build

TEXT = "Bonjour Élodie,\nune ligne =_ avec des égaux = et " + "x" * 200 + "\n-- \nAnna"
HTML = "<p>Bonjour <b>Élodie</b> =_</p>\n<p>" + "y" * 300 + "</p>"


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def test_headers_and_parts_round_trip_with_non_ascii_and_long_lines():
    raw = build(
        sender="Anné Ü <anna@acme-mail.com>", reply_to="Équipe <team@acme-mail.com>",
        recipient="bob@example.net", message_id="0123abcd@acme-mail.com",
        content=Content("À propos de Bâtiment SA, " * 5 + "fin", HTML, TEXT), at=1_750_000_000,
    )  # fmt: skip
    m = parsed(raw)
    assert m["Subject"] == "À propos de Bâtiment SA, " * 5 + "fin"
    assert (m["From"].addresses[0].display_name, m["From"].addresses[0].addr_spec) == (
        "Anné Ü",
        "anna@acme-mail.com",
    )
    assert m["Reply-To"].addresses[0].display_name == "Équipe"
    assert m["Message-ID"] == "<0123abcd@acme-mail.com>"
    assert m.get_content_type() == "multipart/alternative"
    plain, html = (p for p in m.walk() if not p.is_multipart())
    assert plain.get_content().replace("\r\n", "\n") == TEXT
    assert html.get_content().replace("\r\n", "\n") == HTML
    assert html.get_content_type() == "text/html"
    lines = raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= 78
    assert b"\n" not in raw.replace(b"\r\n", b"") and raw.isascii()
    assert raw.endswith(b"--=_0123abcd--\r\n")


def test_a_line_break_in_a_rendered_subject_cannot_add_a_header():
    raw = build(
        sender="anna@acme-mail.com", reply_to=None, recipient="bob@example.net",
        message_id="beef@acme-mail.com", content=Content("Hi\r\nBcc: evil@x.example", "", "t"),
        at=0,
    )  # fmt: skip
    m = parsed(raw)
    assert m["Subject"] == "Hi Bcc: evil@x.example" and m["Bcc"] is None
    assert m.get_content_type() == "text/plain" and m.get_content().strip() == "t"
    assert "Reply-To" not in m


def test_reply_to_is_the_tenant_reply_address_keeping_the_scenario_name():
    from conf import TenantSettings
    from policy.replies import token
    from policy.scenarios.definition import Scenario
    from scheduler.scenarios.message import reply_to

    tenant = TenantSettings.model_validate(
        {
            "name": "acme", "pool": "p", "sender_domains": ("acme-mail.com",),
            "trusted_networks": ("127.0.0.1/32",), "reply_domain": "Reply.Acme-Mail.com",
            "tracking": {"base_url": "https://t.acme-mail.com", "secrets": ("s" * 20,)},
        }
    )  # fmt: skip
    mid = "0123456789abcdef0123456789abcdef@acme-mail.com"
    d = Scenario.model_construct(
        from_="Anna <anna@acme-mail.com>", reply_to='"Équipe, Ventes" <t@x>'
    )
    value = reply_to(tenant, True, d, mid)
    raw = build(
        sender=d.from_, reply_to=value, recipient="bob@example.net", message_id=mid,
        content=Content("Hi", "", "Hello"), at=1_750_000_000,
    )  # fmt: skip
    addr = parsed(raw)["Reply-To"].addresses[0]
    assert addr.display_name == "Équipe, Ventes" and addr.domain == "reply.acme-mail.com"
    assert len(addr.username) <= 64
    assert token.verify(["s" * 20], "acme", addr.username) == mid[:32]
    # Without a reply domain, or with replies off, the scenario's own Reply-To stays.
    assert reply_to(tenant, False, d, mid) == d.reply_to
    plain = tenant.model_copy(update={"reply_domain": None})
    assert reply_to(plain, True, d, mid) == d.reply_to
    bare = Scenario.model_construct(from_="anna@acme-mail.com", reply_to=None)
    assert reply_to(tenant, True, bare, mid).startswith("reply+")


def _text_message(text: str) -> bytes:
    """A text-only message carrying ``text``."""
    return build(
        sender="anna@acme-mail.com", reply_to=None, recipient="bob@example.net",
        message_id="cafe@acme-mail.com", content=Content("Hi", "", text), at=0,
    )  # fmt: skip


def _body_lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n\r\n", 1)[1].split(b"\r\n")


# binascii's encoder writes this line's encoded trailing blank one past 76:
# such a body must take the email package's encoder.
PAST_76 = "\téxb€ éa€ xé=.a==.é€b\tx  \na€ \n .\n"


@pytest.mark.parametrize(
    "text",
    [
        PAST_76,
        "a lone dot ends SMTP's data:\n.\nso it is encoded",
        "CRLF\r\nbare CR\rLF\nend",
        "trailing blanks \t\nand tabs\t",
        "=_ " * 60,
        "",
    ],
)
def test_any_text_body_round_trips_in_lines_of_at_most_76(text: str) -> None:
    raw = _text_message(text)
    body = _body_lines(raw)
    assert max(len(line) for line in body) <= 76, [b for b in body if len(b) > 76]
    assert b"." not in body and raw.isascii()
    expected = text.replace("\r\n", "\n").replace("\r", "\n") or " "
    assert parsed(raw).get_content().replace("\r\n", "\n") == expected


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
@settings(max_examples=300, deadline=None)
def test_quoted_printable_of_any_text(text: str) -> None:
    raw = _text_message(text)
    body = _body_lines(raw)
    assert max(len(line) for line in body) <= 76 and b"." not in body
    decoded = quopri.decodestring(b"\n".join(body)).decode("utf-8")
    assert decoded == (text.replace("\r\n", "\n").replace("\r", "\n") or " ")
