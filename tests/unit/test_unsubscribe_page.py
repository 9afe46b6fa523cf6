"""The unsubscribe page speaks the reader's language and shows the address masked."""

import pytest

from admin import unsubscribe_page as page


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", "en"),
        ("fr-CH, fr;q=0.9, en;q=0.8", "fr"),
        ("zh-CN,zh;q=0.9,ja;q=0.8,en;q=0.7", "ja"),  # Chinese is not offered: next best
        ("en;q=0.5, de;q=0.9", "de"),  # quality, not order, decides
        ("pt-BR", "pt"),
        ("nl;q=0, it", "it"),
        ("*", "en"),
        ("de;q=bogus, es", "es"),
    ],
)
def test_language_from_accept_language(header, expected):
    assert page.language(header) == expected


def test_every_language_has_a_page_and_escapes_the_address():
    for lang in page.LANGUAGES:
        html = page.ask(lang, "<script>@example.net")
        assert f'lang="{lang}"' in html and 'value="One-Click"' in html
        assert "<script>" not in html and "&lt;***@example.net" in html
        assert "***@example.net" in page.done(lang, "bob@example.net")
    assert page.mask("bob@example.net") == "b***@example.net"
    assert page.mask("not-an-address") == "***"
