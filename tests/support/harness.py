"""The gateway in-process on loopback, built the way the daemon builds it."""

from __future__ import annotations

import email.utils
import os
import textwrap
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import aiosmtplib

from conf import Settings, parse
from conf.schema.spool import SpoolSettings
from gateway import dkim, parts
from gateway.runtime import Runtime
from gateway.smtp import Listener
from policy.passwords import hash_password
from policy.store import Store
from scheduler.spool_delivery import Report, SpoolDelivery
from scheduler.supervisor import Supervisor

PASSWORD = "correct horse battery staple"
# A cheap scrypt cost keeps tests fast; production hashes use the defaults.
PASSWORD_HASH = hash_password(PASSWORD, n=2**10)


def make_keys(folder: Path) -> dict[str, str]:
    """An RSA-2048 and an Ed25519 key as PKCS#8 PEM files; their DNS TXT values by selector."""
    records = {}
    for selector, algorithm in (("s2026r", "rsa"), ("s2026e", "ed25519")):
        private_pem, txt = dkim.generate_key(algorithm)
        (folder / f"{selector}.pem").write_bytes(private_pem)
        records[selector] = txt
    return records


def config_text(folder: Path, sink_port: int, **extra: str) -> str:
    endings = extra.get("line_endings", "normalize")
    timeout = extra.get("timeout", "2")
    breaker = extra.get("breaker_failures", "100")
    per_client = extra.get("max_connections_per_client", "50")
    tls = extra.get("tls", "null")
    body = f"""
    smtp: {{listen: "127.0.0.1:0", hostname: relay.test, max_message_size: 200000,
            auth_failure_limit: 3, drain_timeout: 5, line_endings: {endings},
            max_connections_per_client: {per_client}, tls: {tls}{extra.get("smtp_extra", "")}}}
    database: "sqlite:///{folder}/sluice.db"
    downstream: {{host: 127.0.0.1, port: {sink_port}, pool_size: 4, timeout: {timeout},
                 connect_timeout: 1, breaker_failures: {breaker}, breaker_reset: 0.5}}
    tenants:
      - name: acme
        pool: acme
        credentials: [{{username: mailwizz-acme, password_hash: "{PASSWORD_HASH}"}}]
        sender_domains: [acme-mail.com]
        dkim:
          - {{domain: acme-mail.com, selector: s2026r, key_file: {folder}/s2026r.pem}}
          - {{domain: acme-mail.com, selector: s2026e, key_file: {folder}/s2026e.pem}}
      - name: trusted
        pool: acme
        trusted_networks: ["127.0.0.2/32"]
        sender_domains: [trusted.example]
    pools:
      acme:
        - {{ip: 192.0.2.10, vmta: acme-1, hostname: mta1.acme-mail.com}}
        - {{ip: 192.0.2.11, vmta: acme-2, hostname: mta2.acme-mail.com}}
    """
    return textwrap.dedent(body)


@dataclass
class Gateway:
    port: int
    listener: Listener
    rt: Runtime
    store: Store
    records: dict[str, str]
    stack: AsyncExitStack  # its parts, stopped in the reverse order by close()
    tasks: Supervisor
    spool: SpoolDelivery | None = None  # the fallback spool's delivery task, when on

    async def close(self) -> None:
        await self.stack.aclose()


async def start_gateway(folder: Path, sink_port: int, **extra: str) -> Gateway:
    return await start_gateway_from(folder, config_text(folder, sink_port, **extra))


def with_pools(text: str, pools: str, extra: str = "") -> str:
    """`text` (from config_text) with its pools replaced by `pools`, plus top-level `extra`."""
    head = text.split("\npools:\n")[0]
    return head + "\n" + textwrap.dedent(pools) + textwrap.dedent(extra)


async def _no_report(records: object) -> int:
    raise AssertionError(f"unexpected bounce of a spooled message: {records}")


async def start_gateway_from(
    folder: Path,
    text: str,
    *,
    clock: Callable[[], datetime] | None = None,
    spool: SpoolSettings | None = None,
    report: Report = _no_report,
) -> Gateway:
    """A gateway from a full configuration text; `clock` pins the time quotas are taken at.

    ``spool`` turns the fallback spool on; ``report`` takes its bounces
    (a feedback service's ``ingest_records``). ``close()`` stops it as the
    daemon stops (its counters included).
    """
    records = make_keys(folder)
    settings: Settings = parse(text, environ=os.environ)
    stack = AsyncExitStack()
    try:
        # The daemon's parts, as the daemon starts them (gateway.daemon.Daemon.start).
        store = await parts.store(stack, settings)
        policy = await parts.policy_mirror(store)
        relay = parts.relay(stack, settings, store, policy, clock=clock, spool=spool)
        tasks = await stack.enter_async_context(Supervisor())
        parts.relay_tasks(tasks, lambda: settings, relay, store)
        delivery = parts.spool_tasks(tasks, relay, spool, report) if spool else None
        listener = await parts.smtp(stack, settings, relay, drain_timeout=0.1)
    except BaseException:
        await stack.aclose()
        raise
    port = listener.servers[0].sockets[0].getsockname()[1]
    return Gateway(port, listener, relay(), store, records, stack, tasks, delivery)


def message(
    to: str = "someone@example.net",
    sender: str = "news@acme-mail.com",
    subject: str = "Hello",
    body: str = "Hi there,\r\nthis is a campaign.\r\n",
    extra_headers: str = "",
) -> bytes:
    head = (
        f"From: Acme <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
        f"Date: {email.utils.formatdate()}\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n{extra_headers}"
    )
    return (head + "\r\n" + body).encode()


async def send(
    port: int,
    to: str = "someone@example.net",
    sender: str = "news@acme-mail.com",
    data: bytes | None = None,
    login: bool = True,
    source: str | None = None,
) -> tuple[int, str]:
    """One transaction; the (code, text) of the final reply, whatever phase gave it."""
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1",
        port=port,
        timeout=15,
        start_tls=False,
        source_address=(source, 0) if source else None,
    )
    await client.connect()
    try:
        if login:
            await client.login("mailwizz-acme", PASSWORD)
        _, reply = await client.sendmail(sender, [to], data or message(to=to, sender=sender))
        return 250, reply
    except aiosmtplib.SMTPRecipientsRefused as exc:
        first = exc.recipients[0]
        return first.code, first.message
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    finally:
        if client.is_connected:
            client.close()


def dns_for(records: dict[str, str]):
    """A dnsfunc for dkimpy's verify that answers our selectors."""

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        selector = name.decode().split("._domainkey.")[0]
        return records[selector].encode() if selector in records else b""

    return lookup
