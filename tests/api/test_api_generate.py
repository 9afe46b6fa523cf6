"""Generated configuration over real HTTP: PowerMTA, MailWizz, DKIM DNS records."""

from __future__ import annotations

import asyncio
import base64
import sys
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

import conf
from policy.counters.memory import MemoryCounters
from policy.quota.selection import Planner
from policy.quota.warmup import hourly_limit
from tests.support.admin_api import serve_admin

NOW = datetime(2026, 11, 21, 10, 30, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]

CONFIG = """
smtp:
  listen: "127.0.0.1:2525"
  hostname: relay.example.net
  advertised_host: smtp.acme-mail.com
downstream: {host: 127.0.0.1, port: 2526}
warmup:
  schedules:
    short: {default: [100, 200]}
tenants:
  - name: acme
    pool: acme
    credentials:
      - {username: mailwizz-acme, password_hash: "scrypt$16384$8$1$c2FsdA==$aGFzaA=="}
    sender_domains: [acme-mail.com, news.acme-mail.com]
    dkim:
      - {domain: acme-mail.com, selector: s2026r, key_file: KEYS/rsa.pem}
      - {domain: acme-mail.com, selector: s2026e, key_file: KEYS/ed.pem}
  - name: beta
    pool: beta
    trusted_networks: [10.1.0.0/16]
    sender_domains: [beta.example]
    job_header: X-Campaign
    dkim:
      - {domain: "*", selector: any, key_file: KEYS/rsa.pem}
pools:
  acme:
    - {ip: 192.0.2.10, vmta: acme-1, hostname: mta1.acme-mail.com,
       warmup: {schedule: short, started: "2026-11-21"}}
    - {ip: 192.0.2.11, vmta: acme-2, hostname: mta2.acme-mail.com, daily_limit: 500}
    - {ip: 192.0.2.12, vmta: acme-3, hostname: mta3.acme-mail.com, enabled: false}
  beta:
    - {ip: 198.51.100.7, vmta: beta-1, hostname: mta.beta.example}
"""


def write_config(tmp_path: Path, text: str = CONFIG) -> tuple[Path, dict[str, object]]:
    keys = {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ed": ed25519.Ed25519PrivateKey.generate(),
    }
    for name, key in keys.items():
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        (tmp_path / f"{name}.pem").write_bytes(pem)
    path = tmp_path / "sluice.yaml"
    path.write_text(text.replace("KEYS", str(tmp_path)))
    return path, keys


async def run_cli(*args: str) -> tuple[int, str, str]:
    """``sluice`` as a subprocess; stopped by its own PID if it outlives 30 s."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_powermta_config_is_the_cli_output(store, tmp_path):
    path, _ = write_config(tmp_path)
    code, cli_text, err = await run_cli("powermta-config", "-c", str(path))
    assert code == 0, err
    async with serve_admin(conf.load(str(path)), store) as server:
        async with server.session(None) as anon:
            assert (await anon.get("/api/powermta/config")).status == 401
        async with server.session("viewer") as viewer:
            r = await viewer.get("/api/powermta/config")
            assert r.status == 200
            assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
            assert await r.text() == cli_text
    assert "<virtual-mta-pool acme-pool>" in cli_text
    assert "smtp-source-host 192.0.2.11 mta2.acme-mail.com" in cli_text


async def test_powermta_config_names_the_missing_setting(store, tmp_path):
    remote = CONFIG.replace("host: 127.0.0.1, port: 2526", "host: 203.0.113.5, port: 25")
    path, _ = write_config(tmp_path, remote)
    code, out, err = await run_cli("powermta-config", "-c", str(path))
    assert (code, out) == (2, "")
    assert "powermta.source_address" in err
    async with serve_admin(conf.load(str(path)), store) as server:
        async with server.session("viewer") as viewer:
            r = await viewer.get("/api/powermta/config")
            error = (await r.json())["error"]
            assert (r.status, error["code"]) == (409, "incomplete_configuration")
            assert error["field"] == "powermta.source_address"


async def test_mailwizz_values_follow_todays_capacity(store, tmp_path):
    path, _ = write_config(tmp_path)
    settings = conf.load(str(path))
    counters = MemoryCounters()
    warming_hour = hourly_limit(100, settings.warmup.sending_hours, settings.warmup.burst)
    async with serve_admin(settings, store, counters=counters, clock=lambda: NOW) as server:
        async with server.session("viewer") as viewer:
            r = await viewer.get("/api/mailwizz/delivery-server/acme")
            assert r.status == 200
            body = await r.json()
            assert body["hostname"] == "smtp.acme-mail.com"
            assert (body["port"], body["protocol"]) == (2525, "none")
            assert body["usernames"] == ["mailwizz-acme"]
            assert "password_hash" not in str(body) and "scrypt" not in str(body)
            assert body["from_domains"] == ["acme-mail.com", "news.acme-mail.com"]
            # Day 1 of "short" (100, paced by the hour) plus the capped warm IP (500);
            # the disabled IP counts for nothing.
            assert (body["daily_quota"], body["hourly_quota"]) == (600, warming_hour + 500)
            assert body["capacity"]["ips"] == ["192.0.2.10", "192.0.2.11"]
            # MailWizz adds X-Mw-Campaign-Uid itself: nothing to add.
            assert body["additional_headers"] == []
            assert body["limits"]["max_recipients_per_message"] == 1000

            # Reserve what the gateway would for three messages on the warming IP.
            ips = settings.pools["acme"]
            [warming] = [
                c for c in Planner(settings.warmup).candidates(ips, NOW, "other") if c.warming
            ]
            for _ in range(3):
                await counters.reserve(warming.limits)
            body = await (await viewer.get("/api/mailwizz/delivery-server/acme")).json()
            assert (body["daily_quota"], body["hourly_quota"]) == (597, warming_hour - 3 + 500)
            assert body["capacity"]["daily_used"] == 3

            beta = await (await viewer.get("/api/mailwizz/delivery-server/beta")).json()
            # A warm IP without a daily limit: no quota at all.
            assert (beta["daily_quota"], beta["hourly_quota"]) == (None, None)
            assert beta["usernames"] == []
            assert beta["additional_headers"] == [{"name": "X-Campaign", "value": "[CAMPAIGN_UID]"}]

            r = await viewer.get("/api/mailwizz/delivery-server/nobody")
            error = (await r.json())["error"]
            assert (r.status, error["code"]) == (404, "unknown_tenant")
            assert "acme, beta" in error["message"]


async def test_dkim_records_publish_the_keys_public_halves(store, tmp_path):
    path, keys = write_config(tmp_path)
    async with serve_admin(conf.load(str(path)), store) as server:
        async with server.session("viewer") as viewer:
            r = await viewer.get("/api/dkim/ACME-mail.com.")
            assert r.status == 200
            body = await r.json()
            assert body["domain"] == "acme-mail.com"
            by_selector = {rec["selector"]: rec for rec in body["records"]}
            assert sorted(by_selector) == ["s2026e", "s2026r"]
            for selector, key, kind in [("s2026r", "rsa", "rsa"), ("s2026e", "ed", "ed25519")]:
                record = by_selector[selector]
                assert record["name"] == f"{selector}._domainkey.acme-mail.com"
                assert (record["type"], record["key_type"]) == ("TXT", kind)
                assert record["tenants"] == ["acme"]
                assert all(len(s.encode()) <= 255 for s in record["strings"])
                assert "".join(record["strings"]) == record["value"]
                assert record["zone"].startswith(f"{record['name']}. IN TXT ( ")
                tags = dict(
                    part.strip().split("=", 1) for part in record["value"].split(";") if part
                )
                assert (tags["v"], tags["k"]) == ("DKIM1", kind)
                assert base64.b64decode(tags["p"]) == _public_bytes(keys[key])
            assert len(by_selector["s2026r"]["strings"]) == 2  # a 2048-bit key needs two

            # beta signs as any of its sender domains with its "*" key.
            beta = await (await viewer.get("/api/dkim/beta.example")).json()
            assert [(rec["name"], rec["tenants"]) for rec in beta["records"]] == [
                ("any._domainkey.beta.example", ["beta"])
            ]
            assert base64.b64decode(beta["records"][0]["value"].split("p=")[1]) == (
                _public_bytes(keys["rsa"])
            )

            r = await viewer.get("/api/dkim/unknown.example")
            error = (await r.json())["error"]
            assert (r.status, error["code"]) == (404, "unknown_domain")
            assert "known: acme-mail.com, beta.example" in error["message"]

        (tmp_path / "ed.pem").unlink()
        async with server.session("viewer") as viewer:
            body = await (await viewer.get("/api/dkim/acme-mail.com")).json()
            missing = next(rec for rec in body["records"] if rec["selector"] == "s2026e")
            assert "key file not found" in missing["error"] and "value" not in missing


def _public_bytes(key: object) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
