"""VERP tokens and the pure feedback decisions: what a bounce or complaint does."""

import time

from policy.bounces import parse
from policy.feedback import decision as feedback
from policy.feedback import verp
from policy.feedback.decision import Feedback
from policy.suppression import Suppression
from policy.tokens import TokenKeys
from tests.support.feedback import arf, dsn

KEYS = verp.keys_for(("verp-secret-0123456789",))
ORIGIN = verp.Origin("acme", "<m1@acme-mail.com>", "bob@example.net", "192.0.2.10", "camp 42")


def test_verp_address_round_trips_tenant_message_recipient_ip_and_job():
    addr = verp.address(KEYS, ORIGIN, "Bounce.Acme-Mail.com")
    assert addr.startswith("bounces+") and addr.endswith("@bounce.acme-mail.com")
    assert "bob" not in addr  # the recipient is encrypted, not readable
    back = verp.read(KEYS, f"<{addr}>")
    assert back == verp.Origin(
        "acme", "<m1@acme-mail.com>", "bob@example.net", "192.0.2.10", "camp42"
    )


def test_verp_refuses_forged_altered_and_foreign_tokens():
    addr = verp.address(KEYS, ORIGIN, "b.example")
    local, _, domain = addr.partition("@")
    flipped = local[:-3] + ("A" if local[-3] != "A" else "B") + local[-2:]
    assert verp.read(KEYS, f"{flipped}@{domain}") is None
    assert verp.read(TokenKeys(["another-secret-0000000"]), addr) is None
    assert verp.read(KEYS, "postmaster@b.example") is None
    assert verp.read(KEYS, "bounces+garbage@b.example") is None


def test_verp_tokens_found_in_a_quoted_return_path():
    addr = verp.address(KEYS, ORIGIN, "b.example")
    raw = arf("fbl@b.example", "bob@example.net", addr)
    assert verp.find_in(KEYS, raw) == [verp.read(KEYS, addr)]
    assert verp.find_in(KEYS, b"\x00\xff bounces+AAAAAAAAAAAAAAAAAAAAAAAAAAAA@x" * 1000) == []


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


def test_the_token_recipient_wins_over_a_forwarded_address():
    item = fb(dsn("x@b.example", "bob@forward.example"))
    assert item.recipient == "bob@example.net"
    shared = verp.Origin("acme", "<m>", "", "192.0.2.10")
    assert fb(dsn("x@b.example", "Carol@Example.net"), shared).recipient == "carol@example.net"


def test_match_reports_to_origins():
    a = verp.Origin("acme", "<m>", "a@example.net", "192.0.2.10")
    b = verp.Origin("acme", "<m>", "b@example.net", "192.0.2.10")
    shared = verp.Origin("acme", "<n>", "", "192.0.2.11")
    (ra,) = parse(dsn("x@b.example", "a@example.net"))
    (rb,) = parse(dsn("x@b.example", "b@example.net"))
    (rc,) = parse(dsn("x@b.example", "c@example.net"))
    assert feedback.match([ra, rb], [b, a]) == [a, b]
    assert feedback.match([rc], [a]) == [a]  # one for one: a forward
    assert feedback.match([rc, ra], [a]) == [None, a]
    assert feedback.match([rc, ra], [shared]) == [shared, shared]
    assert feedback.match([ra], []) == [None]


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
