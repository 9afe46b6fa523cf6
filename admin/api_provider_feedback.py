"""Admin API: what Microsoft SNDS and Gmail Postmaster Tools last said (scheduler/reputation)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web
from pydantic import Field

from admin.api import context
from admin.api_models import Out, Query
from admin.openapi import route

TAG = "reputation"


class FeedbackQuery(Query):
    source: str | None = Field(
        None, pattern="^(snds|postmaster)$", description="snds or postmaster"
    )


class FindingOut(Out):
    source: str = Field(description="snds (an IP) or postmaster (a domain)")
    target: str
    day: str = Field(description="the provider's day, as it gives it")
    status: str = Field(
        description="snds: GREEN, YELLOW, RED, BLOCKED, NO DATA; postmaster: OK, OVER"
    )
    detail: str
    fetched_at: float


class ProviderFeedback(Out):
    snds: bool = Field(description="providers.snds is configured")
    postmaster: bool = Field(description="providers.postmaster is configured")
    findings: list[FindingOut]


async def provider_feedback(request: web.Request, query: FeedbackQuery) -> dict[str, Any]:
    ctx = context(request)
    cfg = ctx.settings().providers
    findings = await ctx.store.provider_feedback()
    if query.source is not None:
        findings = [f for f in findings if f.source == query.source]
    return {
        "snds": cfg.snds is not None,
        "postmaster": cfg.postmaster is not None,
        "findings": [asdict(f) for f in findings],
    }


def add_routes(app: web.Application) -> None:
    route(
        app,
        "GET",
        "/api/provider-feedback",
        provider_feedback,
        role="viewer",
        summary="Microsoft SNDS and Gmail Postmaster Tools: the last finding per IP or domain",
        tag=TAG,
        query=FeedbackQuery,
        responses={200: ProviderFeedback},
    )
