"""VERP tokens and the pure feedback decisions: what a bounce or complaint does."""

import time

from policy.bounces import parse
from policy.feedback import decision as feedback
from policy.feedback import verp
from policy.feedback.decision import Feedback
from policy.suppression import Suppression
from policy.tokens import TokenKeys, issue
from tests.support.feedback import arf, dsn

KEYS = verp.keys_for(("verp-secret-0123456789",))
VERIFIER = verp.Verifier(KEYS, verp.Known(("acme", "other"), ("192.0.2.10", "192.0.2.11")))
ORIGIN = verp.Origin("acme", "<m1@acme-mail.com>", "bob@example.net", "192.0.2.10", "camp 42")


def test_verp_address_round_trips_tenant_message_recipient_ip_and_job():
    addr = verp.address(KEYS, ORIGIN, "Bounce.Acme-Mail.com")
    assert addr.startswith("bounces+") and addr.endswith("@bounce.acme-mail.com")
    assert "bob" not in addr  # the recipient is bound by a MAC, not readable
    local = addr.partition("@")[0]
    assert len(local.encode()) <= 64  # RFC 5321's local part
    text = verp.token_of(f"<{addr}>")
    back = verp.origin_for(
        VERIFIER, text, "Bob@Example.net", message_id="<m1@acme-mail.com>", job="camp 42"
    )
    assert back == ORIGIN
    # A case-folding receiver does not break it.
    assert verp.origin_for(VERIFIER, text.upper(), "bob@example.net") is not None


def test_verp_refuses_forged_altered_foreign_expired_and_other_recipients():
    text = verp.token_of(verp.address(KEYS, ORIGIN, "b.example"))
    flipped = text[:-3] + ("a" if text[-3] != "a" else "b") + text[-2:]
    assert verp.origin_for(VERIFIER, flipped, "bob@example.net") is None
    other = verp.Verifier(verp.keys_for(("another-secret-0000000",)), VERIFIER.known)
    assert verp.origin_for(other, text, "bob@example.net") is None
    assert verp.origin_for(VERIFIER, text, "carol@example.net") is None
    assert verp.origin_for(VERIFIER, text, "") is None
    assert verp.origin_for(VERIFIER, "garbage", "bob@example.net") is None
    assert verp.token_of("postmaster@b.example") is None
    later = time.time() + 30 * 86400 + 60
    assert verp.origin_for(VERIFIER, text, "bob@example.net", now=later) is None


def test_old_format_tokens_verify_for_their_recipient_until_they_expire():
    legacy = TokenKeys(["verp-secret-0123456789"])
    one = issue(legacy, "verp", "acme", "<m0>", "bob@example.net", url="192.0.2.10 c1")
    shared = issue(legacy, "verp", "acme", "<m0>", "", url="192.0.2.10 c1")
    got = verp.origin_for(VERIFIER, one, "bob@example.net")
    assert got == verp.Origin("acme", "<m0>", "bob@example.net", "192.0.2.10", "c1")
    assert verp.origin_for(VERIFIER, one, "carol@example.net") is None
    assert verp.origin_for(VERIFIER, shared, "carol@example.net") is None  # binds nobody
    old = issue(legacy, "verp", "acme", "<m0>", "bob@example.net", issued_at=1_000_000)
    assert verp.origin_for(VERIFIER, old, "bob@example.net") is None


def test_verp_tokens_found_in_a_quoted_return_path():
    addr = verp.address(KEYS, ORIGIN, "b.example")
    raw = arf("fbl@b.example", "bob@example.net", addr)
    assert verp.tokens_in(raw) == [verp.token_of(addr)]
    assert verp.tokens_in(b"\x00\xff bounces+AAAAAAAAAAAAAAAAAAAAAAAAAAAA@x" * 1000) == [
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    ]


def fb(raw: bytes, origin: verp.Origin = ORIGIN, i: int = 0) -> Feedback:
    (report,) = parse(raw)
    return Feedback(origin, report, "dsn", f"k{i}", time.time())


def test_hard_bounce_suppresses_the_recipient():
    d = feedback.decide(fb(dsn("x@b.example", "bob@example.net")))
    assert d.event == "bounced" and d.ip_signal == "bounce" and not d.count_soft
    assert d.suppress is not None and d.suppress.reason == "hard_bounce"
    assert (d.suppress.tenant, d.suppress.address) == ("acme", "bob@example.net")
    assert d.suppress.expires_at is None


def test_reputation_block_marks_the_ip_never_the_recipient():
    text = "smtp; 550-5.7.1 very low reputation of the sending IP address. Blocked."
    d = feedback.decide(fb(dsn("x@b.example", "bob@gmail.com", status="5.7.1", diagnostic=text)))
    assert d.event == "bounced" and d.ip_signal == "block"
    assert d.suppress is None and not d.count_soft
    ms = "smtp; 550 5.7.515 Access denied, sending domain does not meet the required authentication"
    d = feedback.decide(fb(dsn("x@b.example", "bob@outlook.com", status="5.7.515", diagnostic=ms)))
    assert d.suppress is None and not d.count_soft


def test_soft_bounces_count_and_suppress_with_expiry_at_the_limit():
    item = fb(dsn("x@b.example", "bob@example.net", status="4.2.2", diagnostic="smtp; 452 full"))
    d = feedback.decide(item)
    assert d.event == "bounced" and d.count_soft and d.suppress is None
    assert feedback.soft_suppression(item, 2, 3, 86400) is None
    entry = feedback.soft_suppression(item, 3, 3, 86400)
    assert entry is not None and entry.reason == "soft_bounce"
    assert entry.expires_at == item.at + 86400


def test_complaint_suppresses_and_counts_for_the_ip():
    d = feedback.decide(fb(arf("fbl@b.example", "bob@example.net", "x@b.example")))
    assert d.event == "complained" and d.ip_signal == "complaint"
    assert d.suppress is not None and d.suppress.reason == "complaint"


def test_delayed_dsn_is_a_deferral_not_a_bounce():
    raw = dsn("x@b.example", "bob@example.net", status="4.4.7", action="delayed")
    d = feedback.decide(fb(raw))
    assert d.event == "delayed" and d.ip_signal == "deferral" and d.suppress is None


def test_feedback_event_carries_the_original_message():
    item = fb(dsn("x@b.example", "bob@example.net"))
    event = feedback.event(item, "bounced")
    assert (event.ip, event.tenant, event.message_id, event.job) == (
        "192.0.2.10",
        "acme",
        "<m1@acme-mail.com>",
        "camp 42",
    )
    assert event.recipients == ("bob@example.net",) and event.provider == "other"
    assert event.reply == "5.1.1 userunknown"


def test_match_acts_only_on_the_recipient_a_token_names():
    a = verp.Origin("acme", "", "a@example.net", "192.0.2.10")
    b = verp.Origin("acme", "", "b@example.net", "192.0.2.10")
    ta = verp.token_of(verp.address(KEYS, a, "b.example"))
    tb = verp.token_of(verp.address(KEYS, b, "b.example"))
    (ra,) = parse(dsn("x@b.example", "a@example.net"))
    (rb,) = parse(dsn("x@b.example", "b@example.net"))
    (rc,) = parse(dsn("x@b.example", "c@example.net"))

    def check(text, report):
        return verp.origin_for(VERIFIER, text, report.recipient)

    assert feedback.match([ra, rb], [tb, ta], check) == [a, b]
    assert feedback.match([rc], [ta], check) == [None]  # a forward is not ours to suppress
    assert feedback.match([rc, ra], [ta], check) == [None, a]
    assert feedback.match([ra], [], check) == [None]


def test_a_weaker_entry_never_replaces_a_stronger_one():
    now = time.time()
    hard = Suppression("acme", "b@example.net", "hard_bounce", created_at=now - 10)
    soft = Suppression("acme", "b@example.net", "soft_bounce", created_at=now, expires_at=now + 60)
    later = Suppression("acme", "b@example.net", "soft_bounce", created_at=now, expires_at=now + 99)
    assert feedback.supersedes(hard, None, now)
    assert not feedback.supersedes(soft, hard, now)
    assert feedback.supersedes(hard, soft, now)
    assert feedback.supersedes(later, soft, now) and not feedback.supersedes(soft, later, now)
    expired = Suppression(
        "acme", "b@example.net", "soft_bounce", created_at=now - 9, expires_at=now - 1
    )
    assert feedback.supersedes(soft, expired, now)
