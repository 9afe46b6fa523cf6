"""Tracking, unsubscribe and Feedback-ID settings: loaded per tenant, refused with path and line."""

from pathlib import Path

import pytest

import conf
from conf.schema import FeedbackIdSettings, TrackingSettings, UnsubscribeSettings

EXAMPLE = Path(conf.__file__).with_name("sluice.example.yaml")
SECRET = "a-tracking-secret-of-32-characters"

HEAD = """\
tenants:
  - name: acme
    pool: acme
    trusted_networks: [10.0.0.0/8]
    sender_domains: [acme-mail.com]
    bounce_domain: bounce.acme-mail.com
"""
TAIL = """\
pools:
  acme: [{ip: 192.0.2.1, vmta: a1, hostname: mta1.example}]
"""


def parse(tenant_extra: str, environ: dict[str, str] | None = None) -> conf.Settings:
    return conf.parse(HEAD + tenant_extra + TAIL, environ=environ or {})


def problems(tenant_extra: str) -> list[str]:
    with pytest.raises(conf.ConfigError) as err:
        parse(tenant_extra)
    return err.value.problems


def test_a_full_tenant_block_loads_with_secrets_from_the_environment():
    settings = parse(
        """\
    tracking:
      base_url: "https://t.acme-mail.com/"
      opens: false
      secrets: ["${KEY}", "an-older-secret-still-verifying"]
      exclude: ["*.acme-mail.com/account/*"]
      rewrite_text: true
    unsubscribe: {headers: replace, mailto: false}
    feedback_id: {sender_id: acmemail, mail_type: news}
""",
        {"KEY": SECRET},
    )
    tenant = settings.tenants[0]
    assert tenant.tracking == TrackingSettings(
        base_url="https://t.acme-mail.com/",
        opens=False,
        secrets=(SECRET, "an-older-secret-still-verifying"),
        exclude=("*.acme-mail.com/account/*",),
        rewrite_text=True,
    )
    assert tenant.unsubscribe == UnsubscribeSettings(headers="replace", mailto=False)
    assert tenant.feedback_id == FeedbackIdSettings(sender_id="acmemail", mail_type="news")


def test_absent_blocks_leave_messages_alone():
    tenant = parse("").tenants[0]
    assert tenant.tracking is None and tenant.unsubscribe is None and tenant.feedback_id is None


def test_tracking_needs_long_enough_secrets():
    assert problems('    tracking: {base_url: "https://t.acme-mail.com"}\n') == [
        "tenants[0].tracking.secrets: at least one secret is required, e.g. "
        '["${SLUICE_TRACKING_KEY}"] (line 7)'
    ]
    found = problems(
        f'    tracking:\n      base_url: "https://t.x"\n      secrets: ["{SECRET}", short]\n'
    )
    assert found == ["tenants[0].tracking.secrets[1]: at least 16 characters (line 9)"]
    # The secret itself is never echoed into logs.
    assert "short" not in found[0]


@pytest.mark.parametrize(
    "base", ["ftp://t.acme-mail.com", "https://", "https://t.acme-mail.com/a b", "t.acme-mail.com"]
)
def test_base_url_must_be_a_plain_http_url(base):
    found = problems(f'    tracking: {{base_url: "{base}", secrets: ["{SECRET}"]}}\n')
    assert found == [
        'tenants[0].tracking.base_url: must be a plain http(s) URL, e.g. "https://t.acme-mail.com"'
        " (line 7)"
    ]


def test_unsubscribe_links_need_the_tracking_keys():
    assert problems("    unsubscribe: {headers: add}\n") == [
        "tenants[0].unsubscribe: needs a tracking block: its base_url and secrets (line 7)"
    ]
    # "keep" adds nothing, so it needs no keys.
    assert parse("    unsubscribe: {headers: keep}\n").tenants[0].unsubscribe.headers == "keep"


def test_header_policies_and_sender_id_are_checked():
    found = problems(
        f'    tracking: {{base_url: "https://t.x", secrets: ["{SECRET}"]}}\n'
        "    unsubscribe: {headers: sometimes}\n"
        "    feedback_id: {sender_id: abc, mail_type: 'a:b'}\n"
    )
    assert found == [
        "tenants[0].unsubscribe.headers: must be one of add, replace, keep (line 8)",
        "tenants[0].feedback_id.sender_id: Google's SenderId: 5 to 15 letters, digits, '.', '_'"
        " or '-' (line 9)",
        "tenants[0].feedback_id.mail_type: use letters, digits, '.', '_' and '-' (line 9)",
    ]


def test_the_example_documents_every_new_key():
    text = EXAMPLE.read_text()
    for cls in (TrackingSettings, UnsubscribeSettings, FeedbackIdSettings):
        for name in cls.model_fields:
            assert f"{name}:" in text, f"{cls.__name__}.{name} is not in the example"
    for block in ("tracking:", "unsubscribe:", "feedback_id:"):
        assert f"    {block}" in text
