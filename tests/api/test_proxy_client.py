"""Behind a reverse proxy, the login brake keys on the client the proxy reports."""

from __future__ import annotations

import conf
from tests.support.admin_api import TOKENS, serve_admin


def settings(proxies: str) -> conf.Settings:
    return conf.parse(
        f"""
http: {{auth_failure_limit: 3, auth_lockout: 30, trusted_proxies: {proxies}}}
tenants:
  - {{name: acme, pool: acme, trusted_networks: [127.0.0.1/32], sender_domains: [a.example]}}
pools:
  acme: [{{ip: 192.0.2.10, vmta: acme-1, hostname: h1}}]
""",
        environ={},
    )


def via_proxy(client: str, token: str, spoofed: str = "") -> dict[str, str]:
    # The proxy (us, on loopback) appends the address it saw after what the client sent.
    chain = f"{spoofed}, {client}" if spoofed else client
    return {"Authorization": f"Bearer {token}", "X-Forwarded-For": chain}


async def test_one_clients_guesses_do_not_lock_out_the_others(store):
    async with serve_admin(settings('["127.0.0.0/8"]'), store) as server:
        async with server.session(None) as http:
            for _ in range(3):
                r = await http.get("/api/tenants", headers=via_proxy("203.0.113.9", "guess"))
                assert r.status == 401
            r = await http.get("/api/tenants", headers=via_proxy("203.0.113.9", "guess"))
            assert r.status == 429
            # The guesser cannot escape its brake by naming someone else first in the header.
            r = await http.get(
                "/api/tenants", headers=via_proxy("203.0.113.9", TOKENS["viewer"], "198.51.100.1")
            )
            assert r.status == 429
            # Another client behind the same proxy still gets in.
            r = await http.get("/api/tenants", headers=via_proxy("198.51.100.7", TOKENS["viewer"]))
            assert r.status == 200
    assert server.ctx.limiter is not None
    assert server.ctx.limiter.retry_after("203.0.113.9") > 0
    assert server.ctx.limiter.retry_after("127.0.0.1") == 0


async def test_an_untrusted_peer_cannot_name_its_own_client(store):
    async with serve_admin(settings("[]"), store) as server:
        async with server.session(None) as http:
            for i in range(3):  # a different made-up client each time: the peer is what counts
                r = await http.get("/api/tenants", headers=via_proxy(f"203.0.113.{i}", "guess"))
                assert r.status == 401
            r = await http.get("/api/tenants", headers=via_proxy("198.51.100.7", TOKENS["viewer"]))
            assert r.status == 429
