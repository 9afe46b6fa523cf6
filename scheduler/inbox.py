"""Process the durable inbox: parse, map back to the message, apply the effects.

Each message the inbound listener stored is read once it is on disk:

1. ``policy.bounces.parse`` (in a thread: a 50 MB report must not stall
   the loop) gives one report per bounced or complaining recipient.
2. Each report is mapped to the message it answers by the VERP tokens of
   the envelope recipients, then by those the message quotes (an ARF
   report carries the original Return-Path): tenant, message id, recipient,
   IP and job. A report counts only for the recipient a token was issued
   for; any other (a forged list of addresses, an expired token) is
   logged and counted as unmatched (``sluice_feedback_unmatched_total``)
   and acts on nothing.
3. ``scheduler.effects`` suppresses, counts and records.

Then the file moves on: to ``done/`` when every report was classified and
mapped, to ``undetermined/`` (kept whole for a person) when nothing or not
everything could be read, and to ``failed/`` when applying the effects kept
failing. Mail to ``unsubscribe+<token>@`` (the List-Unsubscribe ``mailto:``)
suppresses the token's recipient (``policy.unsubscribe``: never the sender
of the message, who may be anyone), records an ``unsubscribe`` engagement
event and tells MailWizz once per inbox item however often the item is
processed (``scheduler.unsubscribes``), and goes to ``done/``; a token that
does not verify, or is older than ``feedback.verp_max_age``, acts on
nothing and goes to ``undetermined/``. Mail to ``reply+<token>@<reply_domain>``
that is not a delivery report or a complaint is a reply to scenario mail,
handed to ``scheduler.replies`` (``done/`` once stored, ``undetermined/`` when
it matches no send); a report sent there takes the bounce path. A failure of the
store leaves the file in ``new/`` for the next round, so nothing is lost.

A loop guard drops a report identical to one seen in the last hour (same
message, recipient and reason): a misbehaving MTA that bounces the same
message over and over cannot inflate the counts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path

from policy import bounces, unsubscribe
from policy.bounces.report import BounceReport
from policy.engagement import Engagement
from policy.feedback import decision as feedback
from policy.feedback import verp
from policy.feedback.decision import Feedback
from policy.replies import message as reply_message
from policy.replies import rules as reply_rules
from policy.replies import token as reply_token
from policy.store.inbox import Inbox
from policy.tokens import BadToken, TokenKeys
from scheduler import metrics
from scheduler.effects import Effects
from scheduler.replies import ReplyService
from scheduler.unsubscribes import Unsubscribes, mailto_event

log = logging.getLogger("sluice.inbox")
TASK = "inbox"  # its sluice_task_* label

MAX_ATTEMPTS = 5
LOOP_WINDOW = 3600.0
LOOP_MEMORY = 100_000


class InboxProcessor:
    def __init__(
        self,
        inbox: Inbox,
        effects: Effects,
        keys: Callable[[], verp.Verifier | None],
        *,
        unsubscribe_keys: Callable[[], Mapping[str, TokenKeys]] = dict,
        unsubscribes: Unsubscribes | None = None,
        clock: Callable[[], float] = time.time,
        max_age: Callable[[], float] = lambda: 30 * 86400.0,
        replies: ReplyService | None = None,
    ):
        self.inbox = inbox
        self.effects = effects
        self.keys = keys
        self.unsubscribe_keys = unsubscribe_keys  # the tenants' tracking keys
        self.unsubscribes = unsubscribes or Unsubscribes(
            effects.store, effects, lambda *_: [], bus=effects.bus
        )
        self.clock = clock
        self.max_age = max_age  # feedback.verp_max_age: older mailto: tokens act on nothing
        self.replies = replies  # None: replies go to undetermined/ for a person
        self.attempts: dict[str, int] = {}
        self.outcomes: dict[str, int] = {}
        self._seen: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        self._ensured = False  # the inbox folders exist
        self._pruned_at = 0.0

    async def poll(self, keep_days: float = 7.0) -> int:
        """One round: process what waits, and once an hour prune what was kept ``keep_days``."""
        if not self._ensured:
            await asyncio.to_thread(self.inbox.ensure)
            self._ensured = True
        done = await self.process_pending()
        if self.clock() - self._pruned_at > 3600:
            self._pruned_at = self.clock()
            await asyncio.to_thread(self.inbox.prune, self._pruned_at - keep_days * 86400)
        return done

    async def process_pending(self, limit: int = 100) -> int:
        """Process up to ``limit`` waiting messages; how many left ``new/``."""
        done = 0
        for path in await asyncio.to_thread(self.inbox.pending, limit):
            outcome = await self.process(path)
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            done += outcome != "retry"
        return done

    async def process(self, path: Path) -> str:
        """One message: done, undetermined, failed, or retry (left in ``new/``)."""
        try:
            envelope, raw = await asyncio.to_thread(self.inbox.read, path)
        except FileNotFoundError:
            return "gone"  # another process took it
        rcpts = [str(r) for r in envelope.get("rcpt_tos", []) if isinstance(r, str)]
        if any(_local(r).lower().startswith(verp.UNSUBSCRIBE_PREFIX) for r in rcpts):
            return await self._unsubscribe(path, envelope, rcpts)
        replied = [r for r in rcpts if reply_token.looks_like(_local(r))]
        if replied and not await asyncio.to_thread(_is_report, raw, envelope):
            return await self._reply(path, envelope, replied, raw)
        try:
            items, complete = await self._read(path.name, envelope, rcpts, raw)
        except Exception:
            log.exception("inbox could not read %s", path.name)
            return await self._move(path, "undetermined", "unreadable")
        items = [fb for fb in items if not self._repeated(fb)]
        try:
            await self.effects.apply(items)
        except Exception as exc:
            return await self._retry_or_fail(path, "effects", exc)
        self.attempts.pop(path.name, None)
        self._remember(items)
        where = "done" if complete else "undetermined"
        return await self._move(path, where, f"{len(items)} report(s)")

    async def _unsubscribe(self, path: Path, envelope: dict, rcpts: list[str]) -> str:
        keys = self.unsubscribe_keys()
        at = envelope.get("received_at")
        at = float(at) if isinstance(at, int | float) else self.clock()
        found: dict[tuple[str, str], Engagement] = {}
        for rcpt in rcpts:
            try:
                data = unsubscribe.read_token(_local(rcpt), keys, max_age=self.max_age(), now=at)
            except BadToken as exc:
                log.info("inbox %s: unmatched mailto: unsubscribe (%s)", path.name, exc)
                metrics.count_unmatched("mailto")
                continue
            found.setdefault((data.tenant, data.recipient.lower()), mailto_event(data, at))
        if not found:
            return await self._move(path, "undetermined", "unsubscribe token does not verify")
        try:
            # Keyed by the item: processed again after a crash, it is recorded once.
            await self.unsubscribes.mailto(f"mailto:{path.name}", list(found.values()))
        except Exception as exc:
            log.warning("inbox %s: unsubscribe failed (%s), trying again", path.name, exc)
            return "retry"
        return await self._move(path, "done", f"mailto: unsubscribe of {len(found)}")

    async def _reply(self, path: Path, envelope: dict, rcpts: list[str], raw: bytes) -> str:
        if self.replies is None:
            return await self._move(path, "undetermined", "a reply, and no reply service")
        tenant = self.replies.tenant_of_domain(rcpts[0].strip().strip("<>").rpartition("@")[2])
        if tenant is None:
            return await self._move(path, "undetermined", "a reply to no configured domain")
        at = envelope.get("received_at")
        at = float(at) if isinstance(at, int | float) else self.clock()
        try:
            outcome = await self.replies.handle(
                tenant.name, raw, key=f"inbox:{path.name}", source="smtp", rcpts=rcpts, at=at
            )
        except Exception as exc:
            return await self._retry_or_fail(path, "reply", exc)
        self.attempts.pop(path.name, None)
        where = "undetermined" if outcome == "unmatched" else "done"
        return await self._move(path, where, f"reply {outcome}")

    async def _read(
        self, name: str, envelope: dict, rcpts: list[str], raw: bytes
    ) -> tuple[list[Feedback], bool]:
        reports = await asyncio.to_thread(bounces.parse, raw)
        verifier = self.keys()
        tokens: list[str] = []
        if verifier is not None:
            for rcpt in rcpts:
                text = verp.token_of(rcpt)
                if text is not None and text not in tokens:
                    tokens.append(text)
            for text in await asyncio.to_thread(verp.tokens_in, raw):
                if text not in tokens:
                    tokens.append(text)
        at = envelope.get("received_at")
        at = float(at) if isinstance(at, int | float) else self.clock()

        def check(text: str, report: BounceReport) -> verp.Origin | None:
            assert verifier is not None
            job = report.x_job or report.x_mw_campaign_uid
            return verp.origin_for(
                verifier, text, report.recipient, now=at, message_id=report.message_id, job=job
            )

        items: list[Feedback] = []
        complete = bool(reports)
        matched = feedback.match(reports, tokens, check)
        for i, (report, origin) in enumerate(zip(reports, matched, strict=True)):
            source = "arf" if report.kind == "complaint" else "dsn"
            if origin is None or report.reason == "undefined":
                complete = False
            if origin is None:
                if report.kind != "delivered":
                    # Forged, expired, or about an address no token names: acts on nothing.
                    log.info(
                        "inbox %s: unmatched %s report recipient=%s", name, source, report.recipient
                    )
                    metrics.count_unmatched(source)
                continue
            items.append(Feedback(origin, report, source, f"inbox:{name}:{i}", at))
        return items, complete

    def _repeated(self, fb: Feedback) -> bool:
        seen = self._seen.get(_loop_key(fb))
        return seen is not None and abs(fb.at - seen) < LOOP_WINDOW

    def _remember(self, items: list[Feedback]) -> None:
        # Only once applied: a retry after a store failure is not a repeat.
        for fb in items:
            key = _loop_key(fb)
            self._seen[key] = fb.at
            self._seen.move_to_end(key)
        while len(self._seen) > LOOP_MEMORY:
            self._seen.popitem(last=False)

    async def _retry_or_fail(self, path: Path, what: str, exc: Exception) -> str:
        """Left in ``new/`` for the next round, until MAX_ATTEMPTS: then ``failed/``."""
        tries = self.attempts.get(path.name, 0) + 1
        self.attempts[path.name] = tries
        if tries < MAX_ATTEMPTS:
            log.warning("inbox %s: %s failed (%s), try %d", path.name, what, exc, tries)
            return "retry"
        log.exception("inbox %s: %s failed %d times", path.name, what, tries)
        return await self._move(path, "failed", str(exc)[:200])

    async def _move(self, path: Path, where: str, why: str) -> str:
        await asyncio.to_thread(self.inbox.move, path, where)
        log.info("inbox %s -> %s (%s)", path.name, where, why)
        return where


def _is_report(raw: bytes, envelope: dict) -> bool:
    mail_from = str(envelope.get("mail_from") or "")
    return reply_rules.is_report(reply_message.read(raw), mail_from)


def _loop_key(fb: Feedback) -> tuple[str, str, str]:
    return (fb.origin.token or fb.origin.message_id, fb.recipient, fb.report.reason)


def _local(address: str) -> str:
    # Case kept: tokens are base64url, where case matters.
    return address.strip().strip("<>").rpartition("@")[0]
