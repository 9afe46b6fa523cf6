"""Zones for the DNS authentication checks: golden SPF trees, DKIM keys, DMARC, PTR, MX.

Served by tests/support/dns_server.py on loopback. COVERED is listed by every
SPF record below that passes; OTHER is listed by none. The SPF trees at 9,
10 and 11 lookups put COVERED after every lookup, so a receiver reaches it
only within the limit.
"""

from __future__ import annotations

COVERED = "192.0.2.10"
OTHER = "192.0.2.12"
INBOUND = "198.51.100.25"  # the inbound listener's address


def _hosts(n: int) -> str:
    return " ".join(f"a:h{i}.hosts.test" for i in range(1, n + 1))


def spf_txt() -> dict[str, list[str]]:
    """Golden SPF records (one include plus N-1 a: terms = N lookups)."""
    return {
        "spf9.test": ["v=spf1 include:_spf.spf9.test ~all", "google-site-verification=x"],
        "_spf.spf9.test": [f"v=spf1 {_hosts(8)} ip4:{COVERED} -all"],
        "spf10.test": ["v=spf1 include:_spf.spf10.test ~all"],
        "_spf.spf10.test": [f"v=spf1 {_hosts(9)} ip4:{COVERED} -all"],
        "spf11.test": ["v=spf1 include:_spf.spf11.test ~all"],
        "_spf.spf11.test": [f"v=spf1 {_hosts(10)} ip4:{COVERED} -all"],
        # Covered first: our IP passes, but a receiver answers permerror for others.
        "early11.test": [f"v=spf1 ip4:{COVERED} include:_spf.spf11.test -all"],
        "void2.test": [f"v=spf1 a:nx1.test mx:nx2.test ip4:{COVERED} -all"],
        "void3.test": [f"v=spf1 a:nx1.test mx:nx2.test exists:nx3.test ip4:{COVERED} -all"],
        "redirect.test": ["v=spf1 redirect=_spf.spf9.test"],
        "mx.test": ["v=spf1 mx -all"],
        "a.test": ["v=spf1 a/24 -all"],
        "exists.test": ["v=spf1 exists:%{i}._ip.exists.test -all"],
        "ip6.test": ["v=spf1 ip6:2001:db8::/32 ?all"],
        "two.test": ["v=spf1 -all", "v=spf1 ~all"],
        "noall.test": ["v=spf1 ip4:203.0.113.1"],
        "badinclude.test": ["v=spf1 include:nothing.test -all"],
    }


def spf_a() -> dict[str, list[str]]:
    hosts = {f"h{i}.hosts.test": ["203.0.113.99"] for i in range(1, 11)}
    return {
        **hosts,
        "mail.mx.test": [COVERED],
        "a.test": ["192.0.2.1"],
        f"{COVERED}._ip.exists.test": ["127.0.0.2"],
    }


SPF_MX = {"mx.test": [(10, "mail.mx.test")]}


# --- A whole deployment: two tenants, each check right for one and wrong for the other.

BETA_IP = "192.0.2.20"
MX_HOST = "mx.good.test"


class Keys:
    """DKIM keys made with the project's own keygen: the configured ones and impostors."""

    def __init__(self, folder) -> None:
        from gateway.dkim_keys import generate_key

        self.folder = folder
        self.rsa_pem, self.rsa_txt = generate_key("rsa", 2048)  # p= longer than one string
        self.ed_pem, self.ed_txt = generate_key("ed25519")
        self.other_rsa_txt = generate_key("rsa", 1024)[1]
        self.other_ed_txt = generate_key("ed25519")[1]
        (folder / "rsa.pem").write_bytes(self.rsa_pem)
        (folder / "ed.pem").write_bytes(self.ed_pem)


def zones(keys: Keys) -> dict:
    """DnsServer keyword arguments for the deployment of ``config``."""
    txt = {
        "good.test": [f"v=spf1 ip4:{COVERED} ip4:{OTHER} -all"],
        "bounce.good.test": ["v=spf1 ip4:192.0.2.0/24 -all"],
        "sub.org.test": [f"v=spf1 ip4:{COVERED} ~all"],
        "beta.test": [f"v=spf1 ip4:{BETA_IP} -all"],
        "bounce.beta.test": [f"v=spf1 ip4:{BETA_IP} -all"],
        "rsa._domainkey.good.test": [keys.rsa_txt],
        "ed._domainkey.good.test": [keys.ed_txt],
        "rsa._domainkey.sub.org.test": [keys.other_rsa_txt],
        "ed._domainkey.sub.org.test": [keys.other_ed_txt],
        # bad.test publishes no key at all, and no SPF nor DMARC.
        "bad.test": ["some-verification=abc"],
        "_dmarc.good.test": ["v=DMARC1; p=reject; adkim=s; rua=mailto:d@good.test"],
        "_dmarc.org.test": ["v=DMARC1; p=quarantine; sp=none"],
        "_dmarc.beta.test": ["v=DMARC1; p=quarantine; adkim=s; aspf=s"],
    }
    a = {
        "mta1.good.test": [COVERED],
        "mta9.good.test": ["192.0.2.99"],
        MX_HOST: [INBOUND],
        "elsewhere.test": ["203.0.113.7"],
        "t.good.test": ["192.0.2.80"],
    }
    ptr = {
        "10.2.0.192.in-addr.arpa": ["mta1.good.test"],
        "12.2.0.192.in-addr.arpa": ["mta9.good.test"],
    }
    mx = {"bounce.good.test": [(10, MX_HOST)], "bounce.beta.test": [(10, "elsewhere.test")]}
    return {"mx": mx, "txt": txt, "a": a, "ptr": ptr}


def config(tmp_path, port: int, keys: Keys) -> str:
    """A configuration file for ``zones``; its path."""
    path = tmp_path / "sluice.yaml"
    path.write_text(
        f"""
database: "sqlite:///{tmp_path}/s.db"
smtp: {{inbound_listen: "0.0.0.0:2526"}}
dns_check: {{resolver: "127.0.0.1:{port}", timeout: 2, inbound_host: {MX_HOST}}}
tenants:
  - name: acme
    pool: acme
    trusted_networks: [127.0.0.1/32]
    sender_domains: [good.test, sub.org.test, bad.test]
    bounce_domain: bounce.good.test
    dkim:
      - {{domain: good.test, selector: rsa, key_file: {keys.folder}/rsa.pem}}
      - {{domain: good.test, selector: ed, key_file: {keys.folder}/ed.pem}}
      - {{domain: sub.org.test, selector: rsa, key_file: {keys.folder}/rsa.pem}}
      - {{domain: sub.org.test, selector: ed, key_file: {keys.folder}/ed.pem}}
      - {{domain: bad.test, selector: rsa, key_file: {keys.folder}/rsa.pem}}
    tracking: {{base_url: "https://t.good.test", secrets: ["0123456789abcdef0123"]}}
  - name: beta
    pool: beta
    trusted_networks: [127.0.0.2/32]
    sender_domains: [beta.test]
    bounce_domain: bounce.beta.test
    tracking: {{base_url: "https://t.beta.test", secrets: ["0123456789abcdef0123"]}}
pools:
  acme:
    - {{ip: {COVERED}, vmta: a1, hostname: mta1.good.test}}
    - {{ip: {OTHER}, vmta: a2, hostname: mta2.good.test}}
  beta:
    - {{ip: {BETA_IP}, vmta: b1, hostname: mta.beta.test}}
"""
    )
    return str(path)
