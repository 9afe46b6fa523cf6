"""Warmup quotas over SMTP, one in-process gateway: overflow, exactness, refusals."""

import base64
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosmtplib
import pytest

from tests.support.daemon import free_port
from tests.support.harness import (
    PASSWORD,
    Gateway,
    config_text,
    message,
    send,
    start_gateway_from,
    with_pools,
)
from tests.support.load import blast
from tests.support.rawsmtp import RawSMTP
from tests.support.sink import Sink
from tests.support.wait import until

# A pinned clock: no window boundary can fall inside a test.
NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
TODAY = NOW.date().isoformat()
ONE_IP = """
pools:
  acme:
    - {ip: 192.0.2.10, vmta: acme-1, hostname: mta1.acme-mail.com, daily_limit: 500}
"""


@pytest.fixture
async def start(tmp_path: Path, sink: Sink) -> AsyncIterator[Callable]:
    started: list[Gateway] = []

    async def go(pools: str, extra: str = "") -> Gateway:
        base = config_text(tmp_path, sink.port, timeout="10", max_connections_per_client="250")
        gw = await start_gateway_from(tmp_path, with_pools(base, pools, extra), clock=lambda: NOW)
        started.append(gw)
        return gw

    yield go
    for gw in started:
        await gw.close()
        await gw.rt.counters.close()


async def send_one(port: int, to: str) -> tuple[int, str]:
    return await send(port, to=to, data=message(to=to))


def vmta_of(raw: bytes) -> str:
    [line] = [x for x in raw.split(b"\r\n") if x.startswith(b"X-Virtual-MTA:")]
    return line.split(b":", 1)[1].strip().decode()


async def test_warming_ip_carries_its_ramp_then_the_warm_ip_takes_the_rest(start, sink):
    gw = await start(
        f"""
        pools:
          acme:
            - {{ip: 192.0.2.10, vmta: acme-warm, hostname: mta1.acme-mail.com}}
            - {{ip: 192.0.2.12, vmta: acme-new, hostname: mta3.acme-mail.com,
               warmup: {{schedule: ten, started: "{TODAY}"}}}}
        """,
        # One sending hour and no burst: the hour may carry the whole day of 10.
        "warmup: {schedules: {ten: {default: [10, 20]}}, sending_hours: 1, burst: 1}\n",
    )
    for i in range(15):
        to = f"r{i}@example.net"
        assert (await send_one(gw.port, to))[0] == 250
    assert [vmta_of(m.data) for m in sink.messages] == ["acme-new"] * 10 + ["acme-warm"] * 5
    usage = await gw.rt.counters.usage([f"day:192.0.2.12:{TODAY}"])
    assert usage == {f"day:192.0.2.12:{TODAY}": 10}


async def test_exactly_the_daily_limit_under_200_connections(start, sink):
    gw = await start(ONE_IP)
    tally = await blast([gw.port], total=700, connections=200)
    assert tally == {"250": 500, "451 4.7.1": 200}
    assert len(sink.messages) == 500
    key = f"day:192.0.2.10:{TODAY}"
    assert await gw.rt.counters.usage([key]) == {key: 500}


async def test_exactly_the_hourly_limit_of_a_warming_ip(start, sink):
    gw = await start(
        f"""
        pools:
          acme:
            - {{ip: 192.0.2.12, vmta: acme-new, hostname: mta3.acme-mail.com,
               warmup: {{schedule: big, started: "{TODAY}"}}}}
        """,
        # 8000 a day over 16 hours without burst: 500 an hour.
        "warmup: {schedules: {big: {default: [8000]}}, sending_hours: 16, burst: 1}\n",
    )
    tally = await blast([gw.port], total=700, connections=200)
    assert tally == {"250": 500, "451 4.7.1": 200}
    assert len(sink.messages) == 500
    hour = f"hour:192.0.2.12:{TODAY}T12"
    day = f"day:192.0.2.12:{TODAY}"
    assert await gw.rt.counters.usage([hour, day]) == {hour: 500, day: 500}


async def test_exactly_the_provider_limit_of_a_warming_ip(start, sink):
    gw = await start(
        f"""
        pools:
          acme:
            - {{ip: 192.0.2.12, vmta: acme-new, hostname: mta3.acme-mail.com,
               warmup: {{schedule: split, started: "{TODAY}"}}}}
        """,
        "warmup: {schedules: {split: {default: [100000], google: [500]}}, sending_hours: 1}\n",
    )
    tally = await blast([gw.port], total=700, connections=200, domain="gmail.com")
    assert tally == {"250": 500, "451 4.7.1": 200}
    assert len(sink.messages) == 500
    google = f"day:192.0.2.12:{TODAY}:google"
    assert await gw.rt.counters.usage([google]) == {google: 500}
    # Other providers still have room on the same IP.
    assert (await send_one(gw.port, "someone@example.net"))[0] == 250


async def test_the_refusal_names_the_limit_and_when_it_frees(start, sink):
    gw = await start(ONE_IP.replace("500", "1"))
    assert (await send_one(gw.port, "a@example.net"))[0] == 250
    code, text = await send_one(gw.port, "b@example.net")
    assert code == 451
    # MailWizz keeps this text in its delivery log: the limit, its count, when it frees.
    tomorrow = (NOW + timedelta(days=1)).date().isoformat()
    assert text == f"4.7.1 Daily limit of 192.0.2.10 used (1/1); frees at {tomorrow}T00:00:00+00:00"


async def test_a_provider_group_refusal_names_the_group_over_smtp(start, sink):
    gw = await start(
        f"""
        pools:
          acme:
            - {{ip: 192.0.2.12, vmta: acme-new, hostname: mta3.acme-mail.com,
               warmup: {{schedule: split, started: "{TODAY}"}}}}
        """,
        "warmup: {schedules: {split: {default: [100000], google: [2]}}, sending_hours: 1}\n",
    )
    assert [(await send_one(gw.port, f"u{i}@gmail.com"))[0] for i in range(2)] == [250, 250]
    code, text = await send_one(gw.port, "u3@gmail.com")
    tomorrow = (NOW + timedelta(days=1)).date().isoformat()
    assert (code, text) == (
        451,
        f"4.7.1 Daily warmup limit of 192.0.2.12 for google used (2/2);"
        f" frees at {tomorrow}T00:00:00+00:00",
    )


async def test_second_recipient_that_does_not_fit_gets_452_and_the_first_is_delivered(start, sink):
    gw = await start(ONE_IP.replace("500", "1"))
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gw.port, start_tls=False)
    await client.connect()
    await client.login("mailwizz-acme", PASSWORD)
    refused, _ = await client.sendmail(
        "news@acme-mail.com", ["first@example.net", "second@example.net"], message()
    )
    await client.quit()
    assert list(refused) == ["second@example.net"]
    assert (refused["second@example.net"].code, refused["second@example.net"].message[:5]) == (
        452,
        "4.5.3",
    )
    [got] = sink.messages
    assert got.recipients == ["first@example.net"]


async def test_redis_down_defers_at_rcpt_and_nothing_goes_downstream(start, sink):
    closed = free_port()
    gw = await start(ONE_IP, f"redis: redis://127.0.0.1:{closed}/0\n")
    code, text = await send_one(gw.port, "a@example.net")
    assert (code, text.split()[0]) == (451, "4.3.0")
    assert not any(c.startswith("MAIL") for c in sink.commands)


async def test_a_message_refused_downstream_gives_its_units_back(start, sink):
    gw = await start(ONE_IP.replace("500", "1"))
    code, _ = await send_one(gw.port, "tempfail-data@example.net")
    assert code == 451
    # The unit came back: the one message of the day still goes.
    assert (await send_one(gw.port, "a@example.net"))[0] == 250


async def test_rset_and_hang_up_before_data_give_reservations_back(start, sink):
    gw = await start(ONE_IP.replace("500", "1"))
    auth = base64.b64encode(b"\0mailwizz-acme\0" + PASSWORD.encode())
    key = f"day:192.0.2.10:{TODAY}"
    for ending in (b"RSET", b"QUIT", None):  # RSET, a clean QUIT, a dropped connection
        s = await RawSMTP.open(gw.port)
        await s.cmd(b"EHLO t")
        assert (await s.cmd(b"AUTH PLAIN " + auth)).startswith("235")
        assert (await s.cmd(b"MAIL FROM:<news@acme-mail.com>")).startswith("250")
        assert (await s.cmd(b"RCPT TO:<a@example.net>")).startswith("250")
        if ending is not None:
            await s.cmd(ending)
        await s.close()
        await until(
            lambda: gw.rt.counters.usage([key]), done=lambda u: u == {key: 0}, what=f"{ending!r}"
        )
    assert (await send_one(gw.port, "a@example.net"))[0] == 250
