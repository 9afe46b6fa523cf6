"""Admin API: the DNS blocklist watch (scheduler.reputation): current standings and history."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web
from pydantic import Field

from admin.api import context
from admin.api_models import Out, Query
from admin.openapi import route

TAG = "reputation"


class ReputationQuery(Query):
    limit: int = Field(100, ge=1, le=1000, description="history entries, newest first (1-1000)")
    target: str | None = Field(None, max_length=255, description="only this IP or domain")


class ListOut(Out):
    zone: str
    kind: str
    action: str
    enabled: bool = Field(description="false: its zone is off (no key) in the configuration")


class StandingOut(Out):
    target: str
    zone: str
    kind: str
    status: str = Field(description="latest reading: clean, listed, policy, error or unknown")
    answer: str
    listed: bool = Field(description="a listing confirmed by consecutive cycles")
    streak: int = Field(description="consecutive cycles disagreeing with `listed`")
    first_seen: float
    last_seen: float
    checked_at: float


class HistoryOut(Out):
    target: str
    zone: str
    event: str
    answer: str
    at: float


class Reputation(Out):
    configured: bool
    lists: list[ListOut]
    standings: list[StandingOut]
    history: list[HistoryOut]


async def reputation(request: web.Request, query: ReputationQuery) -> dict[str, Any]:
    ctx = context(request)
    cfg = ctx.settings().reputation
    lists = [] if cfg is None else cfg.lists
    standings = await ctx.store.reputation_standings()
    if query.target is not None:
        standings = [s for s in standings if s.target == query.target]
    history = await ctx.store.reputation_history(query.limit, query.target)
    return {
        "configured": cfg is not None,
        "lists": [
            {"zone": dl.zone, "kind": dl.kind, "action": dl.action, "enabled": dl.enabled}
            for dl in lists
        ],
        "standings": [asdict(s) for s in standings],
        "history": [asdict(h) for h in history],
    }


def add_routes(app: web.Application) -> None:
    route(
        app,
        "GET",
        "/api/reputation",
        reputation,
        role="viewer",
        summary="DNS blocklists: the lists, each target's standing on each, and recent history",
        tag=TAG,
        query=ReputationQuery,
        responses={200: Reputation},
    )
