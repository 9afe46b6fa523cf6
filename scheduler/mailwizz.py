"""Carry out one queued MailWizz API item: find the subscribers, unsubscribe them.

``policy.feedback.mailwizz`` says which requests and what their answers mean;
this module sends them. The item is all or nothing for the queue: a failure
at any step (the search, any one list's unsubscribe) retries the whole item
later, and since unsubscribing twice changes nothing in MailWizz, the lists
already done are simply done again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import aiohttp

from conf.schema import MailwizzApiSettings
from policy.feedback import mailwizz as mw

log = logging.getLogger("sluice.notify")


@dataclass(frozen=True)
class Outcome:
    verdict: mw.Verdict  # done, gone (ended with a warning) or retry
    detail: str


async def unsubscribe(http: aiohttp.ClientSession, api: MailwizzApiSettings, item: dict) -> Outcome:
    address = str(item.get("address", ""))
    call = _Caller(http, api)
    uid = item.get("subscriber_uid")
    if api.list_uid and mw.is_uid(uid):
        answer = await call(mw.unsubscribe(api.api_url, api.list_uid, uid))
        if answer.status != 404:
            return answer.outcome("unsubscribe")
        # Not in this list under that uid: look the address up instead.
    answer = await call(mw.search(api.api_url, address, api.list_uid))
    if answer.verdict != mw.DONE:
        return answer.outcome("search")
    try:
        targets = mw.found(answer.body, api.list_uid)
    except mw.BadAnswer as exc:
        return Outcome(mw.RETRY, f"search: {exc}")
    if not targets:
        if mw.listed(answer.body):
            return Outcome(mw.DONE, "already unsubscribed")
        return Outcome(mw.GONE, "no subscriber with this address")
    for list_uid, subscriber_uid in targets:
        answer = await call(mw.unsubscribe(api.api_url, list_uid, subscriber_uid))
        if answer.verdict == mw.RETRY:
            return answer.outcome(f"unsubscribe in list {list_uid}")
        if answer.verdict == mw.GONE:
            # Deleted since the search, or refused: the other lists still count.
            log.warning("mailwizz unsubscribe in list %s: %s", list_uid, answer.error)
    return Outcome(mw.DONE, f"unsubscribed in {len(targets)} list(s)")


@dataclass(frozen=True)
class _Answer:
    status: int  # 0: no answer came back (refused, timed out)
    body: object  # the JSON, None when it is not JSON
    error: str

    @property
    def verdict(self) -> mw.Verdict:
        return mw.verdict(self.status) if self.status else mw.RETRY

    def outcome(self, step: str) -> Outcome:
        return Outcome(self.verdict, f"{step}: {self.error}")


class _Caller:
    def __init__(self, http: aiohttp.ClientSession, api: MailwizzApiSettings) -> None:
        self.http = http
        self.headers = {
            "X-API-KEY": api.api_key,
            "Accept": "application/json",
            "User-Agent": "Sluice",
        }
        self.timeout = aiohttp.ClientTimeout(total=api.timeout)

    async def __call__(self, request: mw.Request) -> _Answer:
        try:
            async with self.http.request(
                request.method,
                request.url,
                params=list(request.query),
                # MailWizz reads form data; an unsubscribe sends no fields.
                data=b"" if request.method == "PUT" else None,
                headers=self.headers,
                timeout=self.timeout,
                allow_redirects=False,
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            why = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
            return _Answer(0, None, why[:200])
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        return _Answer(status, body, f"HTTP {status}")
