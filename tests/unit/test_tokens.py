"""Signed tracking tokens: what a forger, a truncating mail client or a key rotation does."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policy.tokens import KINDS, BadToken, TokenData, TokenKeys, issue, verify

OLD = "old-secret-0123456789abcdef"
NEW = "new-secret-fedcba9876543210"
URL = "https://www.acme.com/spring-sale?utm_source=newsletter&utm_medium=email&utm_content=hero"
RECIPIENT = "jane.doe@example.com"


@pytest.fixture
def keys() -> TokenKeys:
    return TokenKeys([NEW, OLD])


def click(keys: TokenKeys, **kw: object) -> str:
    args = {"link_index": 7, "url": URL, "issued_at": 1_710_000_000} | kw
    return issue(keys, "click", "acme", "01HV3K9Q2M4N5P6R", RECIPIENT, **args)


def test_round_trip(keys):
    data = verify(keys, click(keys), "click")
    assert data == TokenData(
        kind="click",
        tenant="acme",
        message_id="01HV3K9Q2M4N5P6R",
        recipient=RECIPIENT,
        link_index=7,
        url=URL,
        issued_at=1_710_000_000,
    )


def test_open_token_has_no_url_and_is_short(keys):
    token = issue(keys, "open", "acme", "01HV3K9Q2M4N5P6R", RECIPIENT)
    data = verify(keys, token, "open")
    assert data.url is None and data.link_index == 0
    assert len(token) < 100


def test_typical_click_token_stays_under_300_characters(keys):
    assert len(click(keys)) < 300


def test_url_safe_alphabet_only(keys):
    for kind in KINDS:
        token = issue(keys, kind, "t\u00e9nant", "m/1?&=", "a+b@ex\u00e4mple.com", 3, URL)
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token), token


def test_recipient_and_url_are_not_readable(keys):
    token = click(keys)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for secret in (RECIPIENT, "jane.doe", "example.com", "acme.com", "spring-sale"):
        assert secret.encode() not in raw
        assert secret not in token


def test_forged_token_with_another_key_is_refused(keys):
    forged = click(TokenKeys(["attacker-secret-000000000000"]))
    with pytest.raises(BadToken):
        verify(keys, forged, "click")


def test_every_single_character_flip_is_refused(keys):
    token = click(keys)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for i, ch in enumerate(token):
        # Flipping the lowest bits matters most: in the last character they are
        # padding, which a lax decoder would ignore.
        for bit in (1, 2, 32):
            other = alphabet[alphabet.index(ch) ^ bit]
            altered = token[:i] + other + token[i + 1 :]
            with pytest.raises(BadToken):
                verify(keys, altered, "click")


def test_truncated_tokens_are_refused(keys):
    token = click(keys)
    for n in range(len(token)):
        with pytest.raises(BadToken):
            verify(keys, token[:n], "click")


def test_appended_characters_are_refused(keys):
    token = click(keys)
    for extra in ("A", "AA", "AAAA", "=", "==", ".gif", "\n"):
        with pytest.raises(BadToken):
            verify(keys, token + extra, "click")


def test_replay_under_another_kind_is_refused(keys):
    token = click(keys)
    for kind in KINDS:
        if kind != "click":
            with pytest.raises(BadToken):
                verify(keys, token, kind)
    with pytest.raises(BadToken):
        verify(keys, token, "no-such-kind")


def test_rotation_new_key_signs_old_key_still_verifies():
    before = TokenKeys([OLD])
    old_token = click(before)
    after = TokenKeys([NEW, OLD])
    assert verify(after, old_token, "click").url == URL
    new_token = click(after)
    with pytest.raises(BadToken):
        verify(before, new_token, "click")  # signed by the new key, not the old
    assert verify(TokenKeys([NEW]), new_token, "click").url == URL
    # Once the old secret is retired, its tokens stop verifying.
    with pytest.raises(BadToken):
        verify(TokenKeys([NEW]), old_token, "click")


def test_key_id_does_not_depend_on_position():
    token = click(TokenKeys([OLD]))
    assert verify(TokenKeys(["third-secret-000000000000", NEW, OLD]), token, "click").url == URL


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "A",
        "====",
        "not a token",
        "ünïcödé",
        "AAAA" * 40,
        "/t/c/abc",
        "a.b.c",
        None,
        42,
        b"AAAA",
    ],
)
def test_garbage_is_bad_token(keys, garbage):
    with pytest.raises(BadToken):
        verify(keys, garbage, "click")  # type: ignore[arg-type]


@given(st.text(max_size=400))
def test_arbitrary_text_raises_only_bad_token(text):
    keys = TokenKeys([NEW])
    with pytest.raises(BadToken):
        verify(keys, text, "click")


@given(st.binary(min_size=0, max_size=300))
def test_arbitrary_well_formed_base64_raises_only_bad_token(raw):
    keys = TokenKeys([NEW])
    token = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    with pytest.raises(BadToken):
        verify(keys, token, "click")


@given(
    tenant=st.text(max_size=40),
    message_id=st.text(max_size=40),
    recipient=st.text(max_size=80),
    link_index=st.integers(min_value=0, max_value=2**40),
    url=st.one_of(st.none(), st.text(min_size=1, max_size=300)),
)
def test_round_trip_any_values(tenant, message_id, recipient, link_index, url):
    keys = TokenKeys([NEW])
    try:
        token = issue(keys, "click", tenant, message_id, recipient, link_index, url)
    except ValueError:
        return  # lone surrogates cannot be encoded; issue() refuses them
    data = verify(keys, token, "click")
    assert (data.tenant, data.message_id, data.recipient) == (tenant, message_id, recipient)
    assert (data.link_index, data.url) == (link_index, url)


def test_tokens_are_deterministic_within_a_second(keys):
    assert click(keys) == click(keys)
    assert click(keys) != click(keys, link_index=8)


def test_issue_refuses_bad_arguments(keys):
    with pytest.raises(ValueError):
        issue(keys, "bogus", "acme", "m", RECIPIENT)
    with pytest.raises(ValueError):
        issue(keys, "click", "acme", "m", RECIPIENT, link_index=-1)


def test_keys_refuse_empty_or_short_secrets():
    with pytest.raises(ValueError):
        TokenKeys([])
    with pytest.raises(ValueError):
        TokenKeys(["short"])


def test_secrets_do_not_show_in_repr(keys):
    assert NEW not in repr(keys)
