"""SMTP AUTH costs the same scrypt for an unknown user as for a wrong password."""

from __future__ import annotations

import hashlib

import conf
from policy import passwords
from policy.tenants import Directory

HASH = passwords.hash_password("right password", n=2**10)
CONFIG = f"""
tenants:
  - {{name: acme, pool: acme, sender_domains: [a.example],
     credentials: [{{username: known, password_hash: "{HASH}"}}]}}
pools:
  acme: [{{ip: 192.0.2.10, vmta: acme-1, hostname: h1}}]
"""


def test_an_unknown_user_is_checked_like_a_wrong_password(monkeypatch):
    directory = Directory(conf.parse(CONFIG, environ={}))
    calls: list[tuple[int, int, int]] = []
    real = hashlib.scrypt

    def counting(password, *, salt, n, r, p, dklen, **kw):
        calls.append((n, r, p))
        return real(password, salt=salt, n=n, r=r, p=p, dklen=dklen)

    monkeypatch.setattr(passwords.hashlib, "scrypt", counting)
    assert directory.authenticate("known", b"wrong password") is None
    assert directory.authenticate("nobody", b"wrong password") is None
    assert calls == [(2**10, 8, 1), (2**10, 8, 1)]  # one check each, at the same cost
    assert directory.authenticate("known", b"right password") is not None


def test_no_password_matches_the_decoy():
    assert not passwords.verify_password("", passwords.decoy(HASH))
    assert not passwords.verify_password("right password", passwords.decoy(HASH))
    assert passwords.decoy(None).split("$")[1:4] == [str(passwords.N), "8", "1"]
    assert passwords.decoy("not a hash").split("$")[1] == str(passwords.N)
