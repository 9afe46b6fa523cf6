"""MailWizz's API (2.x), the part Sluice speaks: unsubscribe an address. Pure.

Sluice's tokens name the tenant, the campaign and the recipient, not
MailWizz's list and subscriber uids, so the subscriber is found by address,
then unsubscribed list by list, with the key in ``X-API-KEY``::

    GET {api}/lists/{list}/subscribers/search-by-email?EMAIL=...         (list_uid set)
    GET {api}/lists/subscribers/search-by-email-in-all-lists?EMAIL=...   (otherwise)
    PUT {api}/lists/{list}/subscribers/{subscriber}/unsubscribe          (each one found)

Every list of the key's customer rather than the campaign's own, because
Sluice's suppression is tenant-wide: MailWizz would otherwise go on sending
the address's other lists mail that the relay refuses. A complaint that
quoted ``X-Mw-Subscriber-Uid`` goes straight to the PUT when the list is
fixed, and to the search when that subscriber is not in it. MailWizz's one-call
``unsubscribe-by-email-from-all-lists`` is not used: it rewrites a
blacklisted subscriber as unsubscribed, and the blacklist is the stronger
mark. Its API has no call for a complaint (MailWizz's own feedback-loop
handling unsubscribes the complainer), so a complaint is sent as an
unsubscribe; the PowerMTA ``f`` record (``mailwizz_dswh``) still carries the
complaint itself.

What an answer means for the queued item: 2xx done; 404 (no such list or
subscriber) and the other 4xx no retry can change end it with a warning;
anything else (401/403 until the key or the web server's PUT is fixed, 409
MailWizz's mutex, 429, 5xx, no answer) retries the whole item later.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Final, Literal, TypeGuard

Verdict = Literal["done", "gone", "retry"]
DONE: Final = "done"
GONE: Final = "gone"
RETRY: Final = "retry"
# Never going to succeed as sent: the address is not there, or MailWizz refuses the request.
PERMANENT = frozenset({400, 404, 405, 410, 422})
# MailWizz's statuses of a subscriber it no longer mails.
NOT_MAILED = frozenset({"unsubscribed", "blacklisted"})
_UID = re.compile(r"[a-z0-9]{1,64}")


class BadAnswer(ValueError):
    """A 2xx whose body is not MailWizz's JSON (a proxy's page, a truncated reply)."""


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    query: tuple[tuple[str, str], ...] = ()


def verdict(status: int) -> Verdict:
    if 200 <= status < 300:
        return DONE
    return GONE if status in PERMANENT else RETRY


def is_uid(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _UID.fullmatch(value) is not None


def _url(api_url: str, *segments: str) -> str:
    return "/".join([api_url.rstrip("/"), *(urllib.parse.quote(s, safe="") for s in segments)])


def search(api_url: str, address: str, list_uid: str | None) -> Request:
    """Where the address's subscribers are looked up: the one list, or every list."""
    if list_uid:
        path: tuple[str, ...] = ("lists", list_uid, "subscribers", "search-by-email")
    else:
        path = ("lists", "subscribers", "search-by-email-in-all-lists")
    return Request("GET", _url(api_url, *path), (("EMAIL", address),))


def unsubscribe(api_url: str, list_uid: str, subscriber_uid: str) -> Request:
    path = ("lists", list_uid, "subscribers", subscriber_uid, "unsubscribe")
    return Request("PUT", _url(api_url, *path))


def found(body: object, list_uid: str | None) -> list[tuple[str, str]]:
    """(list uid, subscriber uid) of each subscriber a search answered that is still mailed.

    One list's search answers ``{"data": {"subscriber_uid", "status"}}``; the
    all-lists search ``{"data": {"records": [{"subscriber_uid", "status",
    "list": {"list_uid"}}]}}``. Records with uids that are not MailWizz's
    are left out rather than put into a URL.
    """
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(data, dict) or body.get("status") != "success":
        raise BadAnswer("not a MailWizz search answer")
    records: object
    if list_uid:
        records = [{**data, "list": {"list_uid": list_uid}}]
    else:
        records = data.get("records")
        if not isinstance(records, list):
            raise BadAnswer("the all-lists search answered no records")
    out: list[tuple[str, str]] = []
    for record in records:
        if not isinstance(record, dict) or record.get("status") in NOT_MAILED:
            continue
        owner = record.get("list")
        list_of = owner.get("list_uid") if isinstance(owner, dict) else None
        uid = record.get("subscriber_uid")
        if is_uid(list_of) and is_uid(uid) and (list_of, uid) not in out:
            out.append((list_of, uid))
    return out


def listed(body: object) -> int:
    """How many subscribers a search answered, mailed or not (0 when it is not MailWizz's)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return 0
    records = data.get("records")
    if isinstance(records, list):
        return len(records)
    return 1 if data.get("subscriber_uid") else 0
