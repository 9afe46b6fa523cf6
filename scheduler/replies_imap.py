"""Replies kept in a tenant's own mailbox: an IMAP folder polled by a supervised task.

For tenants whose replies land in their own mailbox (``replies.mailboxes``),
each round logs in with the stdlib's imaplib in a thread (a blocking client,
bounded by the mailbox's ``timeout``), lists the folder's unseen messages by
UID, fetches each whole (RFC822) and hands it to ``scheduler/replies.py``
(matched by the reply token in To/Delivered-To, or by In-Reply-To/References
against the scenario Message-IDs). A message is flagged ``\\Seen`` only once
handled, in a second session: a crash in between reads it again, and the
store's key (mailbox, UIDVALIDITY, UID) keeps it from counting twice. A
delivery report or complaint in the folder (a receiver that answered the From
instead of the VERP return path) is written to the feedback inbox, whose
processor reads it as the inbound listener's: matched by the VERP token it
quotes, or kept whole in ``undetermined/`` for a person.
"""

from __future__ import annotations

import asyncio
import imaplib
import logging
import re
import ssl
import time
from collections.abc import Callable

from conf import Settings
from conf.schema.replies import ImapMailbox
from policy.replies import rules
from policy.replies.message import read
from policy.store.inbox import Inbox
from scheduler.replies import ReplyService
from scheduler.supervisor import Supervisor

log = logging.getLogger("sluice.replies")
MAX_PER_ROUND = 200
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")


class MailboxPoller:
    def __init__(self, box: ImapMailbox, service: ReplyService, inbox: Inbox | None = None) -> None:
        self.box = box
        self.service = service
        self.inbox = inbox  # where a report found here goes (the bounce path)
        self.outcomes: dict[str, int] = {}

    def _connect(self) -> imaplib.IMAP4:
        b = self.box
        if b.tls:
            return imaplib.IMAP4_SSL(
                b.host, b.port, ssl_context=ssl.create_default_context(), timeout=b.timeout
            )
        return imaplib.IMAP4(b.host, b.port, timeout=b.timeout)

    def _fetch(self) -> tuple[str, list[tuple[int, bytes]]]:
        """(UIDVALIDITY, [(uid, bytes)]) of the folder's unseen messages."""
        imap = self._connect()
        try:
            imap.login(self.box.username, self.box.password)
            kind, data = imap.select(_quoted(self.box.folder))
            if kind != "OK":
                raise OSError(f"SELECT {self.box.folder}: {data!r}")
            validity = next(
                (m.group(1).decode() for d in data if (m := _UIDVALIDITY.search(d or b""))), ""
            )
            if not validity:
                found = imap.response("UIDVALIDITY")[1]
                validity = (found[0] or b"").decode() if found and found[0] else "0"
            _, found = imap.uid("SEARCH", "UNSEEN")
            uids = [int(u) for u in (found[0] or b"").split()][:MAX_PER_ROUND]
            out = []
            for uid in uids:
                _, parts = imap.uid("FETCH", str(uid), "(RFC822)")
                raw = next((p[1] for p in parts if isinstance(p, tuple)), None)
                if isinstance(raw, bytes):
                    out.append((uid, raw))
            return validity, out
        finally:
            _logout(imap)

    def _mark_seen(self, uids: list[int]) -> None:
        imap = self._connect()
        try:
            imap.login(self.box.username, self.box.password)
            imap.select(_quoted(self.box.folder))
            for uid in uids:
                imap.uid("STORE", str(uid), "+FLAGS", "(\\Seen)")
        finally:
            _logout(imap)

    async def poll(self) -> int:
        """One round: every unseen message handled, then flagged; how many were."""
        validity, messages = await asyncio.to_thread(self._fetch)
        done: list[int] = []
        b = self.box
        for uid, raw in messages:
            key = f"imap:{b.username}@{b.host}/{b.folder}:{validity}:{uid}"
            if rules.is_report(await asyncio.to_thread(read, raw), ""):
                outcome = "report"
                if self.inbox is not None:
                    envelope = {"mail_from": "", "rcpt_tos": [], "received_at": time.time(),
                                "source": key}  # fmt: skip
                    await asyncio.to_thread(self.inbox.write, envelope, raw)
            else:
                outcome = await self.service.handle(b.tenant, raw, key=key, source="imap")
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            done.append(uid)
        if done:
            await asyncio.to_thread(self._mark_seen, done)
        return len(done)


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _logout(imap: imaplib.IMAP4) -> None:
    try:
        imap.logout()
    except (OSError, imaplib.IMAP4.error):
        pass  # the round's outcome is already known; a failed goodbye changes nothing


def schedule(
    tasks: Supervisor, settings: Callable[[], Settings], service: ReplyService
) -> list[MailboxPoller]:
    """One ``replies-imap:<tenant>:<n>`` task per configured mailbox (a restart adds new ones)."""
    pollers = []
    inbox = Inbox(settings().feedback.inbox)
    if settings().replies.mailboxes:
        inbox.ensure()
    for n, box in enumerate(settings().replies.mailboxes):
        poller = MailboxPoller(box, service, inbox)
        tasks.every(f"replies-imap:{box.tenant}:{n}", box.interval, poller.poll)
        pollers.append(poller)
    return pollers
