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

from aiohttp import web

from admin import api, api_suppression, api_suppression_csv
from admin import listing as ls
from policy import feedback_stats
from policy.bots import HUMAN, MACHINE
from policy.engagement import KINDS as ENGAGEMENT_KINDS
from policy.feedback import FEEDBACK_KINDS
from policy.store.admin_sql import EngagementFilter, EventFilter

RELAY_KINDS = ("relayed", "deferred", "rejected", "possible_duplicate", "spooled")
EVENT_KINDS = RELAY_KINDS + FEEDBACK_KINDS
DEFAULT_WINDOW = 86400.0  # statistics: the last 24 hours unless told otherwise
TAG = "events"


def _page(items: list[dict], limit: int, kind: str) -> web.Response:
    page = items[:limit]
    cursor = ls.encode_cursor(kind, [page[-1]["id"]]) if len(items) > limit else None
    return web.json_response(api.Page(page, cursor).as_dict())


def _before_id(request: web.Request, kind: str) -> int:
    key = ls.decode_cursor(request, kind, 1)
    if key is None:
        return 0
    if not isinstance(key[0], int) or isinstance(key[0], bool) or key[0] < 1:
        raise api.ApiError(400, "invalid_parameter", "cursor is not a next_cursor", "cursor")
    return key[0]


def _recipient(request: web.Request) -> str | None:
    value = ls.text(request, "recipient")
    if value is not None and ("," in value or "@" not in value):
        raise api.ApiError(
            400, "invalid_parameter", "recipient must be one email address", "recipient"
        )
    return value


def _ip(request: web.Request) -> str | None:
    value = ls.text(request, "ip")
    if value is not None:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise api.ApiError(
                400, "invalid_parameter", "ip must be an IPv4 or IPv6 address", "ip"
            ) from None
    return value


async def list_events(request: web.Request) -> web.Response:
    since, until = ls.window(request)
    filters = EventFilter(
        tenant=ls.text(request, "tenant"),
        kinds=ls.choices(request, "kind", EVENT_KINDS),
        recipient=_recipient(request),
        job=ls.text(request, "campaign"),
        ip=_ip(request),
        since=since,
        until=until,
    )
    limit = ls.limit_of(request)
    before = _before_id(request, "e")
    rows = await api.context(request).store.event_page(filters, before, limit + 1)
    return _page(rows, limit, "e")


async def list_engagement(request: web.Request) -> web.Response:
    since, until = ls.window(request)
    filters = EngagementFilter(
        tenant=ls.text(request, "tenant"),
        kinds=ls.choices(request, "kind", ENGAGEMENT_KINDS),
        recipient=_recipient(request),
        job=ls.text(request, "campaign"),
        classification=ls.one_of(request, "classification", (HUMAN, MACHINE)),
        since=since,
        until=until,
    )
    limit = ls.limit_of(request)
    before = _before_id(request, "g")
    rows = await api.context(request).store.engagement_page(filters, before, limit + 1)
    return _page(rows, limit, "g")


async def feedback_statistics(request: web.Request) -> web.Response:
    since, until = ls.window(request)
    if until is None:
        until = api.context(request).clock().timestamp()
    if since is None:
        since = until - DEFAULT_WINDOW
    if until <= since:
        raise api.ApiError(400, "invalid_parameter", "until must be after since", "until")
    tenant = ls.text(request, "tenant")
    rows = await api.context(request).store.feedback_breakdown(since, until, tenant)
    body = {"since": since, "until": until, "tenant": tenant, **feedback_stats.summarize(rows)}
    return web.json_response(body)


def _rows_schema(properties: dict) -> dict:
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"type": "object", "properties": properties}},
            "next_cursor": {"type": "string", "nullable": True},
        },
    }


RATES = {
    "relayed": {"type": "integer"},
    "bounced": {"type": "integer"},
    "complained": {"type": "integer"},
    "bounce_rate": {"type": "number", "nullable": True, "description": "bounced / relayed"},
    "complaint_rate": {"type": "number", "nullable": True, "description": "complained / relayed"},
}
STATS = {
    "type": "object",
    "properties": {
        "since": {"type": "number"},
        "until": {"type": "number"},
        "tenant": {"type": "string", "nullable": True},
        "totals": {"type": "object", "properties": RATES},
        "by_reason": {"type": "array", "items": {"type": "object"}},
        "by_ip": {"type": "array", "items": {"type": "object", "properties": RATES}},
        "by_provider": {"type": "array", "items": {"type": "object", "properties": RATES}},
    },
}
TENANT_PARAM = api.query_param("tenant")
CAMPAIGN_PARAM = api.query_param("campaign", description="the job (X-Job) of the message")
RECIPIENT_PARAM = api.query_param("recipient", description="one recipient, whole, any case")
PAGING = [ls.SINCE_PARAM, ls.UNTIL_PARAM, ls.CURSOR_PARAM, ls.LIMIT_PARAM]


def add_routes(app: web.Application) -> None:
    api_suppression.add_routes(app)
    api_suppression_csv.add_routes(app)
    api.route(
        app,
        "GET",
        "/api/events",
        list_events,
        role="viewer",
        summary="Relay and feedback events, newest first",
        tag=TAG,
        responses={200: _rows_schema({"id": {"type": "integer"}, "kind": {"type": "string"}})},
        query=[
            TENANT_PARAM,
            api.query_param(
                "kind", description=f"repeat or comma-separate: {', '.join(EVENT_KINDS)}"
            ),
            RECIPIENT_PARAM,
            CAMPAIGN_PARAM,
            api.query_param("ip", description="the sending IP"),
            *PAGING,
        ],
    )
    api.route(
        app,
        "GET",
        "/api/engagement",
        list_engagement,
        role="viewer",
        summary="Opens, clicks and unsubscribes, newest first",
        tag=TAG,
        responses={200: _rows_schema({"id": {"type": "integer"}, "kind": {"type": "string"}})},
        query=[
            TENANT_PARAM,
            api.query_param(
                "kind", description=f"repeat or comma-separate: {', '.join(ENGAGEMENT_KINDS)}"
            ),
            RECIPIENT_PARAM,
            CAMPAIGN_PARAM,
            api.query_param("classification", enum=[HUMAN, MACHINE]),
            *PAGING,
        ],
    )
    api.route(
        app,
        "GET",
        "/api/stats/feedback",
        feedback_statistics,
        role="viewer",
        summary="Bounces and complaints against relayed mail, by reason, IP and provider group",
        tag=TAG,
        responses={200: STATS},
        query=[
            TENANT_PARAM,
            api.query_param("since", description="default: 24 hours before until"),
            api.query_param("until", description="default: now"),
        ],
    )
