"""Click and open tracking rewrite, over a corpus of messages from different builders."""

from __future__ import annotations

import base64
import email
import email.policy
import html
import quopri
import re
from email.message import Message
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.tracking import TrackingPlan, rewrite
from policy.tokens import TokenKeys, issue, verify

FIXTURES = Path(__file__).parent.parent / "fixtures" / "html"
BASE = "https://t.sluice.test"
KEYS = TokenKeys(["tracking-test-secret-0123456789"])
RECIPIENT = "jane@example.com"
TRACKED = re.compile(re.escape(BASE) + r"/t/c/([A-Za-z0-9_-]+)")
PIXEL = re.compile(
    r'<img src="' + re.escape(BASE) + r'/t/o/([A-Za-z0-9_-]+)\.gif" width="1" height="1" '
    r'alt="" style="display:block;border:0">'
)

# Per fixture: how many links the HTML part(s) must have tracked, and which http(s)
# links must be left as they are (with why).
EXPECTED: dict[str, tuple[int, set[str]]] = {
    "newsletter_mso.eml": (
        11,
        {
            "https://www.acme.com/account/settings?utm_source=newsletter",  # excluded
            "https://news.acme.com/u/abc123?e=jane%40example.com",  # List-Unsubscribe
        },
    ),
    "mailchimp_like.eml": (
        12,
        {
            "https://acme.us21.list-manage.com/unsubscribe?u=8d2f7a9b1c3e5f7a9b1c3e5f7"
            "&id=4a6c8e0b2d&e=5f2b8c1a9d&c=3f9a1e2b7c"  # "unsubscribe" in the URL
        },
    ),
    "single_qp.eml": (2, {"https://example-shop.com/p/x7Yz"}),  # link text "Unsubscribe"
    "single_base64.eml": (3, {"https://events.example.de/newsletter/abmeldung?id=7781"}),
    "alternative_attachment.eml": (2, set()),
    "latin1.eml": (2, {"https://boutique.example.fr/preferences/retrait?c=42"}),
    "shift_jis.eml": (2, {"https://shop.example.jp/mail/stop?m=9981"}),
}


def load(name: str) -> bytes:
    data = (FIXTURES / name).read_bytes()
    # Survive a checkout that turned CRLF into LF.
    return data if b"\r\n" in data else data.replace(b"\n", b"\r\n")


def make_token(kind: str, link_index: int, url: str | None) -> str:
    return issue(KEYS, kind, "acme", "01HV3K9Q2M4N5P6R", RECIPIENT, link_index, url)


def plan(**overrides: object) -> TrackingPlan:
    args: dict[str, object] = {
        "base_url": BASE,
        "make_token": make_token,
        "exclude": ("*.acme.com/account/*",),
    }
    return TrackingPlan(**(args | overrides))  # type: ignore[arg-type]


def parse(data: bytes) -> Message:
    return email.message_from_bytes(data, policy=email.policy.compat32)


def text_parts(data: bytes, subtype: str = "html") -> list[str]:
    out = []
    for part in parse(data).walk():
        disposition = part.get("content-disposition", "")
        if part.get_content_type() == f"text/{subtype}" and "attachment" not in disposition:
            out.append(part.get_payload(decode=True).decode(part.get_content_charset() or "ascii"))
    return out


class _Hrefs(HTMLParser):
    """hrefs of a, area and VML shapes, found by the standard library's parser."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("a", "area", "v:roundrect", "v:rect", "v:oval", "v:shape"):
            self.hrefs += [v for k, v in attrs if k == "href" and v is not None][:1]


def hrefs(text: str) -> list[str]:
    # Outlook-only markup lives in conditional comments; open them up so it is parsed.
    text = re.sub(r"<!--<!\[endif\]-->|<!\[endif\]-->|<!--\[if[^\]]*\]>", "", text)
    parser = _Hrefs()
    parser.feed(text)
    parser.close()
    return [h.strip() for h in parser.hrefs]


def is_web(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def normalised(text: str) -> str:
    """The text with every href value blanked and the pixel removed."""
    text = PIXEL.sub("", text)
    return re.sub(r"""(\shref\s*=\s*)("[^"]*"|'[^']*'|[^\s"'>]+)""", r'\1""', text, flags=re.I)


def clicks(text: str) -> list[tuple[int, str | None]]:
    out = []
    for token in TRACKED.findall(text):
        data = verify(KEYS, token, "click")
        assert (data.tenant, data.recipient) == ("acme", RECIPIENT)
        out.append((data.link_index, data.url))
    return out


def single_html(
    body: str, charset: str = "utf-8", encoding: str = "8bit", eol: str = "\r\n"
) -> bytes:
    head = (
        "From: a@example.com\nTo: b@example.com\nSubject: t\nMIME-Version: 1.0\n"
        f"Content-Type: text/html; charset={charset}\nContent-Transfer-Encoding: {encoding}\n\n"
    ).replace("\n", eol)
    return head.encode() + body.replace("\n", eol).encode(charset)


# --- the corpus -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_web_link_is_tracked_except_the_kept_ones(name):
    count, kept = EXPECTED[name]
    out = rewrite(load(name), plan())
    assert out is not None
    tracked = 0
    for text in text_parts(out):
        for href in hrefs(text):
            if href.startswith(BASE + "/t/c/"):
                tracked += 1
            elif is_web(href):
                assert html.unescape(href) in {html.unescape(k) for k in kept}, href
    assert tracked == count


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_tokens_lead_back_to_the_original_urls_in_order(name):
    _, kept = EXPECTED[name]
    data = load(name)
    out = rewrite(data, plan())
    assert out is not None
    unescaped_kept = {html.unescape(k) for k in kept}
    original = [
        html.unescape(h)
        for text in text_parts(data)
        for h in hrefs(text)
        if is_web(h) and html.unescape(h) not in unescaped_kept
    ]
    found = [c for text in text_parts(out) for c in clicks(text)]
    assert [html.unescape(url or "") for _, url in found] == original
    assert [index for index, _ in found] == list(range(len(found)))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_decoded_content_is_unchanged_but_for_hrefs_and_pixel(name):
    data = load(name)
    out = rewrite(data, plan())
    assert out is not None
    before, after = text_parts(data), text_parts(out)
    assert [normalised(t) for t in after] == [normalised(t) for t in before]
    assert text_parts(out, "plain") == text_parts(data, "plain")  # rewrite_text is off


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_one_open_pixel_right_before_body_close(name):
    out = rewrite(load(name), plan())
    assert out is not None
    for text in text_parts(out):
        pixels = list(PIXEL.finditer(text))
        assert len(pixels) == 1
        assert verify(KEYS, pixels[0].group(1), "open").url is None
        rest = text[pixels[0].end() :]
        if re.search(r"</body", text, re.I):
            assert re.match(r"</body\s*>", rest, re.I)
        else:
            assert rest.strip() == ""


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_mime_structure_headers_and_other_parts_are_untouched(name):
    data = load(name)
    out = rewrite(data, plan())
    assert out is not None
    head_end = data.index(b"\r\n\r\n")
    assert out[:head_end] == data[:head_end]
    a, b = list(parse(data).walk()), list(parse(out).walk())
    assert len(a) == len(b)
    for old, new in zip(a, b, strict=True):
        assert new.items() == old.items()
        assert (new.preamble, new.epilogue) == (old.preamble, old.epilogue)
        inline_html = old.get_content_type() == "text/html" and not old.get_filename()
        if not old.is_multipart() and not inline_html:
            assert new.get_payload() == old.get_payload()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_encoded_lines_stay_within_limits(name):
    out = rewrite(load(name), plan(rewrite_text=True))
    assert out is not None
    assert b"\n" not in out.replace(b"\r\n", b"") and b"\r" not in out.replace(b"\r\n", b"")
    for part in parse(out).walk():
        if part.get_content_maintype() != "text" or part.is_multipart():
            continue
        lines = part.get_payload().split("\r\n")
        cte = part.get("content-transfer-encoding", "7bit").lower()
        limit = {"quoted-printable": 76, "base64": 76}.get(cte, 998)
        assert max(len(line.encode("latin-1", "replace")) for line in lines) <= limit
        if cte == "base64":
            assert all(len(line) == 76 for line in lines[:-2])


def test_attachments_are_byte_identical():
    data = load("alternative_attachment.eml")
    out = rewrite(data, plan())
    assert out is not None
    pdf_start = data.index(b"--outer-7f3a\r\nContent-Type: application/pdf")
    assert data[pdf_start:] == out[out.index(b"--outer-7f3a\r\nContent-Type: application/pdf") :]
    png = data[data.index(b"Content-Type: image/png") : data.index(b"--rel-19c2--")]
    assert png in out
    assert out.endswith(b"This epilogue is ignored by mail readers but must survive.\r\n")


def test_text_parts_are_rewritten_on_request():
    data = load("newsletter_mso.eml")
    out = rewrite(data, plan(rewrite_text=True))
    assert out is not None
    (text,) = text_parts(out, "plain")
    urls = [url for _, url in clicks(text)]
    assert urls == [
        "https://news.acme.com/v/abc123",
        "https://www.acme.com/spring-sale?utm_source=newsletter&utm_medium=email",
        "https://www.acme.com/p/garden-chair-oslo",
        "https://www.acme.com/p/parasol-riva",
    ]
    assert "Unsubscribe: https://news.acme.com/u/abc123?e=jane%40example.com" in text
    (original,) = text_parts(data, "plain")
    assert TRACKED.sub("URL", text) == re.sub(
        r"https://www\.acme\.com/\S+|https://news\.acme\.com/v/\S+", "URL", original
    )


def test_text_urls_lose_trailing_punctuation_and_keep_unsubscribe_lines():
    data = load("mailchimp_like.eml")
    out = rewrite(data, plan(rewrite_text=True))
    assert out is not None
    (text,) = text_parts(out, "plain")
    urls = [url for _, url in clicks(text)]
    assert urls[:2] == [
        "https://roastery.example.com/shop/colombia-huila?utm_source=April+notes",
        "https://roastery.example.com/blog/huila-visit",
    ]
    assert re.search(r"/t/c/[A-Za-z0-9_-]+\) is back", text)
    assert re.search(r"our visit: " + re.escape(BASE) + r"/t/c/[A-Za-z0-9_-]+\.\r?\n", text)
    assert "unsubscribe from this list (https://acme.us21.list-manage.com/unsubscribe" in text


def test_iso_2022_jp_text_round_trips():
    data = load("shift_jis.eml")
    out = rewrite(data, plan(rewrite_text=True))
    assert out is not None
    (text,) = text_parts(out, "plain")
    assert [url for _, url in clicks(text)] == ["https://shop.example.jp/new/spring"]
    assert "配信停止: https://shop.example.jp/mail/stop?m=9981" in text
    assert text.startswith("いつもご利用いただき、ありがとうございます。")


# --- when nothing changes -------------------------------------------------------------


def test_nothing_to_rewrite_returns_none():
    assert rewrite(load("plain_only.eml"), plan()) is None
    no_links = single_html(
        "<html><body><p>No links, only <a href='mailto:x@y'>mail</a>.</p></body></html>"
    )
    assert rewrite(no_links, plan(opens=False)) is None
    assert rewrite(load("newsletter_mso.eml"), plan(opens=False, clicks=False)) is None
    assert rewrite(b"garbage without a header/body separator", plan()) is None
    assert rewrite(b"", plan()) is None


def test_mailwizz_tracked_message_is_left_alone():
    assert rewrite(load("mailwizz_tracked.eml"), plan()) is None


def test_mailwizz_tracked_message_is_tracked_when_asked():
    out = rewrite(load("mailwizz_tracked.eml"), plan(skip_if_tracked=False))
    assert out is not None
    (text,) = text_parts(out)
    assert len(clicks(text)) == 4  # three track-url links and the profile link
    assert "/lists/lk12ab34cd/unsubscribe/xy98zz7766/ab12cd34ef" in text


def test_second_pass_changes_nothing():
    once = rewrite(load("newsletter_mso.eml"), plan())
    assert once is not None
    assert rewrite(once, plan()) is None


def test_unknown_charset_and_encoding_are_left_alone():
    body = '<html><body><a href="https://example.com/">x</a></body></html>'
    unknown = single_html(body).replace(b"charset=utf-8", b"charset=x-no-such-charset")
    assert rewrite(unknown, plan()) is None
    assert rewrite(single_html(body, encoding="x-uuencode"), plan()) is None


def test_signed_and_forwarded_content_is_never_touched():
    inner = 'Content-Type: text/html\r\n\r\n<a href="https://example.com/">x</a></body>\r\n'
    for outer in (
        'multipart/signed; protocol="application/pkcs7-signature"; ',
        "multipart/encrypted; ",
    ):
        msg = (
            f"MIME-Version: 1.0\r\nContent-Type: {outer}boundary=b\r\n\r\n--b\r\n{inner}--b--\r\n"
        ).encode()
        assert rewrite(msg, plan()) is None
    forwarded = (
        "MIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\nSubject: fwd\r\n" + inner
    ).encode()
    assert rewrite(forwarded, plan()) is None


# --- link rules ----------------------------------------------------------------------------


def test_exclude_patterns():
    data = load("newsletter_mso.eml")
    urls = lambda out: [u for t in text_parts(out) for _, u in clicks(t)]  # noqa: E731
    everything = urls(rewrite(data, plan(exclude=())))
    assert "https://www.acme.com/account/settings?utm_source=newsletter" in everything
    by_host = urls(rewrite(data, plan(exclude=("www.acme.com/*",))))
    assert all("www.acme.com" not in u for u in by_host) and len(by_host) == 4
    with_scheme = urls(rewrite(data, plan(exclude=("https://*.facebook.com/*", "*twitter.com*"))))
    assert not any("facebook" in u or "twitter" in u for u in with_scheme)
    assert len(with_scheme) == len(everything) - 2


def test_unsubscribe_links_are_recognised_by_header_url_and_text():
    body = (
        '<a href="https://example.com/x">Read</a>\n'
        '<a href="https://example.com/leave?id=1">Unsubscribe</a>\n'
        '<a href="https://example.com/a/unsubscribe">here</a>\n'
        '<a href="https://example.com/opt-out">here</a>\n'
        '<a href="https://example.com/y"><span style="x">Opt&nbsp;out</span></a>\n'
        '<a href="https://example.com/header-only">here</a>\n'
        '<a href="https://example.com/z">Se d&eacute;sabonner</a>\n'
        '<a href="https://example.com/w">配信停止</a>\n'
        '<a href="https://example.com/prefs">Update your preferences</a>\n'
    )
    msg = single_html(body).replace(
        b"MIME-Version",
        b"List-Unsubscribe: <mailto:u@example.com>,\r\n <https://example.com/header-only>\r\nMIME-Version",
    )
    out = rewrite(msg, plan(opens=False))
    assert out is not None
    (text,) = text_parts(out)
    assert [u for _, u in clicks(text)] == ["https://example.com/x", "https://example.com/prefs"]


def test_non_web_and_own_links_are_kept():
    body = (
        '<a href="mailto:a@example.com">m</a> <a href="tel:+4930123">t</a> <a href="#top">top</a>\n'
        '<a href="/relative">r</a> <a href="ftp://example.com/f">f</a>\n'
        '<a href="[UNSUBSCRIBE_URL]">u</a>\n'
        f'<a href="{BASE}/elsewhere">ours</a> <a href="{BASE.upper()}/x">ours too</a>\n'
        '<a href="https://t.sluice.test.evil.example/x">not ours</a>\n'
    )
    out = rewrite(single_html(body), plan(opens=False))
    assert out is not None
    (text,) = text_parts(out)
    assert [u for _, u in clicks(text)] == ["https://t.sluice.test.evil.example/x"]
    assert normalised(text) == normalised(body.replace("\n", "\r\n"))


def test_malformed_html_loses_nothing():
    body = (
        "<html><head><!--[if mso]><style>td{x:y}</style><![endif]--></head><body>\n"
        "<table><tr><td><p>unclosed paragraph <b>bold\n"
        "<A HREF=https://example.com/upper?a=1&amp;b=2 TARGET=_blank>upper</A>\n"
        "<a class=btn href = 'https://example.com/single?x=&quot;y&quot;'>single</a>\n"
        '<a title="see href=https://evil.example/ and >" href="https://example.com/title">t</a>\n'
        '<a data-href="https://example.com/data" href="https://example.com/real">d</a>\n'
        '<a href="https://example.com/copy?id=7&copy=1&amp;n=2">c</a>\n'
        '<a href="  https://example.com/spaces  ">s</a>\n'
        '<a href="https://example.com/unclosed>never closed</a>\n'
        '<a name=anchor>no href</a><abbr href="https://example.com/abbr">abbr</abbr>\n'
        '<!--[if mso]><v:rect href="https://example.com/vml"></v:rect><![endif]-->\n'
        "</td></tr></table>\n</body></html>\n"
    )
    out = rewrite(single_html(body), plan())
    assert out is not None
    (text,) = text_parts(out)
    assert [u for _, u in clicks(text)] == [
        "https://example.com/upper?a=1&b=2",
        'https://example.com/single?x="y"',
        "https://example.com/title",
        "https://example.com/real",
        "https://example.com/copy?id=7&copy=1&n=2",
        "https://example.com/spaces",
        "https://example.com/vml",  # the unclosed quote swallows up to the abbr's href
    ]
    assert normalised(text) == normalised(body.replace("\n", "\r\n"))
    assert 'title="see href=https://evil.example/ and >"' in text
    assert 'data-href="https://example.com/data"' in text
    assert '<a href="https://example.com/unclosed>never closed</a>' in text
    assert "TARGET=_blank>upper</A>" in text


@pytest.mark.parametrize(
    ("charset", "sample"),
    [
        ("iso-8859-1", "Chère cliente, « Façade » — no, en dash only in cp1252"),
        ("windows-1252", "\u201cSmart quotes\u201d cost 5 \u20ac \u2013 \u2026"),
        ("iso-2022-jp", "春の新商品のご案内です。"),
        ("shift_jis", "表示予定のソフト一覧、ポイント十倍"),  # trail bytes 0x5C and 0x7C
        ("utf-8", "Grüße 🎉"),
    ],
)
@pytest.mark.parametrize("encoding", ["8bit", "quoted-printable", "base64"])
def test_charsets_round_trip(charset, sample, encoding):
    sample = sample.encode(charset, "replace").decode(charset)
    body = (
        f'<html><body><p>{sample}</p><a href="https://example.com/x">{sample}</a></body></html>\n'
    )
    raw = body.encode(charset)
    if encoding == "quoted-printable":
        payload = quopri.encodestring(raw).replace(b"\n", b"\r\n")
    elif encoding == "base64":
        payload = base64.encodebytes(raw.replace(b"\n", b"\r\n")).replace(b"\n", b"\r\n")
    else:
        payload = raw.replace(b"\n", b"\r\n")
    if encoding == "8bit" and charset == "iso-2022-jp":
        encoding = "7bit"
    msg = single_html("", charset=charset, encoding=encoding) + payload
    out = rewrite(msg, plan())
    assert out is not None
    (text,) = text_parts(out)
    assert text.count(sample) == 2
    assert [u for _, u in clicks(text)] == ["https://example.com/x"]
    assert normalised(text) == normalised(body.replace("\n", "\r\n"))


def test_long_8bit_lines_are_folded_before_rewritten_links():
    links = "".join(f'<a href="https://example.com/{i}">link {i}</a> ' for i in range(20))
    body = f"<html><body><p>{links}</p></body></html>"
    assert len(body) < 998
    out = rewrite(single_html(body), plan(opens=False))
    assert out is not None
    (text,) = text_parts(out)
    assert max(len(line) for line in text.split("\r\n")) <= 998
    assert len(clicks(text)) == 20
    assert normalised(text).replace("\r\n", " ") == normalised(body)


def test_lf_only_message_keeps_lf():
    msg = single_html('<html><body><a href="https://example.com/">x</a></body></html>\n', eol="\n")
    out = rewrite(msg, plan())
    assert out is not None
    assert b"\r" not in out


def test_qp_part_with_bare_cr_is_left_alone():
    msg = (
        single_html("", encoding="quoted-printable")
        + b'<a href=3D"https://example.com/">x</a>=0D=\r\nrest\r\n'
    )
    assert rewrite(msg, plan()) is None


def test_unterminated_multipart_is_still_walked():
    msg = (
        b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        b'--b\r\nContent-Type: text/html\r\n\r\n<a href="https://example.com/">x</a>\r\n'
    )
    out = rewrite(msg, plan(opens=False))
    assert out is not None
    assert out.startswith(msg[: msg.index(b"<a href")])
    assert [u for _, u in clicks(out.decode())] == ["https://example.com/"]


def test_boundary_prefix_of_another_boundary_is_not_a_delimiter():
    msg = (
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b'--b\r\nContent-Type: multipart/alternative; boundary="bb"\r\n\r\n'
        b'--bb\r\nContent-Type: text/html\r\n\r\n<a href="https://example.com/1">1</a>\r\n--bb--\r\n'
        b"--b\r\nContent-Type: text/html\r\nContent-Disposition: attachment\r\n\r\n"
        b'<a href="https://example.com/2">2</a>\r\n--b--\r\n'
    )
    out = rewrite(msg, plan(opens=False))
    assert out is not None
    assert [u for _, u in clicks(out.decode())] == ["https://example.com/1"]
    assert b'<a href="https://example.com/2">2</a>' in out


def test_opens_only_and_clicks_only():
    data = load("single_qp.eml")
    opens = rewrite(data, plan(clicks=False))
    assert opens is not None
    (text,) = text_parts(opens)
    assert not clicks(text) and len(PIXEL.findall(text)) == 1
    only_clicks = rewrite(data, plan(opens=False))
    assert only_clicks is not None
    (text,) = text_parts(only_clicks)
    assert len(clicks(text)) == 2 and not PIXEL.findall(text)


def test_plan_checks_its_inputs():
    with pytest.raises(ValueError):
        TrackingPlan(base_url="javascript:alert(1)", make_token=make_token)
    with pytest.raises(ValueError):
        TrackingPlan(base_url='https://t.example.com/"onclick', make_token=make_token)
    assert TrackingPlan(base_url=BASE + "/", make_token=make_token).base_url == BASE
    bad = TrackingPlan(base_url=BASE, make_token=lambda kind, index, url: '"><script>')
    with pytest.raises(ValueError):
        rewrite(load("single_qp.eml"), bad)


_html_bits = st.sampled_from(
    [
        "<a ", "href=", "HREF = ", '"', "'", ">", "<", "</a>", "https://example.com/p?q=1&amp;r=2",
        "http://x.test", "mailto:m@x", " ", "\r\n", "<!--[if mso]>", "<![endif]-->", "&copy=", "é",
        "</body>", "<area ", "v:roundrect ", "unsubscribe", "=",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_html_bits, max_size=60), st.sampled_from(["8bit", "base64"]))
def test_arbitrary_markup_loses_no_content(bits, encoding):
    body = "".join(bits)
    if encoding == "base64":
        payload = base64.encodebytes(body.encode()).replace(b"\n", b"\r\n")
    else:
        payload = body.encode()
    out = rewrite(single_html("", encoding=encoding) + payload, plan())
    if out is None:
        return
    (text,) = text_parts(out)
    assert normalised(text) == normalised(body)
