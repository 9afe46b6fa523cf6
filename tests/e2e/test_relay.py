"""MailWizz in, PowerMTA out, over real sockets: the relay core end to end."""

import base64

import aiosmtplib
import dkim as dkimpy

from tests.support.harness import dns_for, message, send
from tests.support.wait import until


async def test_relayed_message_is_signed_and_stamped(gateway, sink):
    data = message(
        extra_headers="X-Mw-Campaign-Uid: ab12cd\r\nX-Virtual-MTA: hot-ip\r\nX-Job: forged\r\n"
    )
    code, _ = await send(gateway.port, data=data)
    assert code == 250
    [got] = sink.messages
    assert got.mail_from == "news@acme-mail.com" and got.recipients == ["someone@example.net"]
    raw = got.data
    assert raw.count(b"X-Virtual-MTA:") == 1 and b"X-Virtual-MTA: acme-" in raw
    assert b"hot-ip" not in raw and b"forged" not in raw
    assert b"X-Job: ab12cd\r\n" in raw and b"X-Mw-Campaign-Uid: ab12cd\r\n" in raw
    assert b"Received: from " in raw and b"Message-ID:" in raw
    signatures = [line for line in raw.split(b"\r\n") if line.startswith(b"DKIM-Signature:")]
    assert len(signatures) == 2
    assert b"a=rsa-sha256" in raw and b"a=ed25519-sha256" in raw
    lookup = dns_for(gateway.records)
    verifier = dkimpy.DKIM(raw)
    assert verifier.verify(idx=0, dnsfunc=lookup)
    assert verifier.verify(idx=1, dnsfunc=lookup)


async def test_all_recipients_of_a_transaction_ride_one_ip(gateway, sink):
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gateway.port, start_tls=False)
    await client.connect()
    await client.login("mailwizz-acme", "correct horse battery staple")
    rcpts = [f"r{i}@example.net" for i in range(5)]
    await client.sendmail("news@acme-mail.com", rcpts, message())
    await client.sendmail("news@acme-mail.com", ["x@example.net"], message())
    await client.quit()
    first, second = sink.messages
    assert first.recipients == rcpts
    vmta = [line for line in first.data.split(b"\r\n") if line.startswith(b"X-Virtual-MTA")]
    assert len(vmta) == 1
    # Round-robin: the next transaction takes the other IP of the pool.
    assert vmta != [
        line for line in second.data.split(b"\r\n") if line.startswith(b"X-Virtual-MTA")
    ]


async def test_open_relay_refused(gateway, sink):
    code, text = await send(gateway.port, login=False)
    assert (code, text.split()[0]) == (530, "5.7.0")
    assert sink.messages == [] and sink.commands == []


async def test_trusted_network_needs_no_auth(gateway, sink):
    code, _ = await send(
        gateway.port,
        login=False,
        source="127.0.0.2",
        sender="a@trusted.example",
        data=message(sender="a@trusted.example"),
    )
    assert code == 250
    assert sink.messages[0].mail_from == "a@trusted.example"


async def test_bad_password_then_lockout(gateway, sink):
    wrong = base64.b64encode(b"\0mailwizz-acme\0wrong")
    for _ in range(3):
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gateway.port, start_tls=False)
        await client.connect()
        await client.ehlo()
        code, text = await client.execute_command(b"AUTH", b"PLAIN", wrong)
        assert (code, text.split()[0]) == (535, "5.7.8")
        client.close()
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gateway.port, start_tls=False)
    await client.connect()
    await client.ehlo()
    right = base64.b64encode(b"\0mailwizz-acme\0correct horse battery staple")
    code, text = await client.execute_command(b"AUTH", b"PLAIN", right)
    assert (code, text.split()[0]) == (421, "4.7.0")
    client.close()


async def test_foreign_sender_domain(gateway, sink):
    code, text = await send(
        gateway.port, sender="ceo@other.example", data=message(sender="ceo@other.example")
    )
    assert (code, text.split()[0]) == (550, "5.7.1")
    # The envelope is ours but the header From is not.
    code, text = await send(gateway.port, data=message(sender="ceo@other.example"))
    assert (code, text.split()[0]) == (550, "5.7.1")
    assert sink.messages == []


async def test_oversize_refused(gateway, sink):
    big = message(body="x" * 70 + "\r\n") + b"y" * 76 * 4000
    code, text = await send(gateway.port, data=big.replace(b"y" * 76, b"y" * 76 + b"\r\n"))
    assert (code, text.split()[0]) == (552, "5.3.4")
    assert sink.messages == []


async def test_size_parameter_refused_at_mail(gateway, sink):
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gateway.port, start_tls=False)
    await client.connect()
    await client.login("mailwizz-acme", "correct horse battery staple")
    code, text = await client.execute_command(
        b"MAIL", b"FROM:<news@acme-mail.com>", b"SIZE=999999999"
    )
    assert (code, text.split()[0]) == (552, "5.3.4")
    client.close()


async def test_downstream_refusals_keep_their_class(gateway, sink):
    code, text = await send(gateway.port, to="permfail-rcpt@example.net")
    assert (code, text.split()[0]) == (550, "5.1.1")
    code, text = await send(gateway.port, to="tempfail-rcpt@example.net")
    assert (code, text.split()[0]) == (451, "4.2.0")
    code, text = await send(gateway.port, to="permfail-data@example.net")
    assert (code, text.split()[0]) == (554, "5.7.1")
    # The next hop's own words never reach the client.
    assert "second line" not in text and "\n" not in text
    assert sink.messages == []


async def test_downstream_down_then_back_delivers_once(gateway, sink):
    port = sink.port
    await sink.stop()
    code, text = await send(gateway.port)
    assert (code, text.split()[0]) == (451, "4.4.1")
    await sink.start(port)
    code, _ = await send(gateway.port)
    assert code == 250
    assert len(sink.messages) == 1


async def test_downstream_slow_gives_451_and_retry_delivers_once(gateway, sink):
    code, text = await send(gateway.port, to="slow-mail@example.net")
    assert code == 451 and text.startswith("4.4.2")
    assert sink.messages == []


async def test_downstream_drop_mid_data_then_retry(gateway, sink):
    sink.drop_next_data = 1
    code, text = await send(gateway.port)
    assert code == 451 and text.startswith("4.4.")
    assert sink.messages == []
    code, _ = await send(gateway.port)
    assert code == 250
    assert len(sink.messages) == 1


async def test_stale_pooled_connection_is_retried_once(gateway, sink):
    assert (await send(gateway.port))[0] == 250
    # The sink times the idle pooled session out behind our back.
    sessions = list(__import__("tests.support.sink", fromlist=["_OPEN"])._OPEN[id(sink)])
    for proto in sessions:
        if proto.transport is not None:
            proto.transport.close()
    await until(lambda: all(p.transport is None for p in sessions), what="the sink hung up")
    assert (await send(gateway.port))[0] == 250
    assert len(sink.messages) == 2


async def test_events_are_recorded(gateway, sink):
    await send(gateway.port)
    await send(gateway.port, to="permfail-rcpt@example.net")
    await gateway.rt.recorder.flush()
    events = await gateway.store.recent_events()
    assert [e["kind"] for e in events] == ["rejected", "relayed"]
    assert events[1]["vmta"].startswith("acme-") and events[1]["tenant"] == "acme"
