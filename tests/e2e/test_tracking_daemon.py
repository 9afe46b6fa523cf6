"""The public listener as the daemon runs it: one-click unsubscribe, then 550 at the next RCPT."""

from __future__ import annotations

import aiohttp
import pytest

from policy.store import open_store
from tests.support import campaign as c
from tests.support.daemon import Daemon, free_port
from tests.support.harness import make_keys, send
from tests.support.wait import until

pytestmark = pytest.mark.slow


async def test_one_click_through_the_daemon_refuses_the_next_rcpt(tmp_path, sink):
    make_keys(tmp_path)
    smtp, admin, public = free_port(), free_port(), free_port()
    base = f"http://127.0.0.1:{public}"
    text = c.tracking_config(tmp_path, sink.port, base).replace(
        '"127.0.0.1:0"', f'"127.0.0.1:{smtp}"'
    )
    text += f'http: {{admin_listen: "127.0.0.1:{admin}", public_listen: "127.0.0.1:{public}"}}\n'
    path = tmp_path / "sluice.yaml"
    path.write_text(text)
    d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
    store = open_store(f"sqlite:///{tmp_path}/sluice.db")
    try:
        code, _ = await send(smtp, to="bob@example.net", data=c.campaign("bob@example.net"))
        assert code == 250
        raw = sink.by_recipient("bob@example.net")[-1].data
        url, _ = c.list_unsubscribe(raw)
        link = c.tracked_links(raw, base)[0]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200
            async with http.get(link, allow_redirects=False) as response:
                assert response.status == 302 and response.headers["Location"] == c.LINKS[0]
            async with http.post(url, data={"List-Unsubscribe": "One-Click"}) as response:
                assert response.status == 200

        async def refused() -> bool:
            return (await send(smtp, to="bob@example.net"))[0] == 550

        await until(refused, timeout=3.0, what="the next RCPT to bob refused")
        await store.open()

        async def recorded() -> list[dict]:
            rows = await store.recent_engagement()
            return rows if len(rows) >= 2 else []  # the click and the unsubscribe

        rows = await until(recorded, timeout=10.0, what="the click and the unsubscribe recorded")
        assert {r["kind"] for r in rows} == {"click", "unsubscribe"}
        assert {r["recipient"] for r in rows} == {"bob@example.net"}
    finally:
        await d.stop()
        await store.close()
