"""A login says nothing at WARNING: with MailWizz's one-message connections, a
warning per login is a warning per message."""

import logging

import aiosmtplib
import pytest

from tests.e2e.test_tls_and_limits import client_context, self_signed
from tests.support.harness import PASSWORD, message, start_gateway


@pytest.mark.filterwarnings("error")
async def test_a_login_logs_no_deprecation_warning(tmp_path, sink, caplog):
    caplog.set_level(logging.DEBUG, logger="mail.log")
    gw = await start_gateway(tmp_path, sink.port, tls=self_signed(tmp_path))
    try:
        for n in range(2):  # two connections: two logins
            client = aiosmtplib.SMTP(
                hostname="127.0.0.1", port=gw.port, start_tls=True, tls_context=client_context()
            )
            await client.connect()
            await client.login("mailwizz-acme", PASSWORD)
            to = f"r{n}@example.net"
            await client.sendmail("news@acme-mail.com", [to], message(to=to))
            await client.quit()
    finally:
        await gw.close()
    assert len(sink.messages) == 2
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [w for w in warned if "deprecated" in w], warned
