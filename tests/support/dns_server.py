"""A small authoritative DNS server on loopback, answering MX, A, AAAA, TXT and PTR from dicts.

Domains in `mx` answer with their MX hosts (an empty list answers NOERROR with
no records); names in `a` answer with their addresses; names in `aaaa`, `txt`
(one string per record, cut into 255-octet strings as a zone would) and `ptr`
(keyed by the reverse name, e.g. 12.2.0.192.in-addr.arpa) answer theirs; a
name that has records of another type answers NOERROR with none; a name under a zone of
`world` answers with that zone's addresses whatever it is (a blocklist that
"lists the world"); any other name answers NXDOMAIN. Set `silent` to drop
every query, or name zones in `silent_zones` to drop only theirs, which is
how a test sees a resolver that does not answer in time.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self._server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return
        reply = self._server.answer(query)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply.to_wire(), addr)


class DnsServer:
    def __init__(
        self,
        mx: dict[str, list[tuple[int, str]]] | None = None,
        ttl: int = 300,
        *,
        a: dict[str, list[str]] | None = None,
        world: dict[str, list[str]] | None = None,
        aaaa: dict[str, list[str]] | None = None,
        txt: dict[str, list[str]] | None = None,
        ptr: dict[str, list[str]] | None = None,
    ) -> None:
        self.mx = {name.rstrip(".").lower(): hosts for name, hosts in (mx or {}).items()}
        self.a = {name.rstrip(".").lower(): addrs for name, addrs in (a or {}).items()}
        self.world = {zone.lower(): addrs for zone, addrs in (world or {}).items()}
        self.aaaa, self.txt, self.ptr = _keyed(aaaa), _keyed(txt), _keyed(ptr)
        self.more = {
            dns.rdatatype.AAAA: self.aaaa,
            dns.rdatatype.TXT: self.txt,
            dns.rdatatype.PTR: self.ptr,
        }
        self.silent_zones: set[str] = set()
        self.ttl = ttl
        self.silent = False
        self.queries: list[str] = []
        self.port = 0
        self._transport: asyncio.DatagramTransport | None = None

    def answer(self, query: dns.message.Message) -> dns.message.Message | None:
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        self.queries.append(name)
        if self.silent or any(_under(name, zone) for zone in self.silent_zones):
            return None
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        if question.rdtype == dns.rdatatype.A:
            return self._answer_a(reply, name)
        if question.rdtype in self.more:
            return self._answer_more(reply, name, question.rdtype)
        if name not in self.mx and not self._exists(name):
            reply.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.MX and self.mx[name]:
            records = [f"{pref} {host.rstrip('.')}." for pref, host in self.mx[name]]
            reply.answer.append(
                dns.rrset.from_text(question.name, self.ttl, dns.rdataclass.IN, "MX", *records)
            )
        return reply

    def _answer_a(self, reply: dns.message.Message, name: str) -> dns.message.Message:
        question = reply.question[0]
        addrs = self.a.get(name)
        if addrs is None:
            addrs = next((v for zone, v in self.world.items() if _under(name, zone)), None)
        if addrs is None:
            if name not in self.mx and not self._exists(name):
                reply.set_rcode(dns.rcode.NXDOMAIN)
            return reply
        if addrs:
            reply.answer.append(
                dns.rrset.from_text(question.name, self.ttl, dns.rdataclass.IN, "A", *addrs)
            )
        return reply

    def _exists(self, name: str) -> bool:
        """The name has records of some type (so a query for another type is NODATA)."""
        return name in self.a or any(name in records for records in self.more.values())

    def _answer_more(
        self, reply: dns.message.Message, name: str, rdtype: dns.rdatatype.RdataType
    ) -> dns.message.Message:
        values = self.more[rdtype].get(name)
        if values is None:
            if name not in self.mx and not self._exists(name):
                reply.set_rcode(dns.rcode.NXDOMAIN)
            return reply
        if values:
            texts = [_txt(v) for v in values] if rdtype == dns.rdatatype.TXT else values
            if rdtype == dns.rdatatype.PTR:  # host names, absolute
                texts = [v.rstrip(".") + "." for v in values]
            kind = dns.rdatatype.to_text(rdtype)
            rrset = dns.rrset.from_text(reply.question[0].name, self.ttl, "IN", kind, *texts)
            reply.answer.append(rrset)
        return reply

    async def __aenter__(self) -> DnsServer:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=("127.0.0.1", 0)
        )
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._transport is not None:
            self._transport.close()


def _under(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def _keyed(records: dict[str, list[str]] | None) -> dict[str, list[str]]:
    return {name.rstrip(".").lower(): values for name, values in (records or {}).items()}


def _txt(value: str) -> str:
    """One TXT record in zone-file form: quoted 255-octet strings."""
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)
