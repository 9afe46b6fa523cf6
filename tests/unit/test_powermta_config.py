"""The PowerMTA configuration written from Sluice's settings.

The whole text of a two-tenant, three-IP configuration is pinned by
``golden/powermta.conf``: run with SLUICE_UPDATE_GOLDEN=1 to write it again
after a deliberate change, and review the diff.
"""

from __future__ import annotations

import difflib
import os
import re
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

import conf
from admin import powermta_config
from admin.powermta_config import PowerMtaConfigError, render

GOLDEN = Path(__file__).parent / "golden" / "powermta.conf"

BASE = """
downstream: {host: 127.0.0.1, port: 2526}
feedback: {accounting_folder: /var/log/pmta/sluice}
tenants:
  - name: acme
    pool: acme
    trusted_networks: [10.0.0.0/8]
    sender_domains: [acme-mail.com]
  - name: beta
    pool: beta
    trusted_networks: [10.1.0.0/16]
    sender_domains: [beta.example]
pools:
  acme:
    - {ip: 192.0.2.11, vmta: acme-2, hostname: mta2.acme-mail.com,
       warmup: {started: "2026-11-01"}}
    - {ip: 192.0.2.10, vmta: acme-1, hostname: mta1.acme-mail.com}
  beta:
    - {ip: 198.51.100.7, vmta: beta-1, hostname: mta.beta.example}
"""


def settings(extra: str = "", base: str = BASE) -> conf.Settings:
    return conf.parse(base + extra, environ={})


TODAY = date(2026, 11, 10)  # acme-2's warmup day 10


def test_golden_file() -> None:
    text = render(settings(), today=TODAY)
    if os.environ.get("SLUICE_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    expected = GOLDEN.read_text()
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            text.splitlines(keepends=True),
            "golden/powermta.conf",
            "render()",
        )
    )
    assert not diff, (
        "the PowerMTA configuration changed (SLUICE_UPDATE_GOLDEN=1 rewrites):\n" + diff
    )


def test_every_directive_for_two_tenants_and_three_ips() -> None:
    text = render(settings())
    assert "smtp-listener 127.0.0.1:2526\n" in text
    assert _block(text, "source 127.0.0.1") == [
        "always-allow-relaying yes",
        "smtp-service yes",
        "process-x-virtual-mta yes",
        "process-x-job yes",
    ]
    assert _block(text, "virtual-mta acme-1") == ["smtp-source-host 192.0.2.10 mta1.acme-mail.com"]
    assert _block(text, "virtual-mta acme-2")[0] == "smtp-source-host 192.0.2.11 mta2.acme-mail.com"
    assert _block(text, "virtual-mta beta-1") == ["smtp-source-host 198.51.100.7 mta.beta.example"]
    assert _block(text, "virtual-mta-pool acme-pool") == [
        "virtual-mta acme-1",
        "virtual-mta acme-2",
    ]
    assert _block(text, "virtual-mta-pool beta-pool") == ["virtual-mta beta-1"]
    acct = _block(text, "acct-file /var/log/pmta/sluice/acct.csv")
    assert acct[0] == "records b,rb,rs,t,f"
    fields = "*, header_Message-Id, header_X-Mw-Campaign-Uid, header_X-Mw-Subscriber-Uid"
    assert acct[1:6] == [f"record-fields {t} {fields}" for t in ("b", "rb", "rs", "t", "f")]
    assert acct[6:] == ["move-interval 1h", "max-size 100M", "delete-after 7d"]
    # VMTAs sorted by name, pools by tenant: the order of the settings does not matter.
    assert text.index("<virtual-mta acme-1>") < text.index("<virtual-mta acme-2>")
    assert "domain-key" not in text and "dkim-sign" not in text


def test_accounting_covers_what_the_feedback_reads() -> None:
    # Records without feedback (d, tq) are left out; the rest are what
    # policy.feedback.accounting reads.
    assert powermta_config.RECORDS == ("b", "rb", "rs", "t", "f")
    read = {"header_message-id", "header_x-mw-campaign-uid", "header_x-mw-subscriber-uid"}
    assert {f.lower() for f in powermta_config.HEADER_FIELDS} == read


def test_output_is_stable_under_reordering() -> None:
    reordered = BASE.replace(
        """  - name: acme
    pool: acme
    trusted_networks: [10.0.0.0/8]
    sender_domains: [acme-mail.com]
  - name: beta
    pool: beta
    trusted_networks: [10.1.0.0/16]
    sender_domains: [beta.example]
""",
        """  - name: beta
    pool: beta
    trusted_networks: [10.1.0.0/16]
    sender_domains: [beta.example]
  - name: acme
    pool: acme
    trusted_networks: [10.0.0.0/8]
    sender_domains: [acme-mail.com]
""",
    )
    assert reordered != BASE
    assert render(settings(base=reordered)) == render(settings())


def _keys(tmp_path: Path) -> tuple[Path, Path]:
    rsa_path, ed_path = tmp_path / "acme-rsa.pem", tmp_path / "acme-ed.pem"
    pkcs8 = (serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8)
    none = serialization.NoEncryption()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_path.write_bytes(rsa_key.private_bytes(*pkcs8, none))
    ed_path.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(*pkcs8, none))
    return rsa_path, ed_path


def _with_keys(tmp_path: Path, extra: str) -> conf.Settings:
    rsa_path, ed_path = _keys(tmp_path)
    dkim = f"""
    dkim:
      - {{domain: acme-mail.com, selector: s2026r, key_file: {rsa_path}}}
      - {{domain: acme-mail.com, selector: s2026e, key_file: {ed_path}}}
      - {{domain: "*", selector: any, key_file: {rsa_path}}}
"""
    text = BASE.replace(
        "    sender_domains: [acme-mail.com]\n", "    sender_domains: [acme-mail.com]\n" + dkim
    )
    return settings(extra, base=text)


def test_dkim_lines_only_when_powermta_signs(tmp_path: Path) -> None:
    off = render(_with_keys(tmp_path, ""))
    assert "domain-key" not in off and "dkim-sign" not in off
    on = render(
        _with_keys(tmp_path, "powermta: {dkim_sign: true, dkim_key_folder: /etc/pmta/dkim}\n")
    )
    assert (
        re.findall(r"^ *(domain-key .*)$", on, re.M)
        == ["domain-key s2026r,acme-mail.com,/etc/pmta/dkim/acme-rsa.pem"] * 2
    )  # acme-1 and acme-2
    # Signing is turned on inside the acme VMTAs only: never a top-level <domain *>.
    assert not re.search(r"^<domain", on, re.M)
    acme_1 = _block(on, "virtual-mta acme-1")
    assert acme_1[1] == "domain-key s2026r,acme-mail.com,/etc/pmta/dkim/acme-rsa.pem"
    assert acme_1[2:5] == ["<domain *>", "dkim-sign yes", "</domain>"]
    assert _block(on, "virtual-mta beta-1") == ["smtp-source-host 198.51.100.7 mta.beta.example"]
    # Ed25519 and "*" keys stay with Sluice, and the fragment says why.
    assert "# s2026e of acme-mail.com (acme): Ed25519" in on
    assert "# any of * (acme): signs as each From domain" in on
    # Without a folder, the key paths are the configured ones.
    local = render(_with_keys(tmp_path, "powermta: {dkim_sign: true}\n"))
    assert f"    domain-key s2026r,acme-mail.com,{tmp_path / 'acme-rsa.pem'}\n" in local


def test_unreadable_key_names_its_setting(tmp_path: Path) -> None:
    s = _with_keys(tmp_path, "powermta: {dkim_sign: true}\n")
    (tmp_path / "acme-rsa.pem").write_text("not a key")
    with pytest.raises(PowerMtaConfigError) as err:
        render(s)
    assert err.value.key == "tenants[0].dkim[0].key_file"


def test_source_address() -> None:
    assert "<source ::1>" in render(
        settings("", base=BASE.replace("host: 127.0.0.1", 'host: "::1"'))
    )
    remote = BASE.replace("host: 127.0.0.1", "host: 203.0.113.5")
    with pytest.raises(PowerMtaConfigError) as err:
        render(settings("", base=remote))
    assert err.value.key == "powermta.source_address"
    assert "203.0.113.5" in str(err.value)
    text = render(settings("powermta: {source_address: 203.0.113.9}\n", base=remote))
    assert "<source 203.0.113.9>" in text and "smtp-listener 203.0.113.5:2526" in text
    with pytest.raises(conf.ConfigError, match=r"powermta\.source_address"):
        settings("powermta: {source_address: nowhere}\n")


def test_one_vmta_name_for_two_ips_is_refused() -> None:
    clash = BASE.replace("vmta: beta-1", "vmta: acme-1")
    with pytest.raises(PowerMtaConfigError) as err:
        render(settings("", base=clash))
    assert err.value.key == "pools.beta[0].vmta"


def test_accounting_path_and_pattern() -> None:
    text = render(settings("powermta: {accounting_file: /data/pmta/sluice.csv}\n"))
    assert "<acct-file /data/pmta/sluice.csv>" in text
    assert "does not match feedback.accounting_pattern 'acct*.csv'" in text
    default = render(
        settings("", base=BASE.replace("feedback: {accounting_folder: /var/log/pmta/sluice}\n", ""))
    )
    assert "<acct-file /var/log/pmta/acct.csv>" in default
    assert "once feedback.accounting_folder names /var/log/pmta" in default


def test_disabled_ips_and_foreign_headers_are_commented() -> None:
    text = render(
        settings(
            "",
            base=BASE.replace(
                "hostname: mta1.acme-mail.com}", "hostname: mta1.acme-mail.com, enabled: false}"
            ).replace(
                "sender_domains: [beta.example]",
                "sender_domains: [beta.example]\n    vmta_header: X-Route",
            ),
        )
    )
    assert _block(text, "virtual-mta-pool acme-pool") == [
        "virtual-mta acme-2",
        "# acme-1: enabled: false in Sluice",
    ]
    assert "# Tenant beta stamps X-Route (vmta_header)" in text


def _block(text: str, opening: str) -> list[str]:
    """The stripped lines between <opening> and its closing tag."""
    match = re.search(rf"^<{re.escape(opening)}>\n(.*?)^</{opening.split()[0]}>", text, re.M | re.S)
    assert match, f"no <{opening}> block"
    return [line.strip() for line in match.group(1).splitlines()]


def test_source_block_says_where_it_goes() -> None:
    local = render(settings())
    assert "already has a <source 127.0.0.1> block: merge" in local
    assert local.count("<source ") == 2  # the comment and the block: one block
    remote = BASE.replace("host: 127.0.0.1", "host: 203.0.113.5")
    text = render(settings("powermta: {source_address: 203.0.113.9}\n", base=remote))
    assert "<source 127.0.0.1>" not in text and "<source 203.0.113.9>" in text
    assert "Sluice's own address only" in text


def test_warming_ips_get_todays_hourly_rate() -> None:
    text = render(settings(), today=TODAY)
    # standard day 10: 700 a day over 16 h x 1.25 = 54.7, rounded up.
    assert _block(text, "virtual-mta acme-2") == [
        "smtp-source-host 192.0.2.11 mta2.acme-mail.com",
        "<domain *>",
        "# warmup day 10 on 2026-11-10 (calendar days since 2026-11-01): 700/day over 16 h x 1.25",
        "max-msg-rate 55/h",
        "</domain>",
    ]
    assert "max-msg-rate" not in "\n".join(_block(text, "virtual-mta acme-1"))  # warm
    # PowerMTA's directive dictionary: max-msg-rate takes N/[M]{d,h,m,s}.
    rates = [line.strip() for line in text.splitlines() if "max-msg-rate " in line]
    assert rates and all(
        re.fullmatch(r"max-msg-rate [1-9][0-9]*/[0-9]*[dhms]", r) for r in rates if r[0] != "#"
    )
    assert "run sluice powermta-config again each day" in text
    capped = BASE.replace('started: "2026-11-01"}', 'started: "2026-11-01"}, daily_limit: 160')
    assert "max-msg-rate 13/h" in render(settings(base=capped), today=TODAY)
    before = render(settings(), today=date(2026, 10, 1))
    assert "# warmup starts on 2026-11-01" in before and "max-msg-rate" not in before
