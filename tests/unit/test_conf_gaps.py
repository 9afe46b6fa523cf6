"""check-config refuses what would break later: spaces in host names, one IP
twice, a sender domain claimed by two tenants, an empty file."""

from pathlib import Path

import pytest

from conf import ConfigError, load, parse

TENANTS = """
tenants:
  - name: acme
    pool: acme
    trusted_networks: ["127.0.0.0/8"]
    sender_domains: ["acme-mail.com", "*"]
  - name: beta
    pool: beta
    trusted_networks: ["127.0.0.0/8"]
    sender_domains: ["Acme-Mail.com", "beta-mail.com", "*"]
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return caught.value.problems


def test_host_names_with_a_space_are_refused() -> None:
    text = """
smtp: {hostname: "relay example.net"}
pools:
  acme:
    - {ip: 192.0.2.1, vmta: a-1, hostname: "mta1 .acme-mail.com"}
"""
    found = problems(text)
    assert any(p.startswith("smtp.hostname: not a host name") for p in found), found
    assert any(p.startswith("pools.acme[0].hostname: not a host name") for p in found), found


def test_host_names_that_are_fine_pass() -> None:
    text = """
smtp: {hostname: "relay.example.net"}
downstream: {helo: "[127.0.0.1]"}
pools:
  acme:
    - {ip: 192.0.2.1, vmta: a-1, hostname: localhost}
"""
    assert parse(text).smtp.hostname == "relay.example.net"


def test_one_ip_in_two_places_and_one_domain_in_two_tenants() -> None:
    text = (
        TENANTS
        + """
pools:
  acme:
    - {ip: 192.0.2.1, vmta: a-1, hostname: mta1.acme-mail.com}
    - {ip: 192.0.2.1, vmta: a-2, hostname: mta2.acme-mail.com}
  beta:
    - {ip: 192.0.2.1, vmta: b-1, hostname: mta1.beta-mail.com}
"""
    )
    found = problems(text)
    assert "pools.acme[1].ip: 192.0.2.1 is already listed at pools.acme[0] (line 15)" in found
    assert "pools.beta[0].ip: 192.0.2.1 is already listed at pools.acme[0] (line 17)" in found
    assert (
        "tenants[1].sender_domains[0]: 'Acme-Mail.com' is already a sender domain"
        " of tenants[0] (line 10)" in found
    )
    assert not any("'*'" in p for p in found), found  # a catch-all is no claim


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing here yet\n   \n"])
def test_an_empty_file_is_refused_with_where_to_start(tmp_path: Path, text: str) -> None:
    path = tmp_path / "sluice.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.problems == ["the file is empty: start from conf/sluice.example.yaml"]


def test_field_errors_of_every_section_come_at_once() -> None:
    text = """
smtp: {hostname: "a b", listen: nope}
unknown: 1
pools:
  acme:
    - {ip: 192.0.2.1, vmta: a-1, hostname: "c d", daily_limit: -1}
"""
    found = problems(text)
    assert [p.split(":")[0] for p in found] == [
        "unknown",
        "smtp.listen",
        "smtp.hostname",
        "pools.acme[0].hostname",
        "pools.acme[0].daily_limit",
    ]
