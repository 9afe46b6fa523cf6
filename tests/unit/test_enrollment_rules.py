"""The pure rules of auto-enrollment: prospect parsing and flags, batch dedup, the
eligibility order (the first failing rule is the reason), the choice score, throttles."""

from __future__ import annotations

from datetime import UTC, datetime

from conf.schema.enrollment import TenantEnrollment
from policy.enrollment import eligibility, prospects, throttle
from policy.enrollment import settings as es
from policy.enrollment.choice import Candidate, choose, score
from policy.enrollment.eligibility import Facts
from policy.enrollment.prospects import ProspectRow, dedupe, merge, parse
from policy.scenarios.contacts import Contact
from policy.scenarios.definition import Scenario

DAY = 86400.0
NOW = 1_800_000_000.0


def row(**kw) -> ProspectRow:
    base = dict(tenant="acme", email="ann@blog.example", site="", source="s", fingerprint="f",
                mx="ok", role=False, disposable=False)  # fmt: skip
    return ProspectRow(**{**base, **kw})


def contact(**kw) -> Contact:
    base = dict(tenant="acme", email="ann@blog.example", language="fr", country="FR",
                category="blogger", tier=1, score=80.0)  # fmt: skip
    return Contact(**{**base, **kw})


LOOSE = TenantEnrollment(min_score=None, max_tier=None, require_verified=False)


def test_parse_reads_name_site_and_flags():
    p, why = parse("acme", {"email": "Info@Media.Example", "name": "Ann Marie Martin",
                            "domain": "HTTPS://www.Media.example/about"}, "scraper")  # fmt: skip
    assert why == "" and p is not None
    assert (p.email, p.site, p.role, p.disposable) == ("info@media.example", "media.example",
                                                       True, False)  # fmt: skip
    assert (p.contact.first_name, p.contact.last_name, p.contact.source) == (
        "Ann", "Marie Martin", "scraper",
    )  # fmt: skip
    assert parse("acme", {"email": "x@yopmail.com"}, "s")[0].disposable
    assert parse("acme", {"email": "x"}, "s") == (
        None,
        "email: 'x' is not an address (local@domain)",
    )
    assert parse("acme", {"email": "a@b.example", "domain": "not a domain"}, "s")[1].startswith(
        "domain:"
    )
    assert parse("acme", {"email": "a@b.example", "score": 101}, "s")[1].startswith("score:")
    assert parse("acme", {"mail": "a@b.example"}, "s")[1].startswith("mail: unknown field")


def test_dedupe_by_email_then_by_site():
    ps = [parse("acme", item, "s")[0] for item in (
        {"email": "a@x.example", "domain": "site.example"},
        {"email": "A@x.example"},
        {"email": "b@x.example", "domain": "www.site.example"},
        {"email": "c@x.example"},
    )]  # fmt: skip
    assert dedupe([*ps, None]) == [False, True, True, False, False]


def test_merge_unchanged_updated_and_never_twice_enrolled():
    new = row(fingerprint="f1")
    assert merge(None, new, 5.0)[0] == "created"
    old = row(fingerprint="f1", status="blocked", reason="x", created=1.0, decided=2.0)
    assert merge(old, new, 5.0) == ("unchanged", old)
    answer, kept = merge(old, row(fingerprint="f2"), 5.0)
    assert (answer, kept.status, kept.reason, kept.created, kept.decided) == (
        "updated", "ready", "", 1.0, None,
    )  # fmt: skip
    enrolled = row(fingerprint="f1", status="enrolled", scenario="s", decided=2.0)
    _, kept = merge(enrolled, row(fingerprint="f2"), 5.0)
    assert (kept.status, kept.scenario, kept.decided) == ("enrolled", "s", 2.0)


def blocked(facts: Facts, s: TenantEnrollment = LOOSE) -> str | None:
    found = eligibility.first_failure(facts, s)
    return found.rule if found else None


def test_eligibility_rules_in_their_stated_order():
    assert eligibility.ORDER == (
        "contact", "do_not_contact", "suppressed", "disposable", "role", "verified", "score",
        "tier", "category", "language", "already_enrolled", "scenario",
    )  # fmt: skip
    strict = TenantEnrollment(min_score=50, max_tier=2, categories=("media",), languages=("en",),
                              require_verified=True)  # fmt: skip
    worst = Facts(row(role=True, disposable=True, mx="unknown"),
                  contact(status="do_not_contact", score=10, tier=9), suppressed=True,
                  enrolled_in="intro")  # fmt: skip
    # Each rule fixed in turn reveals the next one: the first failing rule is the reason.
    steps = [
        ("do_not_contact", {"contact": contact(score=10, tier=9)}),
        ("suppressed", {"suppressed": False}),
        ("disposable", {"prospect": row(role=True, mx="unknown")}),
        ("role", {"prospect": row(mx="unknown")}),
        ("verified", {"prospect": row()}),
        ("score", {"contact": contact(tier=9)}),
        ("tier", {"contact": contact()}),
        ("category", {"contact": contact(category="media")}),
        ("language", {"contact": contact(category="media", language="en")}),
        ("already_enrolled", {"enrolled_in": ""}),
        ("scenario", {"scenario": "intro"}),
    ]
    facts = worst
    for rule, fix in steps:
        assert blocked(facts, strict) == rule
        facts = Facts(**{**facts.__dict__, **fix})
    assert blocked(facts, strict) is None
    assert blocked(Facts(row(), None)) == "contact"
    # Unknown score and tier fail their rules; no rule when the setting is null.
    assert blocked(Facts(row(), contact(score=None), scenario="x"), strict) == "score"
    assert blocked(Facts(row(), contact(score=None, tier=None), scenario="x")) is None
    # Role addresses pass when allowed; the reason reads as "rule: reason".
    allowed = TenantEnrollment(allow_role=True, require_verified=False, min_score=None)
    assert blocked(Facts(row(role=True), contact(tier=1), scenario="x"), allowed) is None
    text = str(eligibility.first_failure(Facts(row(), contact(score=10), scenario="x"), strict))
    assert text == "score: score 10 is below 50"
    assert eligibility.first_failure(Facts(row(), contact()), LOOSE, upto="scenario") is None


def scenario(name: str, **kw) -> Scenario:
    body = {"name": name, "from": "a@a.example", "auto_enroll": kw.pop("auto_enroll", {}),
            "steps": [{"id": "s", "trigger": "entry", "template": "t"}], **kw}  # fmt: skip
    return Scenario.model_validate(body)


def cand(name: str, active: int = 0, age_days: float = 100, **kw) -> Candidate:
    return Candidate(name, scenario(name, **kw), active, NOW - age_days * DAY)


def test_choice_language_must_match_and_filters_exclude():
    c = contact()
    assert score(c, cand("en", filters={"languages": ["en"]}), NOW) is None
    assert score(c, cand("off", auto_enroll=None), NOW) is None
    assert score(c, cand("de", filters={"countries": ["DE"]}), NOW) is None
    assert score(c, cand("t2", auto_enroll={"tiers": [2, 3]}), NOW) is None
    assert choose(c, [cand("en", filters={"languages": ["en"]})], NOW) is None


def test_choice_score_parts():
    c = contact()
    base = score(c, cand("any", age_days=1e6), NOW)
    assert base == 0.0  # no targeting, no load, long ago
    parts = {
        "language": ({"filters": {"languages": ["fr"]}}, 40),
        "category": ({"filters": {"categories": ["blogger"]}}, 20),
        "country": ({"filters": {"countries": ["FR"]}}, 10),
        "tier": ({"auto_enroll": {"tiers": [1]}}, 15),
        "priority": ({"priority": 7}, 7),
    }
    for name, (kw, points) in parts.items():
        assert score(c, cand(name, age_days=1e6, **kw), NOW) == points, name
    assert score(c, cand("load", active=100, age_days=1e6), NOW) == -10
    assert score(c, cand("new", age_days=0), NOW) == 5
    assert score(c, cand("month", age_days=30), NOW) == 2.5


def test_choice_prefers_targeting_then_load_then_name():
    c = contact()
    targeted = cand("b-fr", filters={"languages": ["fr"]}, active=500)
    generic = cand("a-any")
    assert choose(c, [generic, targeted], NOW).name == "b-fr"
    # Equal but for load: fewer active enrollments wins.
    busy, quiet = cand("x", active=50), cand("y", active=5)
    assert choose(c, [busy, quiet], NOW).name == "y"
    # Equal in everything: the name decides, whatever the order given.
    one, two = cand("beta"), cand("alpha")
    assert choose(c, [one, two], NOW).name == choose(c, [two, one], NOW).name == "alpha"


def test_throttle_room_and_day_start():
    s = TenantEnrollment(max_per_hour=5, max_per_day=8)
    assert throttle.room(s, 0, 0) == 5
    assert throttle.room(s, 2, 6) == 2
    assert throttle.room(s, 9, 0) == 0
    at = datetime(2026, 6, 1, 23, 30, tzinfo=UTC).timestamp()
    assert throttle.day_start(at, "UTC") == datetime(2026, 6, 1, tzinfo=UTC).timestamp()
    # 23:30 UTC is already 01:30 the next day in Paris (summer time).
    assert (
        throttle.day_start(at, "Europe/Paris") == datetime(2026, 6, 1, 22, tzinfo=UTC).timestamp()
    )


def test_settings_runtime_changes_win_over_the_file():
    initial = TenantEnrollment(enabled=False, max_per_hour=50)
    text = es.changed(None, {"enabled": True})
    text = es.changed(text, {"max_per_hour": 7})
    s = es.effective(initial, text)
    assert (s.enabled, s.max_per_hour, s.max_per_day) == (True, 7, 500)
    assert es.effective(initial, None) is initial
    assert prospects.MAX_BATCH == 500
