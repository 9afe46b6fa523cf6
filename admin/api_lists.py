"""Admin lists: relay and feedback events, engagement, bounce and complaint statistics.

``add_routes`` also adds the suppression routes (``api_suppression`` and its
CSV half), so the whole read side of what happened to mail is one module in
``admin.app.API_MODULES``.

Events and engagement page newest first by id: a cursor is the last id
seen, so events written while an operator walks the pages never show up
twice nor push a row off a page. ``recipient`` matches one whole recipient
of an event, any case (a@x.com never finds ba@x.com); on a large table it
walks the rows back from the cursor, so narrow it with ``since``/``until``.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AfterValidator, ConfigDict, Field

from admin import api, api_suppression, api_suppression_csv
from admin import listing as ls
from admin.api_models import Blank, MaybeTime, Out, Query, Text
from admin.openapi import route
from policy.bots import HUMAN, MACHINE
from policy.engagement import KINDS as ENGAGEMENT_KINDS
from policy.enrollment.events import EVENT_KINDS as ENROLLMENT_KINDS
from policy.feedback import stats as feedback_stats
from policy.feedback.decision import FEEDBACK_KINDS
from policy.scenarios.ledger import EVENT_KINDS as SCENARIO_KINDS
from policy.store import bounce_review
from policy.store.admin_sql import EngagementFilter, EventFilter

# refused: a recipient refused before DATA (its step and reply say why).
RELAY_KINDS = ("relayed", "deferred", "rejected", "possible_duplicate", "spooled", "refused")
EVENT_KINDS = RELAY_KINDS + FEEDBACK_KINDS + SCENARIO_KINDS + ENROLLMENT_KINDS
DEFAULT_WINDOW = 86400.0  # statistics: the last 24 hours unless told otherwise
TAG = "events"


def _page(items: list[dict], limit: int, kind: str) -> dict[str, Any]:
    page = items[:limit]
    cursor = ls.encode_cursor(kind, [page[-1]["id"]]) if len(items) > limit else None
    return api.Page(page, cursor).as_dict()


def _before_id(raw: str | None, kind: str) -> int:
    key = ls.decode_cursor(raw, kind, 1)
    if key is None:
        return 0
    if not isinstance(key[0], int) or isinstance(key[0], bool) or key[0] < 1:
        raise api.ApiError(400, "invalid_parameter", "cursor is not a next_cursor", "cursor")
    return key[0]


def _one_recipient(value: str | None) -> str | None:
    if value is not None and ("," in value or "@" not in value):
        raise ValueError("must be one email address")
    return value


def _address(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("must be an IPv4 or IPv6 address") from None


Recipient = Annotated[Text, AfterValidator(_one_recipient)]


class Filters(ls.Window, ls.Paged):
    tenant: Text = None
    recipient: Recipient = Field(None, description="one recipient, whole, any case")
    campaign: Text = Field(None, description="the job (X-Job) of the message")


class EventsQuery(Filters):
    kind: list[Literal[EVENT_KINDS]] = Field(  # type: ignore[valid-type]
        [], description="repeat or comma-separate"
    )
    ip: Annotated[Text, AfterValidator(_address)] = Field(None, description="the sending IP")


class EngagementQuery(Filters):
    # Literals of policy's constants: pydantic reads them at run time, mypy takes only
    # literal values in a Literal (the two ignores below).
    kind: list[Literal[ENGAGEMENT_KINDS]] = Field(  # type: ignore[valid-type]
        [], description="repeat or comma-separate"
    )
    classification: Annotated[Literal[HUMAN, MACHINE] | None, Blank] = None  # type: ignore[valid-type]


async def list_events(request: web.Request, query: EventsQuery) -> dict[str, Any]:
    filters = EventFilter(
        tenant=query.tenant,
        kinds=tuple(query.kind),
        recipient=query.recipient,
        job=query.campaign,
        ip=query.ip,
        since=query.since,
        until=query.until,
    )
    before = _before_id(query.cursor, "e")
    rows = await api.context(request).store.event_page(filters, before, query.limit + 1)
    return _page(rows, query.limit, "e")


async def list_engagement(request: web.Request, query: EngagementQuery) -> dict[str, Any]:
    filters = EngagementFilter(
        tenant=query.tenant,
        kinds=tuple(query.kind),
        recipient=query.recipient,
        job=query.campaign,
        classification=query.classification,
        since=query.since,
        until=query.until,
    )
    before = _before_id(query.cursor, "g")
    rows = await api.context(request).store.engagement_page(filters, before, query.limit + 1)
    return _page(rows, query.limit, "g")


class StatsQuery(ls.Window):
    since: MaybeTime = Field(None, description="default: 24 hours before until")
    until: MaybeTime = Field(None, description="default: now")
    tenant: Text = None


async def feedback_statistics(request: web.Request, query: StatsQuery) -> dict[str, Any]:
    since, until = query.since, query.until
    if until is None:
        until = api.context(request).clock().timestamp()
    if since is None:
        since = until - DEFAULT_WINDOW
    if until <= since:
        raise api.ApiError(400, "invalid_parameter", "until must be after since", "until")
    rows = await api.context(request).store.feedback_breakdown(since, until, query.tenant)
    summary = feedback_stats.summarize(rows)
    return {"since": since, "until": until, "tenant": query.tenant, **summary}


class Tally(Out):
    model_config = ConfigDict(extra="allow")
    relayed: int
    bounced: int
    complained: int
    bounce_rate: float | None = Field(None, description="bounced / relayed")
    complaint_rate: float | None = Field(None, description="complained / relayed")


class Stats(Out):
    since: float
    until: float
    tenant: str | None
    totals: Tally
    by_reason: list[dict[str, Any]]
    by_ip: list[Tally]
    by_provider: list[Tally]


class Reading(Out):
    """How a bounce was read, kept with its event."""

    rule: str
    evidence: str = Field(description="the text the rule fired on")
    confidence: Literal["high", "low"] = Field(
        description="low: a code alone, or text that is not the recipient's own"
    )


class EventRow(ls.Row):
    detail: Reading | dict[str, Any] = Field(
        default_factory=dict, description="a bounce's reading; {} for other events"
    )


class EventRows(Out):
    items: list[EventRow]
    next_cursor: str | None


class ReviewQuery(Query):
    tenant: Text = None
    all: bool = Field(False, description="every hard-bounce suppression, not only doubtful ones")
    scan: int = Field(50_000, ge=1, le=1_000_000, description="recent bounce events read")


class ReviewItem(Out):
    tenant: str
    address: str
    source: str
    created_at: float
    rule: str = Field(description="empty: no reading recorded")
    evidence: str
    confidence: str
    event_at: float | None


class Review(Out):
    items: list[ReviewItem]


async def review_suppressions(request: web.Request, query: ReviewQuery) -> dict[str, Any]:
    """Hard-bounce suppressions read with low confidence (``all``: every one)."""
    items = await bounce_review.to_review(
        api.context(request).store, query.tenant, scan=query.scan, everything=query.all
    )
    rows = [
        {
            "tenant": i.suppression.tenant,
            "address": i.suppression.address,
            "source": i.suppression.source,
            "created_at": i.suppression.created_at,
            "rule": i.rule,
            "evidence": i.evidence,
            "confidence": i.confidence,
            "event_at": i.event_at,
        }
        for i in items
    ]
    return {"items": rows}


def add_routes(app: web.Application) -> None:
    api_suppression.add_routes(app)
    api_suppression_csv.add_routes(app)
    route(
        app,
        "GET",
        "/api/events",
        list_events,
        role="viewer",
        summary="Relay and feedback events, newest first",
        tag=TAG,
        query=EventsQuery,
        responses={200: EventRows},
    )
    route(
        app,
        "GET",
        "/api/suppression/review",
        review_suppressions,
        role="viewer",
        summary="Hard-bounce suppressions whose bounce was read from a code alone or from"
        " text not the recipient's own, with the rule and evidence (all=true: every one)",
        tag=TAG,
        query=ReviewQuery,
        responses={200: Review},
    )
    route(
        app,
        "GET",
        "/api/engagement",
        list_engagement,
        role="viewer",
        summary="Opens, clicks and unsubscribes, newest first",
        tag=TAG,
        query=EngagementQuery,
        responses={200: ls.Rows},
    )
    route(
        app,
        "GET",
        "/api/stats/feedback",
        feedback_statistics,
        role="viewer",
        summary="Bounces and complaints against relayed mail, by reason, IP and provider group",
        tag=TAG,
        query=StatsQuery,
        responses={200: Stats},
    )
