"""The fallback spool over real sockets: PowerMTA away, then back; full; bounces; expiry."""

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from conf import parse
from conf.schema.spool import SpoolSettings
from gateway import spool as spool_mod
from policy.store.sqlite import SqliteStore
from scheduler.feedback_service import FeedbackService
from tests.support.harness import config_text, message, send, start_gateway_from
from tests.support.sink import Sink

QUEUED = re.compile(r"^2\.0\.0 queued as (\S+)$")
HOOK_SECRET = "hook-secret-0123456789"


async def poll(done: Callable[[], bool | Awaitable[bool]], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = done()
        if result if isinstance(result, bool) else await result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def spool_settings(tmp_path: Path, **extra: object) -> SpoolSettings:
    return SpoolSettings(dir=str(tmp_path / "spool"), retry_interval=0.1, **extra)  # type: ignore[arg-type]


def leftovers(tmp_path: Path) -> list[str]:
    found = (tmp_path / "spool").rglob("*")
    return sorted(p.name for p in found if p.is_file() and p.suffix != ".lock")


async def down_sink() -> Sink:
    """A sink whose port is known but closed: PowerMTA is down (connection refused)."""
    sink = await Sink().start()
    await sink.stop()
    return sink


async def test_powermta_down_under_load_then_back_every_250_arrives_once_in_order(
    tmp_path: Path,
) -> None:
    sink = await down_sink()
    text = config_text(tmp_path, sink.port)
    gw = await start_gateway_from(tmp_path, text, spool=spool_settings(tmp_path))
    queued: dict[str, str] = {}  # recipient -> spool id
    try:

        async def client(c: int) -> None:
            for n in range(25):
                to = f"c{c}-n{n}@example.net"
                code, reply = await send(gw.port, to=to)
                assert code == 250, reply
                found = QUEUED.match(reply)
                assert found, reply
                queued[to] = found[1]

        await asyncio.gather(*(client(c) for c in range(4)))
        assert len(queued) == 100 and sink.messages == []
        assert gw.rt.spool.count == 100 and gw.rt.spool.status()["has_room"]

        await sink.start(sink.port)  # PowerMTA is back
        await poll(lambda: len(sink.messages) >= 100 and gw.rt.spool.count == 0)
        got = [m.recipients[0] for m in sink.messages]
        assert sorted(got) == sorted(queued)  # every one, once
        by_vmta: dict[str, list[str]] = {}
        for m in sink.messages:
            vmta = re.search(rb"X-Virtual-MTA: (\S+)", m.data)
            assert vmta, "the chosen VMTA rides in the stored message"
            by_vmta.setdefault(vmta[1].decode(), []).append(queued[m.recipients[0]])
        assert len(by_vmta) == 2
        for ids in by_vmta.values():
            assert ids == sorted(ids), "redelivered out of order on one IP"
        assert leftovers(tmp_path) == []
        # Direct relay again: 250 means PowerMTA said 250.
        code, reply = await send(gw.port, to="after@example.net")
        assert (code, QUEUED.match(reply)) == (250, None)
    finally:
        await gw.close()
        await sink.stop()


async def test_spool_full_answers_451_431_and_a_refusal_is_not_spooled(tmp_path: Path) -> None:
    sink = await down_sink()
    spool = spool_settings(tmp_path, max_messages=2)
    gw = await start_gateway_from(tmp_path, config_text(tmp_path, sink.port), spool=spool)
    try:
        assert (await send(gw.port, to="a@example.net"))[0] == 250
        assert (await send(gw.port, to="b@example.net"))[0] == 250
        code, reply = await send(gw.port, to="c@example.net")
        assert (code, reply[:5]) == (451, "4.3.1")
        await sink.start(sink.port)
        # A 5xx from PowerMTA is answered as before, synchronously.
        code, reply = await send(gw.port, to="permfail-data@example.net")
        assert (code, reply[:5]) == (554, "5.7.1")
        await poll(lambda: gw.rt.spool.count == 0)
        assert sorted(m.recipients[0] for m in sink.messages) == ["a@example.net", "b@example.net"]
    finally:
        await gw.close()
        await sink.stop()


async def test_a_failed_spool_write_answers_the_4xx_and_leaves_no_tmp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = await down_sink()
    gw = await start_gateway_from(
        tmp_path, config_text(tmp_path, sink.port), spool=spool_settings(tmp_path)
    )
    try:

        def broken(fd: int) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(spool_mod.os, "fsync", broken)
        code, reply = await send(gw.port)
        monkeypatch.undo()
        assert (code, reply[:5]) == (451, "4.4.1")
        assert leftovers(tmp_path) == [] and gw.rt.spool.count == 0
    finally:
        await gw.close()


class Receiver:
    """MailWizz's /dswh/pmta and a tenant's webhook."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, await request.read()))
        return web.Response(text="")


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, int]]:
    r = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", r.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield r, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    await runner.cleanup()


def with_receivers(text: str, port: int) -> str:
    hooks = (
        f'    mailwizz_dswh: "http://127.0.0.1:{port}/index.php/dswh/pmta"\n'
        f'    webhooks: [{{url: "http://127.0.0.1:{port}/hook", secret: "{HOOK_SECRET}",'
        " events: [bounced]}]\n"
    )
    return text.replace(
        "    sender_domains: [acme-mail.com]\n", "    sender_domains: [acme-mail.com]\n" + hooks, 1
    )


async def bounce_reaches_mailwizz_and_hook(
    tmp_path: Path, receiver: tuple[Receiver, int], to: str, spool: SpoolSettings, back: bool
) -> tuple[dict, dict]:
    r, port = receiver
    sink = await down_sink()
    text = with_receivers(config_text(tmp_path, sink.port), port)
    store = SqliteStore(str(tmp_path / "feedback.db"))
    await store.open()
    service: list[FeedbackService] = []  # built once the gateway made the DKIM keys

    async def report(records: Sequence[dict[str, str]]) -> int:
        return await service[0].ingest_records(records)

    gw = await start_gateway_from(tmp_path, text, spool=spool, report=report)
    settings = parse(text, environ=os.environ)
    service.append(FeedbackService(store, lambda: settings))
    try:
        data = message(to=to, extra_headers="Message-ID: <keep-me-1@acme-mail.com>\r\n")
        code, reply = await send(gw.port, to=to, data=data)
        assert code == 250 and QUEUED.match(reply), reply
        if back:
            await sink.start(sink.port)
        await poll(lambda: gw.rt.spool.count == 0)
        assert await store.pending_notifications() == 2
        async with aiohttp.ClientSession() as http:
            assert await service[0].notifier.send_due(http) == 2
        by_path = {path: json.loads(body) for path, body in r.requests}
        [record] = by_path["/index.php/dswh/pmta"]
        [event] = by_path["/hook"]["events"]
        assert record["header_Message-Id"] == "<keep-me-1@acme-mail.com>"
        assert (record["type"], record["rcpt"]) == ("b", to)
        assert (event["type"], event["recipient"]) == ("bounced", to)
        assert leftovers(tmp_path) == [] and sink.messages == []
        return record, event
    finally:
        await gw.close()
        await sink.stop()
        await service[0].notifier.close()
        await store.close()


async def test_a_5xx_on_redelivery_is_a_bounce_for_mailwizz_and_the_webhook(
    tmp_path: Path, receiver: tuple[Receiver, int]
) -> None:
    record, event = await bounce_reaches_mailwizz_and_hook(
        tmp_path, receiver, "permfail-data@example.net", spool_settings(tmp_path), back=True
    )
    # 554 5.7.1 content refused: a sender-side category, never a hard bounce.
    assert record["bounceCat"] == "policy-related" and record["dsnStatus"] == "5.7.1"
    assert not event["suppressed"]


async def test_an_expired_message_is_an_internal_bounce_for_mailwizz(
    tmp_path: Path, receiver: tuple[Receiver, int]
) -> None:
    spool = spool_settings(tmp_path, max_age=0.5)
    record, event = await bounce_reaches_mailwizz_and_hook(
        tmp_path, receiver, "bob@example.net", spool, back=False
    )
    # MailWizz records message-expired as an internal bounce: no action on the subscriber.
    assert record["bounceCat"] == "message-expired" and not event["suppressed"]
    assert record["dsnStatus"] == "4.4.7"


async def test_a_4xx_or_a_timeout_before_data_is_spooled_after_the_dot_it_is_not(
    tmp_path: Path,
) -> None:
    sink = await Sink(delay=3.0).start()
    text = config_text(tmp_path, sink.port, timeout="1")
    gw = await start_gateway_from(tmp_path, text, spool=spool_settings(tmp_path))
    try:
        # PowerMTA refuses this one with a 4xx every time: it must not hold the others back.
        code, reply = await send(gw.port, to="tempfail-rcpt-1@example.net")
        assert code == 250 and QUEUED.match(reply), reply
        sink.tempfail_next_data = 1  # PowerMTA answers the dot with 451 once
        code, reply = await send(gw.port, to="refused-once@example.net")
        assert code == 250 and QUEUED.match(reply), reply
        # PowerMTA silent at RCPT past downstream.timeout: nothing was sent, so kept.
        code, reply = await send(gw.port, to="slow-mail@example.net")
        assert code == 250 and QUEUED.match(reply), reply
        # Silent after the dot: PowerMTA may have it, so never spooled (no second copy).
        code, reply = await send(gw.port, to="slow-data@example.net")
        assert (code, reply[:5]) == (451, "4.4.2"), reply
        sink.delay = 0.0
        await poll(lambda: gw.rt.spool.count == 1 and len(sink.messages) >= 2)
        [(_, stuck)] = spool_mod.listing(tmp_path / "spool")
        assert spool_mod.read_entry(stuck)[0].recipients == ("tempfail-rcpt-1@example.net",)
        delivered = [m.recipients[0] for m in sink.messages]
        assert delivered.count("refused-once@example.net") == 1
        assert delivered.count("slow-mail@example.net") == 1
    finally:
        await gw.close()
        await sink.stop()
