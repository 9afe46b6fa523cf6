"""A small IMAP4rev1 server on loopback for the reply mailbox tests.

It speaks what ``scheduler/replies_imap.py`` asks through the stdlib's
imaplib: CAPABILITY, LOGIN, SELECT, UID SEARCH UNSEEN, UID FETCH <uid>
(RFC822), UID STORE <uid> +FLAGS (\\Seen), NOOP, LOGOUT. One folder of
messages per name; ``add`` appends one (unseen) and answers its UID.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field


@dataclass
class Stored:
    uid: int
    raw: bytes
    flags: set[str] = field(default_factory=set)


@dataclass
class FakeImap:
    username: str = "replies@acme-mail.com"
    password: str = "imap-secret"
    uidvalidity: int = 7
    folders: dict[str, list[Stored]] = field(default_factory=lambda: {"INBOX": []})
    commands: list[str] = field(default_factory=list)
    logins: int = 0
    port: int = 0
    _server: asyncio.Server | None = None

    def add(self, raw: bytes, folder: str = "INBOX") -> int:
        box = self.folders.setdefault(folder, [])
        uid = (box[-1].uid if box else 100) + 1
        box.append(Stored(uid, raw))
        return uid

    def seen(self, folder: str = "INBOX") -> list[int]:
        return [m.uid for m in self.folders[folder] if "\\Seen" in m.flags]

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK [CAPABILITY IMAP4rev1] fake IMAP ready\r\n")
        state: dict[str, object] = {"user": None, "folder": None}
        try:
            while line := await reader.readline():
                tag, _, rest = line.decode().rstrip("\r\n").partition(" ")
                self.commands.append(rest)
                for out in self._answer(tag, rest, state):
                    writer.write(out)
                await writer.drain()
                if rest.upper().startswith("LOGOUT"):
                    break
        finally:
            writer.close()

    def _answer(self, tag: str, rest: str, state: dict[str, object]) -> list[bytes]:
        verb, _, args = rest.partition(" ")
        verb = verb.upper()
        if verb == "CAPABILITY":
            return [b"* CAPABILITY IMAP4rev1\r\n", f"{tag} OK done\r\n".encode()]
        if verb == "NOOP":
            return [f"{tag} OK done\r\n".encode()]
        if verb == "LOGOUT":
            return [b"* BYE bye\r\n", f"{tag} OK done\r\n".encode()]
        if verb == "LOGIN":
            user, password = (a.strip('"') for a in args.split(" ", 1))
            if (user, password) != (self.username, self.password):
                return [f"{tag} NO [AUTHENTICATIONFAILED] wrong\r\n".encode()]
            self.logins += 1
            state["user"] = user
            return [f"{tag} OK logged in\r\n".encode()]
        if state["user"] is None:
            return [f"{tag} BAD log in first\r\n".encode()]
        if verb == "SELECT":
            name = args.strip('"')
            if name not in self.folders:
                return [f"{tag} NO no such folder\r\n".encode()]
            state["folder"] = name
            n = len(self.folders[name])
            return [
                f"* {n} EXISTS\r\n".encode(),
                f"* OK [UIDVALIDITY {self.uidvalidity}] ok\r\n".encode(),
                f"{tag} OK [READ-WRITE] selected\r\n".encode(),
            ]
        if verb == "UID" and isinstance(state["folder"], str):
            return self._uid(tag, args, self.folders[state["folder"]])
        return [f"{tag} BAD unknown command\r\n".encode()]

    def _uid(self, tag: str, args: str, box: list[Stored]) -> list[bytes]:
        sub, _, rest = args.partition(" ")
        sub = sub.upper()
        if sub == "SEARCH":
            uids = " ".join(str(m.uid) for m in box if "\\Seen" not in m.flags)
            return [
                f"* SEARCH {uids}\r\n".replace(" \r", "\r").encode(),
                f"{tag} OK done\r\n".encode(),
            ]
        found = re.match(r"(\d+) (.*)", rest)
        if found is None:
            return [f"{tag} BAD bad arguments\r\n".encode()]
        uid = int(found.group(1))
        pos, msg = next(((i, m) for i, m in enumerate(box, 1) if m.uid == uid), (0, None))
        if msg is None:
            return [f"{tag} OK nothing\r\n".encode()]
        if sub == "FETCH":
            head = f"* {pos} FETCH (UID {uid} RFC822 {{{len(msg.raw)}}}\r\n".encode()
            return [head + msg.raw + b")\r\n", f"{tag} OK fetched\r\n".encode()]
        if sub == "STORE":
            msg.flags.update(re.findall(r"\\\w+", found.group(2)))
            flags = " ".join(sorted(msg.flags))
            return [
                f"* {pos} FETCH (UID {uid} FLAGS ({flags}))\r\n".encode(),
                f"{tag} OK done\r\n".encode(),
            ]
        return [f"{tag} BAD unknown UID command\r\n".encode()]
