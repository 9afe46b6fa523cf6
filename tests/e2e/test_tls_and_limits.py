"""STARTTLS, the clear-text AUTH rule, and connection limits."""

import asyncio
import base64
import datetime
import ssl
from pathlib import Path

import aiosmtplib
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conf import parse
from gateway.runtime import build
from gateway.smtp import clear_text_auth_allowed
from tests.support.harness import PASSWORD, config_text, make_keys, message, start_gateway
from tests.support.rawsmtp import RawSMTP
from tests.support.wait import until


def self_signed(folder: Path) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return f"{{cert_file: {folder}/cert.pem, key_file: {folder}/key.pem}}"


def client_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def test_starttls_then_auth_then_relay(tmp_path, sink):
    gw = await start_gateway(tmp_path, sink.port, tls=self_signed(tmp_path))
    try:
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=gw.port, start_tls=True, tls_context=client_context()
        )
        await client.connect()
        assert client.get_transport_info("ssl_object") is not None
        await client.login("mailwizz-acme", PASSWORD)
        await client.sendmail("news@acme-mail.com", ["a@example.net"], message(to="a@example.net"))
        await client.quit()
    finally:
        await gw.close()
    [got] = sink.messages
    assert b"with ESMTPSA" in got.data


async def test_plaintext_injected_after_starttls_is_discarded(tmp_path, sink):
    # CVE-2024-34083 / CVE-2011-0411: commands sent with STARTTLS in one packet
    # must not be executed inside the TLS session.
    gw = await start_gateway(tmp_path, sink.port, tls=self_signed(tmp_path))
    try:
        s = await RawSMTP.open(gw.port)
        ehlo = await s.cmd(b"EHLO t")
        assert "STARTTLS" in ehlo
        s.writer.write(b"STARTTLS\r\nNOOP injected\r\n")
        await s.writer.drain()
        assert (await s.reply()).startswith("220")
        await s.writer.start_tls(client_context())
        reply = await s.cmd(b"EHLO t")
        assert reply.startswith("250") and "STARTTLS" not in reply
        assert "injected" not in reply
        await s.close()
    finally:
        await gw.close()


def test_clear_text_auth_only_on_loopback_and_trusted_networks(tmp_path):
    make_keys(tmp_path)
    rt = build(parse(config_text(tmp_path, 25), environ={}), downstream=None)
    assert clear_text_auth_allowed("127.0.0.1", rt)
    assert clear_text_auth_allowed("::1", rt)
    assert not clear_text_auth_allowed("203.0.113.7", rt)
    assert not clear_text_auth_allowed("2001:db8::7", rt)
    # The "trusted" tenant of the test configuration trusts 127.0.0.2/32 only.
    rt2 = build(
        parse(config_text(tmp_path, 25).replace("127.0.0.2/32", "198.51.100.0/24"), environ={}),
        downstream=None,
    )
    assert clear_text_auth_allowed("198.51.100.9", rt2)


async def test_per_client_connection_limit(tmp_path, sink):
    gw = await start_gateway(tmp_path, sink.port, max_connections_per_client="2")
    try:
        first = await RawSMTP.open(gw.port)
        second = await RawSMTP.open(gw.port)
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        greeting = await asyncio.wait_for(reader.readline(), 5)
        assert greeting.startswith(b"421 4.7.0")
        assert await asyncio.wait_for(reader.read(), 5) == b""  # and the connection is closed
        writer.close()
        await first.close()

        async def welcomed() -> RawSMTP | None:
            client = await RawSMTP.open(gw.port)
            if (await client.cmd(b"NOOP")).startswith("250"):
                return client
            await client.close()
            return None

        third = await until(welcomed, what="a slot free again")
        await second.close()
        await third.close()
    finally:
        await gw.close()


async def test_mail_size_limit_is_per_connection(tmp_path, sink):
    # aiosmtpd shares its MAIL size limit across connections; each EHLO must not
    # change another session's limit.
    gw = await start_gateway(tmp_path, sink.port)
    try:
        sessions = [await RawSMTP.open(gw.port) for _ in range(5)]
        for s in sessions:
            await s.cmd(b"EHLO t")
        limits = {id(p): p.command_size_limits["MAIL"] for p in gw.listener.protocols}
        assert len(set(limits.values())) == 1
        auth = base64.b64encode(b"\0mailwizz-acme\0" + PASSWORD.encode())
        s = sessions[0]
        assert (await s.cmd(b"AUTH PLAIN " + auth)).startswith("235")
        long_mail = b"MAIL FROM:<news@acme-mail.com> SIZE=1000 BODY=8BITMIME SMTPUTF8"
        assert (await s.cmd(long_mail)).startswith("250")
        for s in sessions:
            await s.close()
    finally:
        await gw.close()
