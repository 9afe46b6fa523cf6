"""Reading blocklist answers, canaries and confirmation: pure, no DNS."""

from __future__ import annotations

import pytest

import conf
from conf.schema.reputation import DnsList, ReputationSettings, default_lists
from policy.reputation import answers
from policy.reputation.answers import Reading, Status
from policy.reputation.confirm import Change, step

ZEN = next(dl for dl in default_lists() if dl.zone.endswith("zen.dq.spamhaus.net"))
URIBL = next(dl for dl in default_lists() if dl.zone == "multi.uribl.com")


@pytest.mark.parametrize(
    ("dnslist", "records", "status"),
    [
        (ZEN, [], Status.CLEAN),
        (ZEN, ["127.0.0.2"], Status.LISTED),
        (ZEN, ["127.0.0.4", "127.0.0.2"], Status.LISTED),
        (ZEN, ["127.0.0.10"], Status.POLICY),
        (ZEN, ["127.0.0.11"], Status.POLICY),
        (ZEN, ["127.0.0.2", "127.0.0.10"], Status.LISTED),
        *[(ZEN, [f"127.255.255.{n}"], Status.ERROR) for n in (250, 251, 252, 254, 255)],
        (ZEN, ["127.0.0.2", "127.255.255.254"], Status.ERROR),  # mixed: not trusted
        (ZEN, ["127.0.0.200"], Status.UNKNOWN),
        (ZEN, ["10.0.0.1"], Status.UNKNOWN),  # outside 127/8: a resolver's rewrite
        (ZEN, ["0.0.0.0"], Status.UNKNOWN),  # a Pi-hole's block answer
        (URIBL, ["127.0.0.1"], Status.ERROR),  # query refused
        (URIBL, ["127.0.0.2"], Status.LISTED),
    ],
)
def test_an_answer_reads_as_its_list_documents(dnslist, records, status):
    assert answers.read(dnslist, records).status is status


def test_a_wide_listed_range_does_not_swallow_an_error_code():
    wide = DnsList(zone="x.test", listed=("127.0.0.0/8",), errors=("127.255.255.254",))
    assert answers.read(wide, ["127.255.255.254"]).status is Status.ERROR


def test_the_canary_needs_the_positive_listed_and_the_negative_clean():
    listed, clean = Reading(Status.LISTED, "127.0.0.2"), Reading(Status.CLEAN, "")
    assert answers.canary(listed, clean) is None
    assert "lists the world" in (answers.canary(listed, listed) or "")
    assert "positive" in (answers.canary(clean, clean) or "")
    assert "negative" in (answers.canary(listed, answers.failed("timeout")) or "")


def test_confirmation_takes_consecutive_cycles_and_errors_neither_confirm_nor_break():
    listed, clean = Reading(Status.LISTED, "127.0.0.2"), Reading(Status.CLEAN, "")
    error = answers.failed("timeout")
    s, change = step(None, "192.0.2.1", "z", "ip", listed, 2, 1.0)
    assert (s.listed, s.streak, change) == (False, 1, None)
    s, change = step(s, "192.0.2.1", "z", "ip", error, 2, 2.0)
    assert (s.listed, s.streak, change, s.status) == (False, 1, None, "error")
    s, change = step(s, "192.0.2.1", "z", "ip", listed, 2, 3.0)
    assert (s.listed, change, s.first_seen) == (True, Change.LISTED, 1.0)
    s, change = step(s, "192.0.2.1", "z", "ip", clean, 2, 4.0)
    assert (s.listed, change) == (True, None)
    s, change = step(s, "192.0.2.1", "z", "ip", listed, 2, 5.0)
    assert (s.listed, s.streak) == (True, 0)  # a run of clean readings is broken
    policy = Reading(Status.POLICY, "127.0.0.10")
    s, _ = step(s, "192.0.2.1", "z", "ip", policy, 2, 6.0)
    s, change = step(s, "192.0.2.1", "z", "ip", policy, 2, 7.0)
    assert (s.listed, change) == (False, Change.DELISTED)


def test_spamhaus_is_off_without_a_dqs_key(monkeypatch):
    monkeypatch.delenv("SPAMHAUS_DQS_KEY", raising=False)
    zones = [dl.zone for dl in ReputationSettings().lists if dl.enabled]
    assert not any("spamhaus" in z for z in zones)
    assert "bl.mailspike.net" in zones and "b.barracudacentral.org" in zones
    assert not any(n in " ".join(zones) for n in ("sorbs", "manitu", "abuseat", "rep.mailspike"))
    monkeypatch.setenv("SPAMHAUS_DQS_KEY", "k3y")
    zones = [dl.zone for dl in ReputationSettings().lists if dl.enabled]
    assert "k3y.zen.dq.spamhaus.net" in zones and "k3y.dbl.dq.spamhaus.net" in zones


def test_bad_codes_and_resolver_are_refused_with_their_key_paths():
    with pytest.raises(conf.ConfigError) as err:
        conf.parse(
            """
reputation:
  lists:
    - {zone: a.test, listed: ["127.0.0.9-127.0.0.2"]}
    - {zone: b.test, kind: domain, action: quarantine}
""",
            environ={},
        )
    text = str(err.value)
    assert "reputation.lists[0].listed[0]" in text
    assert "reputation.lists[1].action" in text
    with pytest.raises(conf.ConfigError, match=r"reputation.resolver: use host:port"):
        conf.parse('reputation:\n  resolver: "localhost"\n  lists: []\n', environ={})


def test_a_zone_takes_its_key_from_the_environment():
    s = conf.parse(
        'reputation:\n  lists:\n    - {zone: "${KEY:-}.zen.dq.spamhaus.net"}\n',
        environ={"KEY": "abc"},
    )
    assert s.reputation is not None and s.reputation.lists[0].zone == "abc.zen.dq.spamhaus.net"
    off = conf.parse(
        'reputation:\n  lists:\n    - {zone: "${KEY:-}.zen.dq.spamhaus.net"}\n', environ={}
    )
    assert off.reputation is not None and not off.reputation.lists[0].enabled
