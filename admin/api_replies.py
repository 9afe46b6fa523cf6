"""Admin API: replies to scenario mail, their class, and an operator's review."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web
from pydantic import Field

from admin.api import ApiError, audit, context
from admin.api_models import Body, Out, Query
from admin.openapi import route
from policy.replies import classes
from policy.replies.record import ReplyRow

TAG = "scenarios"
Class = Field(pattern="^(" + "|".join(classes.CLASSES) + ")$", description="the reply's class")


class RepliesQuery(Query):
    limit: int = Field(50, ge=1, le=500)
    before: int | None = Field(None, ge=1, description="replies with a smaller id (paging)")
    review: bool | None = Field(None, description="true: only those marked for review")


class ReplyOut(Out):
    id: int
    tenant: str
    email: str = Field(description="the contact")
    scenario: str
    step: str
    enrollment: str
    message_id: str = Field(description="the scenario message it answers")
    reply_message_id: str
    source: str = Field(description="smtp (the reply address) or imap")
    sender: str
    subject: str
    classification: str
    confidence: float
    decided_by: str = Field(description="rules, model, fallback or operator")
    review: bool = Field(description="a person should look")
    return_at: float | None = Field(description="an out-of-office's return day (UTC)")
    detail: str
    excerpt: str = Field(description="the replier's own words, quotes stripped")
    received_at: float
    updated: float


class ReplyList(Out):
    items: list[ReplyOut]


class ReviewBody(Body):
    classification: str = Class


def _tenant(request: web.Request) -> str:
    tenant = request.match_info["tenant"]
    if tenant not in {t.name for t in context(request).settings().tenants}:
        raise ApiError(404, "not_found", f"no tenant {tenant!r}", "tenant")
    return tenant


def _out(row: ReplyRow) -> dict[str, Any]:
    out = asdict(row)
    out.pop("key")
    return out


async def listing(request: web.Request, query: RepliesQuery) -> dict[str, Any]:
    tenant = _tenant(request)
    rows = await context(request).store.replies(tenant, query.limit, query.before, query.review)
    return {"items": [_out(r) for r in rows]}


async def review(request: web.Request, body: ReviewBody) -> dict[str, Any]:
    """An operator's class replaces the rules' or the model's; the effects already applied
    stay (a suppression is never removed here)."""
    tenant = _tenant(request)
    store = context(request).store
    try:
        reply_id = int(request.match_info["id"])
    except ValueError:
        raise ApiError(404, "not_found", "no such reply", "id") from None
    before = await store.reply(tenant, reply_id)
    if before is None:
        raise ApiError(404, "not_found", f"no reply {reply_id}", "id")
    now = context(request).clock().timestamp()
    await store.review_reply(tenant, reply_id, body.classification, now)
    await audit(
        request, "reply.review", f"{tenant}/{reply_id}",
        {"classification": before.classification, "review": before.review},
        {"classification": body.classification, "review": False},
    )  # fmt: skip
    after = await store.reply(tenant, reply_id)
    assert after is not None
    return _out(after)


def add_routes(app: web.Application) -> None:
    route(
        app, "GET", "/api/replies/{tenant}", listing, role="viewer",
        summary="Replies to scenario mail, newest first, with their class", tag=TAG,
        query=RepliesQuery, responses={200: ReplyList},
    )  # fmt: skip
    route(
        app, "POST", "/api/replies/{tenant}/{id}/review", review, role="operator",
        summary="Set a reply's class (audited)", tag=TAG, body=ReviewBody,
        responses={200: ReplyOut},
    )  # fmt: skip
