"""A TCP proxy on loopback that can cut a dependency (Redis, PostgreSQL) and bring it back."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass
class Proxy:
    target_host: str
    target_port: int
    port: int = 0
    server: asyncio.Server | None = None
    pipes: set[asyncio.StreamWriter] = field(default_factory=set)
    holed: bool = False  # blackholed: connections stay open, nothing goes through

    async def start(self) -> Proxy:
        """Listen (again, on the same port once one was chosen) and forward every connection."""
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def cut(self) -> None:
        """The dependency goes away: refuse new connections, reset the open ones."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in list(self.pipes):
            writer.transport.abort()
        self.pipes.clear()

    def blackhole(self) -> None:
        """The dependency stops answering without refusing: a dead route that drops packets."""
        self.holed = True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.holed:
            self.pipes.add(writer)
            with contextlib.suppress(OSError):
                while await reader.read(65536):
                    pass  # swallowed
            self.pipes.discard(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.pipes.update((writer, up_writer))
        await asyncio.gather(_pump(reader, up_writer, self), _pump(up_reader, writer, self))
        self.pipes.difference_update((writer, up_writer))


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, proxy: Proxy) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            if proxy.holed:
                continue
            writer.write(data)
            await writer.drain()
    writer.transport.abort()
