"""``sluice check-config --connect``: try each service the configuration names.

A configuration can be valid and still not start: a role PostgreSQL refuses,
a Redis not running, a PowerMTA that is not listening, a MailWizz password
that changed. Each is tried once, with its own time limit, and reported on
one line (``ok`` or the error), so an operator fixes them all in one round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from conf import Settings
from gateway.startup import one_line, redact

TIMEOUT = 10.0  # seconds per service: a firewall that drops packets is an answer too


async def _database(s: Settings) -> str:
    """Connects and reads the schema version, changing nothing: a check before an
    upgrade must not run the new code's migrations under the old daemon."""
    from policy.store import versions

    state = await versions.state(s.database)
    if state.current == 0:
        return "no schema yet: created at the first start"
    if state.pending:
        return f"schema {state.current}, {state.pending} migration(s) pending: sluice migrate"
    return f"schema {state.current}, up to date"


async def _redis(s: Settings) -> None:
    from policy.counters.redis import RedisCounters

    assert s.redis is not None
    counters = RedisCounters.from_url(s.redis, prefix=s.redis_prefix)
    try:
        await counters.ping()
    finally:
        await counters.close()


async def _downstream(s: Settings) -> None:
    import aiosmtplib

    d = s.downstream
    client = aiosmtplib.SMTP(
        hostname=d.host,
        port=d.port,
        timeout=d.connect_timeout,
        start_tls=False,
        local_hostname=d.helo or s.smtp.hostname,
    )
    await client.connect()  # greets with EHLO: a 4xx/5xx greeting raises
    try:
        await client.noop()
    finally:
        client.close()


async def _mailwizz(s: Settings) -> None:
    from scheduler.mailwizz_sync import connect

    assert s.mailwizz is not None
    conn = await connect(s.mailwizz)
    conn.close()


Check = Callable[[Settings], Awaitable[str | None]]  # a note for the "ok" line, or None


def checks(s: Settings) -> list[tuple[str, str, Check]]:
    """(name, where, check) of each service this configuration uses, in the daemon's order."""
    out: list[tuple[str, str, Check]] = [("database", redact(s.database), _database)]
    if s.redis is not None:
        out.append(("redis", redact(s.redis), _redis))
    if s.downstream.sink is None:
        out.append(("downstream", f"{s.downstream.host}:{s.downstream.port}", _downstream))
    if s.mailwizz is not None:
        out.append(("mailwizz", s.mailwizz.dsn().where(), _mailwizz))
    return out


async def _one(name: str, where: str, check: Check, s: Settings) -> bool:
    try:
        async with asyncio.timeout(TIMEOUT):
            note = await check(s)
    except Exception as exc:  # every failure is a report line, whatever the driver raises
        print(f"{name}: FAILED ({where}): {one_line(exc)}")
        return False
    print(f"{name}: ok ({where})" + (f": {note}" if note else ""))
    return True


def connect_all(s: Settings) -> bool:
    """Try every service; True when all answered."""

    async def main() -> bool:
        results = [await _one(name, where, check, s) for name, where, check in checks(s)]
        return all(results)

    ok = asyncio.run(main())
    if s.downstream.sink is not None:
        print(f"downstream: not tried (messages go to the outbox {s.downstream.sink})")
    return ok
