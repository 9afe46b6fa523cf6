"""SPF evaluation (policy/reputation/spf.py) against golden zones on a loopback DNS server."""

from __future__ import annotations

import pytest

from conf import Settings
from policy.reputation import dnsauth, spf
from scheduler.reputation.dns_lookup import CachedLookup
from tests.support import dnsauth_zones as z
from tests.support.dns_server import DnsServer

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def lookup():
    async with DnsServer(z.SPF_MX, txt=z.spf_txt(), a=z.spf_a()) as server:
        settings = Settings.model_validate(
            {"dns_check": {"resolver": f"127.0.0.1:{server.port}", "timeout": 2}}
        )
        yield CachedLookup(settings)


async def test_nine_lookups_pass_and_an_ip_not_listed_ends_in_softfail(lookup) -> None:
    ok = await spf.check_host(z.COVERED, "spf9.test", lookup)
    assert (ok.result, ok.lookups, ok.mechanism) == ("pass", 9, "include:_spf.spf9.test")
    other = await spf.check_host(z.OTHER, "spf9.test", lookup)
    assert (other.result, other.lookups) == ("softfail", 9)
    problems, notes = dnsauth.spf_findings("spf9.test", {z.OTHER: other}, other)
    assert problems == [
        f"SPF of spf9.test does not cover {z.OTHER}: "
        "ends in ~all after include:_spf.spf9.test (9 lookups)"
    ]
    assert notes == ["SPF of spf9.test: 9 of 10 DNS lookups"]


async def test_ten_lookups_is_the_limit_and_still_passes(lookup) -> None:
    result = await spf.check_host(z.COVERED, "spf10.test", lookup)
    assert (result.result, result.lookups) == ("pass", 10)


async def test_eleven_lookups_is_a_permerror_naming_the_eleventh(lookup) -> None:
    result = await spf.check_host(z.COVERED, "spf11.test", lookup)
    assert result.result == "permerror"
    assert result.reason == "more than 10 DNS lookups: a:h10.hosts.test is the 11th"
    problems, _ = dnsauth.spf_findings("spf11.test", {z.COVERED: result}, result)
    assert problems == [
        f"SPF of spf11.test is broken for {z.COVERED}: more than 10 DNS lookups: "
        "a:h10.hosts.test is the 11th (11 lookups)"
    ]


async def test_a_record_over_the_limit_is_reported_even_when_our_ip_matches_first(lookup) -> None:
    ours = await spf.check_host(z.COVERED, "early11.test", lookup)
    walk = await spf.check_host(None, "early11.test", lookup)
    assert (ours.result, ours.lookups) == ("pass", 0)
    assert walk.result == "permerror"
    problems, _ = dnsauth.spf_findings("early11.test", {z.COVERED: ours}, walk)
    assert problems == [
        "SPF of early11.test is broken for IPs it does not list: "
        "more than 10 DNS lookups: a:h10.hosts.test is the 11th"
    ]


async def test_two_void_lookups_pass_and_a_third_is_a_permerror(lookup) -> None:
    two = await spf.check_host(z.COVERED, "void2.test", lookup)
    assert (two.result, two.voids) == ("pass", 2)
    three = await spf.check_host(z.COVERED, "void3.test", lookup)
    assert three.result == "permerror" and three.voids == 3
    assert three.reason == "more than 2 void lookups: exists:nx3.test is the 3rd"


async def test_redirect_takes_the_target_record_and_names_it(lookup) -> None:
    assert (await spf.check_host(z.COVERED, "redirect.test", lookup)).result == "pass"
    other = await spf.check_host(z.OTHER, "redirect.test", lookup)
    assert (other.result, other.mechanism, other.where) == ("fail", "-all", "_spf.spf9.test")
    assert other.lookups == 9  # redirect, then eight a: terms
    problem = dnsauth.spf_findings("redirect.test", {z.OTHER: other}, other)[0][0]
    assert problem.startswith(f"SPF of redirect.test does not cover {z.OTHER}: ends in -all of")


async def test_mx_a_with_prefix_exists_and_ip6(lookup) -> None:
    assert (await spf.check_host(z.COVERED, "mx.test", lookup)).result == "pass"
    assert (await spf.check_host(z.OTHER, "mx.test", lookup)).result == "fail"
    assert (await spf.check_host(z.COVERED, "a.test", lookup)).result == "pass"  # a/24
    assert (await spf.check_host("192.0.3.1", "a.test", lookup)).result == "fail"
    exists = await spf.check_host(z.COVERED, "exists.test", lookup)
    assert (exists.result, exists.mechanism) == ("pass", "exists:%{i}._ip.exists.test")
    assert (await spf.check_host(z.OTHER, "exists.test", lookup)).result == "fail"
    assert (await spf.check_host("2001:db8::1", "ip6.test", lookup)).result == "pass"
    assert (await spf.check_host(z.COVERED, "ip6.test", lookup)).result == "neutral"


async def test_records_missing_doubled_or_without_all(lookup) -> None:
    none = await spf.check_host(z.COVERED, "absent.test", lookup)
    assert none.result == "none"
    assert dnsauth.spf_findings("absent.test", {}, none)[0] == [
        "SPF of absent.test: no SPF record (v=spf1) at absent.test"
    ]
    two = await spf.check_host(z.COVERED, "two.test", lookup)
    assert (two.result, two.reason) == ("permerror", "two.test publishes 2 SPF records")
    noall = await spf.check_host(z.COVERED, "noall.test", lookup)
    assert noall.result == "neutral"
    problem = dnsauth.spf_findings("noall.test", {z.COVERED: noall}, noall)[0][0]
    assert problem == (
        f"SPF of noall.test does not cover {z.COVERED}: "
        "no term matches and no all after ip4:203.0.113.1 (0 lookups)"
    )
    bad = await spf.check_host(z.COVERED, "badinclude.test", lookup)
    assert bad.result == "permerror" and "nothing.test publishes no SPF record" in bad.reason


async def test_a_resolver_that_does_not_answer_is_a_temperror() -> None:
    async with DnsServer(txt=z.spf_txt()) as server:
        server.silent = True
        settings = Settings.model_validate(
            {"dns_check": {"resolver": f"127.0.0.1:{server.port}", "timeout": 0.3}}
        )
        result = await spf.check_host(z.COVERED, "spf9.test", CachedLookup(settings))
    assert result.result == "temperror" and "no answer within 0.3 s" in result.reason


async def test_syntax_errors_name_the_term() -> None:
    with pytest.raises(spf.SpfSyntaxError, match="unknown mechanism foo:bar"):
        spf.parse("v=spf1 foo:bar -all")
    with pytest.raises(spf.SpfSyntaxError, match=r"ip4:300\.1\.1\.1: not a network"):
        spf.parse("v=spf1 ip4:300.1.1.1 -all")
    record = spf.parse("v=spf1 a:x.test/24//64 -all exp=explain.test")
    assert record.mechanisms[0].cidr4 == 24 and record.mechanisms[0].cidr6 == 64
