"""The whole DNS authentication check (scheduler/reputation/dnsauth.py) on loopback zones."""

from __future__ import annotations

import pytest

from conf import load
from policy.reputation import dmarc, dnsauth
from scheduler.reputation.dnsauth import DnsCheck, run_check
from tests.support import dnsauth_zones as z
from tests.support.dns_server import DnsServer

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> z.Keys:
    return z.Keys(tmp_path_factory.mktemp("keys"))


async def checked(tmp_path, keys: z.Keys, tenant: str | None = None):
    async with DnsServer(**z.zones(keys)) as server:
        settings = load(z.config(tmp_path, server.port, keys))
        report = await run_check(settings, tenant)
    return {r.target: r for r in report.reports}, report


async def test_the_right_records_pass_with_notes(tmp_path, keys) -> None:
    found, report = await checked(tmp_path, keys)
    good = found["good.test"]
    assert good.tenant == "acme" and good.problems == []
    assert "DKIM of good.test, selector rsa: key matches" in good.notes  # RSA 2048, two strings
    assert "DKIM of good.test, selector ed: key matches" in good.notes
    assert "DMARC of good.test: p=reject from _dmarc.good.test, adkim=s, aspf=r" in good.notes
    assert found["bounce.good.test"].problems == []
    assert "MX of bounce.good.test reaches mx.good.test" in found["bounce.good.test"].notes
    assert found["t.good.test"].problems == []
    assert found[z.COVERED].problems == []
    assert found[z.COVERED].notes == [f"PTR of {z.COVERED}: mta1.good.test, forward-confirmed"]
    assert report.queries > 0 and report.problems > 0


async def test_dkim_mismatch_for_rsa_and_ed25519_and_a_missing_key(tmp_path, keys) -> None:
    found, _ = await checked(tmp_path, keys)
    sub = found["sub.org.test"].problems
    assert (
        "DKIM of sub.org.test, selector rsa: the key at rsa._domainkey.sub.org.test "
        "is not the public half of the key file"
    ) in sub
    assert (
        "DKIM of sub.org.test, selector ed: the key at ed._domainkey.sub.org.test "
        "is not the public half of the key file"
    ) in sub
    assert (
        "DKIM of bad.test, selector rsa: no key published at rsa._domainkey.bad.test"
        in found["bad.test"].problems
    )


async def test_spf_dmarc_missing_and_not_covering(tmp_path, keys) -> None:
    found, _ = await checked(tmp_path, keys)
    bad = found["bad.test"].problems
    assert "SPF of bad.test: no SPF record (v=spf1) at bad.test" in bad
    assert "DMARC of bad.test: no record at _dmarc.bad.test" in bad
    sub = found["sub.org.test"]
    assert (
        f"SPF of sub.org.test does not cover {z.OTHER}: ends in ~all after ip4:{z.COVERED} "
        "(0 lookups)"
    ) in sub.problems
    # No record at _dmarc.sub.org.test: the organizational domain's sp=none applies.
    assert (
        "DMARC of sub.org.test: p=none from _dmarc.org.test (organizational domain org.test), "
        "adkim=r, aspf=r"
    ) in sub.notes
    assert "DMARC of sub.org.test: p=none, receivers only report failures" in sub.notes


async def test_dmarc_that_cannot_align_mx_elsewhere_and_tracking_unresolved(tmp_path, keys) -> None:
    found, _ = await checked(tmp_path, keys, tenant="beta")
    assert {r.tenant for r in found.values()} == {"beta"}
    assert found["beta.test"].problems == [
        "DMARC of beta.test cannot pass: no DKIM key signs its mail "
        "and the envelope domain bounce.beta.test is not aligned (aspf=s)"
    ]
    assert found["bounce.beta.test"].problems == [
        "MX of bounce.beta.test does not reach the inbound host mx.good.test: "
        "MX elsewhere.test -> 203.0.113.7"
    ]
    assert found["t.beta.test"].problems == [
        "Tracking domain t.beta.test does not resolve (no A or AAAA record)"
    ]
    assert found[z.BETA_IP].problems == [
        f"PTR of {z.BETA_IP}: none published at 20.2.0.192.in-addr.arpa"
    ]


async def test_ptr_not_forward_confirmed_and_not_the_configured_name(tmp_path, keys) -> None:
    found, _ = await checked(tmp_path, keys, tenant="acme")
    assert found[z.OTHER].problems == [
        f"PTR of {z.OTHER} is not forward-confirmed: mta9.good.test -> 192.0.2.99",
        f"PTR of {z.OTHER} is mta9.good.test, not the configured mta2.good.test",
    ]


async def test_each_target_alerts_once_and_resolves_when_fixed(tmp_path, keys) -> None:
    sent = []

    async def alert(a) -> None:
        sent.append((a.key, a.firing))

    zones = z.zones(keys)
    async with DnsServer(**zones) as server:
        settings = load(z.config(tmp_path, server.port, keys))
        check = DnsCheck(lambda: settings, alert, clock=lambda: 1000.0)
        await check.run(tenant="beta")
        assert ("dns-check:t.beta.test", True) in sent and check.last is not None
        server.a["t.beta.test"] = ["192.0.2.81"]
        sent.clear()
        await check.run(tenant="beta")
    assert ("dns-check:t.beta.test", False) in sent
    assert {r.target for r in check.last.reports if r.tenant == "beta"} >= {"t.beta.test"}


async def test_published_keys_of_the_wrong_type_or_revoked(keys) -> None:
    from policy import dkim_dns

    ed = dkim_dns.parse_private_key(keys.ed_pem)
    rsa = dkim_dns.parse_private_key(keys.rsa_pem)
    assert dnsauth.dkim_problems("d.test", "s", [keys.rsa_txt], ed) == [
        "DKIM of d.test, selector s: s._domainkey.d.test publishes k=rsa, the key file is ed25519"
    ]
    assert dnsauth.dkim_problems("d.test", "s", ["v=DKIM1; k=rsa; p="], rsa) == [
        "DKIM of d.test, selector s: the key at s._domainkey.d.test is revoked (empty p=)"
    ]
    # A record folded with spaces inside p= (as some DNS consoles show it) still matches.
    spaced = keys.rsa_txt[:60] + " " + keys.rsa_txt[60:]
    assert dnsauth.dkim_problems("d.test", "s", ["other=1", spaced], rsa) == []


async def test_ptr_confirmed_under_another_name_and_mx_fallback_to_the_address() -> None:
    forward = {"other.test": ["192.0.2.5"]}
    assert dnsauth.ptr_problems("192.0.2.5", "mta.test", ["other.test"], forward) == [
        "PTR of 192.0.2.5 is other.test, not the configured mta.test"
    ]
    assert dnsauth.ptr_problems("192.0.2.5", "other.test", ["other.test"], forward) == []
    # No MX: mail goes to the domain's own address, which here is the inbound host's.
    addresses = {"b.test": [z.INBOUND]}
    assert dnsauth.mx_problems("b.test", [], addresses, "mx.test", [z.INBOUND]) == []
    assert dnsauth.mx_problems("b.test", [], {}, "mx.test", [z.INBOUND]) == [
        "MX of b.test does not reach the inbound host mx.test: "
        "no MX, and its address b.test -> nothing"
    ]


async def test_dmarc_tree_walk_is_bounded_and_skips_a_doubled_record() -> None:
    names = dmarc.walk_names("a.b.c.d.e.f.g.h.example.com")
    assert names == [
        "a.b.c.d.e.f.g.h.example.com",
        "d.e.f.g.h.example.com",
        "e.f.g.h.example.com",
        "f.g.h.example.com",
        "g.h.example.com",
        "h.example.com",
        "example.com",
        "com",
    ]
    zone = {
        "_dmarc.mail.shop.test": ["v=DMARC1; p=reject", "v=DMARC1; p=none"],
        "_dmarc.shop.test": ["v=DMARC1; p=quarantine; pct=50"],
    }

    async def lookup(name: str, rdtype: str) -> list[str]:
        return zone.get(name, []) if rdtype == "TXT" else []

    found = await dmarc.discover("mail.shop.test", lookup)
    assert (found.found_at, found.policy, found.queries) == ("shop.test", "quarantine", 3)
    assert found.problems == ("2 records at _dmarc.mail.shop.test; receivers ignore them all",)
    assert dmarc.aligned("bounce.shop.test", "mail.shop.test", "r", found.organizational)
    assert not dmarc.aligned("bounce.shop.test", "mail.shop.test", "s", found.organizational)
    assert not dmarc.aligned("other.test", "mail.shop.test", "r", found.organizational)


async def test_dmarc_organizational_domain_follows_psd_and_the_topmost_record():
    zone = {
        "_dmarc.co.test": ["v=DMARC1; p=reject; psd=y"],  # a public suffix's own record
        "_dmarc.shop.test": ["v=DMARC1; p=none; psd=n"],
        "_dmarc.test": ["v=DMARC1; p=reject"],
        "_dmarc.sub.brand.example": ["v=DMARC1; p=quarantine"],
        "_dmarc.brand.example": ["v=DMARC1; p=reject"],
    }

    async def lookup(name: str, rdtype: str) -> list[str]:
        return zone.get(name, []) if rdtype == "TXT" else []

    under_psd = await dmarc.discover("mail.acme.co.test", lookup)
    assert (under_psd.found_at, under_psd.organizational) == ("co.test", "acme.co.test")
    assert dmarc.aligned("bounce.acme.co.test", "mail.acme.co.test", "r", "acme.co.test")
    # The registrant below the suffix, not the suffix: another registrant never aligns.
    assert not dmarc.aligned("x.other.co.test", "mail.acme.co.test", "r", "acme.co.test")
    stop = await dmarc.discover("mail.shop.test", lookup)
    assert (stop.found_at, stop.organizational, stop.queries) == ("shop.test", "shop.test", 2)
    top = await dmarc.discover("sub.brand.example", lookup)
    assert (top.found_at, top.policy, top.organizational) == (
        "sub.brand.example", "quarantine", "brand.example",
    )  # fmt: skip
    none = await dmarc.discover("lonely.example", lookup)
    assert (none.found_at, none.organizational) == (None, "lonely.example")


async def test_each_run_sets_the_problem_gauge_per_target(tmp_path, keys) -> None:
    from scheduler.reputation.metrics import DNS_PROBLEMS

    async def quiet(alert) -> None:
        return None

    async with DnsServer(**z.zones(keys)) as server:
        settings = load(z.config(tmp_path, server.port, keys))
        await DnsCheck(lambda: settings, quiet).run(tenant="beta")
    assert DNS_PROBLEMS.labels("beta", "t.beta.test")._value.get() == 1
    assert DNS_PROBLEMS.labels("beta", "bounce.beta.test")._value.get() == 1


async def test_through_the_alerter_a_problem_is_sent_once_then_resolved(
    tmp_path, keys, caplog
) -> None:
    import logging

    from scheduler.alerts import Alerter

    now = [1000.0]
    async with DnsServer(**z.zones(keys)) as server:
        settings = load(z.config(tmp_path, server.port, keys))
        check = DnsCheck(lambda: settings, Alerter(lambda: settings, clock=lambda: now[0]))
        with caplog.at_level(logging.INFO, logger="sluice.alerts"):
            await check.run(tenant="beta")
            now[0] += 60
            await check.run(tenant="beta")  # still wrong: not announced again
            server.a["t.beta.test"] = ["192.0.2.81"]
            now[0] += 60
            await check.run(tenant="beta")
    sent = [r.getMessage() for r in caplog.records if r.getMessage().startswith("alert: ")]
    tracking = [line for line in sent if "t.beta.test" in line]
    assert tracking == [
        "alert: [Sluice FIRING] DNS check failed for t.beta.test: "
        "Tracking domain t.beta.test does not resolve (no A or AAAA record)",
        "alert: [Sluice RESOLVED] DNS check passes for t.beta.test: "
        "SPF, DKIM, DMARC, PTR, MX and tracking DNS as expected",
    ]


async def test_the_resolver_is_dns_check_s_else_reputation_s_else_local() -> None:
    from conf import Settings
    from scheduler.reputation.dnsauth import inbound_host

    assert Settings().dns_resolver == "127.0.0.1:53"
    rep = {"reputation": {"resolver": "10.0.0.53:53", "lists": ()}}
    assert Settings.model_validate(rep).dns_resolver == "10.0.0.53:53"
    both = {**rep, "dns_check": {"resolver": "[::1]:5353"}}
    assert Settings.model_validate(both).dns_resolver == "[::1]:5353"
    # The inbound host: none without a listener, its address when it binds one, else the name.
    assert inbound_host(Settings()) is None
    bound = {"smtp": {"inbound_listen": "198.51.100.25:25", "hostname": "relay.test"}}
    assert inbound_host(Settings.model_validate(bound)) == "198.51.100.25"
    anywhere = {"smtp": {"inbound_listen": "0.0.0.0:25", "hostname": "relay.test"}}
    assert inbound_host(Settings.model_validate(anywhere)) == "relay.test"
