"""Tokens across tenants, the campaign they carry, and the mailto: unsubscribe address."""

import hmac

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from conf.schema import TenantSettings, TrackingSettings
from policy import links, unsubscribe
from policy.tokens import BadToken, TokenKeys, issue, verify
from tests.support.forge import flipped, recipient_swapped, truncated

ACME = "acme-secret-0123456789abcdef"
BETA = "beta-secret-0123456789abcdef"
KEYS = {"acme": TokenKeys([ACME]), "beta": TokenKeys([BETA])}


def tenant(name: str, secrets: tuple[str, ...] | None) -> TenantSettings:
    tracking = TrackingSettings(base_url="https://t.x", secrets=secrets) if secrets else None
    return TenantSettings(
        name=name,
        pool="p",
        trusted_networks=("127.0.0.1/32",),
        sender_domains=("x.example",),
        tracking=tracking,
    )


def test_a_token_verifies_only_under_the_tenant_it_names():
    token = issue(KEYS["acme"], "click", "acme", "<m@x>", "a@example.net", 3, "https://e.x/")
    data = links.verify_for(KEYS, token, "click")
    assert (data.tenant, data.link_index, data.url) == ("acme", 3, "https://e.x/")
    # beta knows its own secret and signs a token claiming to be acme's: refused.
    forged = issue(KEYS["beta"], "click", "acme", "<m@x>", "a@example.net", 0, "https://evil.x/")
    with pytest.raises(BadToken):
        links.verify_for(KEYS, forged, "click")
    with pytest.raises(BadToken):
        links.verify_for(KEYS, token, "open")  # a click token is not an open token


def test_the_campaign_rides_in_the_message_field():
    assert links.split_ref(links.message_ref("camp-7", "<m@x>")) == ("camp-7", "<m@x>")
    assert links.split_ref(links.message_ref("", "<m@x>")) == ("", "<m@x>")
    assert links.split_ref(links.message_ref("camp-7", "")) == ("camp-7", "")
    assert len(links.split_ref(links.message_ref("j" * 500, "<m@x>"))[0]) == links.MAX_JOB


def test_the_key_ring_follows_a_reload_and_skips_tenants_without_tracking():
    current = {"tenants": (tenant("acme", (ACME,)), tenant("quiet", None))}
    ring = links.KeyRing(lambda: current["tenants"])
    first = ring()
    assert set(first) == {"acme"} and ring() is first  # same configuration, same dict
    current["tenants"] = (
        tenant("acme", ("a-newer-secret-0123456789", ACME)),
        tenant("beta", (BETA,)),
    )
    assert set(ring()) == {"acme", "beta"}
    old = issue(TokenKeys([ACME]), "open", "acme", "<m@x>", "a@example.net")
    assert links.verify_for(ring(), old, "open").tenant == "acme"  # rotation: old links still work


def test_mailto_local_part_round_trip():
    local = unsubscribe.local_part(KEYS["beta"], "beta", "camp-7", "Reader@Example.net")
    assert local.startswith("unsubscribe+")
    assert unsubscribe.read_local_part(local, KEYS) == ("beta", "Reader@Example.net")
    # The prefix's case does not matter; the token's does (base64url).
    assert unsubscribe.read_local_part("UNSUBSCRIBE+" + local[12:], KEYS)[0] == "beta"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda local: "unsubscribe+" + flipped(local[12:], 30),
        lambda local: "unsubscribe+" + truncated(local[12:]),
        lambda local: local.lower(),
        lambda local: "bounces+" + local[12:],
        lambda local: local + "x",
    ],
)
def test_mailto_refuses_what_it_did_not_issue(mangle):
    local = unsubscribe.local_part(KEYS["acme"], "acme", "camp-7", "reader@example.net")
    with pytest.raises(BadToken):
        unsubscribe.read_local_part(mangle(local), KEYS)


def _ctr_only(secret: str, token: str) -> bytes:
    """Decrypt a token's ciphertext the way SIV does, minus the tag check (RFC 5297 §2.7)."""
    import base64

    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    key = hmac.digest(secret.encode(), b"sluice token key v1", "sha512")
    iv = bytearray(raw[2:18])
    iv[8] &= 0x7F
    iv[12] &= 0x7F
    decryptor = Cipher(algorithms.AES(key[32:]), modes.CTR(bytes(iv))).decryptor()
    return decryptor.update(raw[18:]) + decryptor.finalize()


def test_a_recipient_spliced_in_under_the_encryption_is_refused():
    ref = links.message_ref("camp-7", "<m@x>")
    token = issue(KEYS["acme"], "unsubscribe", "acme", ref, "alice@example.net")
    forged = recipient_swapped(token, "acme", ref, "alice@example.net", "carol@example.net")
    # Without the MAC the splice would work: the plaintext now names carol...
    assert b"carol@example.net" in _ctr_only(ACME, forged)
    assert b"alice@example.net" in _ctr_only(ACME, token)
    # ...and the synthetic IV refuses it.
    with pytest.raises(BadToken):
        verify(KEYS["acme"], forged, "unsubscribe")
    with pytest.raises(BadToken):
        links.verify_for(KEYS, forged, "unsubscribe")
