"""The benchmark message: a ~20 KB quoted-printable HTML newsletter with 60 links.

Header From and envelope sender are in bench.example, the one sender domain of
the benchmark tenant, so Sluice accepts and signs it.
"""

from __future__ import annotations

SENDER = "news@bench.example"
RECIPIENT = "reader@sink.test"
LINKS = 60
TARGET_BYTES = 20_000


def newsletter(links: int = LINKS, target_bytes: int = TARGET_BYTES) -> str:
    """The message as text with LF line ends (smtp-source -F adds the CRs itself)."""
    head = [
        f"From: Bench Outdoor <{SENDER}>",
        f"To: Reader <{RECIPIENT}>",
        "Subject: =?utf-8?q?Spring_sale_=E2=80=93_up_to_40=25_off_tents?=",
        "Date: Mon, 04 May 2026 10:00:00 +0000",
        "Message-ID: <c42.r9f3a1@bench.example>",
        "MIME-Version: 1.0",
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "List-Unsubscribe: <https://t.bench.example/u/c42/r9f3a1>,",
        " <mailto:unsub-c42-r9f3a1@bench.example>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "X-Mw-Campaign-Uid: c42",
        "",
    ]
    body = ['<html><head><meta charset=3D"utf-8"></head><body style=3D"margin:0">']
    for i in range(links):
        body += [
            '<table role=3D"presentation" width=3D"100%"><tr><td style=3D"padding:8p=',
            'x 16px;font-size:14px">',
            f'<a href=3D"https://t.bench.example/c/c42/r9f3a1/{i:03d}?u=3Dhttps%3A%2F=',
            f'%2Fshop.bench.example%2Fp%2F{1000 + i}%3Futm_source%3Dnewsletter" style=',
            f'=3D"color:#1a73e8">Tent model {i} =E2=80=93 now 40% off</a></td></tr></table>',
        ]
    filler = "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusm=</p>"
    # Count the CRLF each line will get on the wire.
    while sum(len(line) + 2 for line in head + body) < target_bytes:
        body.append(filler)
    body.append("</body></html>")
    return "\n".join(head + body) + "\n"


def wire_bytes(text: str) -> bytes:
    """The same message with CRLF line ends, as an SMTP client sends it."""
    return text.replace("\n", "\r\n").encode("ascii")
