"""The replies: section and a tenant's reply_domain: defaults, cross-checks, secrets."""

from __future__ import annotations

import pytest

import conf

TENANT = """
pools: {p: [{ip: 192.0.2.1, vmta: v1, hostname: mta1.acme-mail.com}]}
tenants:
  - name: acme
    pool: p
    sender_domains: [acme-mail.com]
    trusted_networks: [127.0.0.1/32]
    reply_domain: reply.acme-mail.com
    tracking: {base_url: "https://t.acme-mail.com", secrets: ["0123456789abcdef0123"]}
"""


def test_defaults():
    s = conf.parse("log_level: info\n", environ={})
    assert s.replies.enabled and s.replies.min_confidence == 0.7
    assert s.replies.out_of_office_delay == 7 * 86400.0 and s.replies.mailboxes == ()


def test_reply_domain_and_a_mailbox():
    text = TENANT + (
        "replies:\n  mailboxes:\n    - {tenant: acme, host: 127.0.0.1, port: 1143, tls: false,\n"
        '       username: u, password: "${IMAP_PW}", interval: 5}\n'
    )
    s = conf.parse(text, environ={"IMAP_PW": "s3cret-pw"})
    assert s.tenants[0].reply_domain == "reply.acme-mail.com"
    box = s.replies.mailboxes[0]
    assert (box.host, box.port, box.tls, box.password, box.folder) == (
        "127.0.0.1", 1143, False, "s3cret-pw", "INBOX",
    )  # fmt: skip
    assert "s3cret-pw" not in repr(s)


def test_cross_checks():
    with pytest.raises(conf.ConfigError) as err:
        conf.parse(TENANT.replace("    tracking:", "    #"), environ={})
    assert "reply_domain: needs a tracking block" in str(err.value)
    with pytest.raises(conf.ConfigError) as err:
        conf.parse(
            TENANT + "replies:\n  mailboxes: [{tenant: nobody, host: h, username: u}]\n",
            environ={},
        )
    text = str(err.value)
    assert "replies.mailboxes[0].tenant: no tenant named 'nobody'" in text
    with pytest.raises(conf.ConfigError) as err:
        conf.parse(
            TENANT + "replies:\n  mailboxes: [{tenant: acme, host: h, username: u,"
            " password: pw}]\n",
            environ={},
        )
    assert "password must come from the environment" in str(err.value)
    with pytest.raises(conf.ConfigError):
        conf.parse("replies: {min_confidence: 1.5}\n", environ={})
