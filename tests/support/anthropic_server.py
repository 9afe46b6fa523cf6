"""A local Anthropic API on loopback: the Messages and Message Batches wire formats.

The shapes follow the installed SDK's own types (anthropic/types/message.py,
usage.py, messages/message_batch*.py, shared/error_response.py), so the real
``AsyncAnthropic`` parses every answer; a test points it here by ``base_url``.

``faults`` is a queue of what the next ``POST /v1/messages`` answers instead
of a message: ``(429, retry_after)``, ``(529, None)``, ``(500, None)``,
``("slow", seconds)``, ``("malformed", None)``. ``write`` makes each line from
the request's body (the default: a French line about the first fact). A batch
ends after ``polls_to_end`` retrievals; its results come back in reverse
order, so only ``custom_id`` can match them; ``fail_in_batch`` picks the
requests whose result is ``errored``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

CREATED = "2025-01-01T00:00:00Z"
EXPIRES = "2025-01-02T00:00:00Z"
_ERRORS = {
    400: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def default_line(body: dict[str, Any]) -> str:
    return "J'ai beaucoup aimé votre blog et la façon dont vous parlez de cuisine."


@dataclass
class FakeAnthropic:
    write: Callable[[dict[str, Any]], str] = default_line
    faults: deque[tuple[Any, Any]] = field(default_factory=deque)
    polls_to_end: int = 1
    fail_in_batch: Callable[[dict[str, Any]], bool] = lambda params: False
    input_tokens: int = 40
    output_tokens: int = 20
    latency: float = 0.0  # seconds each message takes, as a model's would (benchmarks)
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    base_url: str = ""
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/messages", self._message)
        app.router.add_post("/v1/messages/batches", self._create_batch)
        app.router.add_get("/v1/messages/batches/{id}", self._retrieve_batch)
        app.router.add_get("/v1/messages/batches/{id}/results", self._results)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def count(self, method: str, path_start: str) -> int:
        return sum(1 for m, p, _, _ in self.requests if m == method and p.startswith(path_start))

    async def _record(self, request: web.Request) -> Any:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append((request.method, request.path, headers, body))
        return body

    def message(self, body: dict[str, Any]) -> dict[str, Any]:
        text = self.write(body)
        return {
            "id": f"msg_{next(self._ids):06d}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": text, "citations": None}],
            "stop_reason": "max_tokens" if text.endswith("…") else "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "service_tier": "standard",
            },
        }

    async def _message(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if self.faults:
            kind, arg = self.faults.popleft()
            if kind == "slow":
                await asyncio.sleep(arg)
            elif kind == "malformed":
                return web.Response(
                    text='{"id": "msg_1", "type": "mess', content_type="application/json"
                )
            else:
                return error(kind, retry_after=arg)
        if self.latency:
            await asyncio.sleep(self.latency)
        return web.json_response(self.message(body))

    async def _create_batch(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        batch_id = f"msgbatch_{next(self._ids):06d}"
        self.batches[batch_id] = {"requests": body["requests"], "polls": 0}
        return web.json_response(self._batch(batch_id))

    async def _retrieve_batch(self, request: web.Request) -> web.Response:
        await self._record(request)
        batch_id = request.match_info["id"]
        if batch_id not in self.batches:
            return error(404, message=f"no batch {batch_id}")
        self.batches[batch_id]["polls"] += 1
        return web.json_response(self._batch(batch_id))

    def _batch(self, batch_id: str) -> dict[str, Any]:
        state = self.batches[batch_id]
        ended = state["polls"] >= self.polls_to_end
        n = len(state["requests"])
        return {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": {
                "processing": 0 if ended else n,
                "succeeded": n if ended else 0,
                "errored": 0,
                "canceled": 0,
                "expired": 0,
            },
            "created_at": CREATED,
            "expires_at": EXPIRES,
            "ended_at": EXPIRES if ended else None,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": (
                f"{self.base_url}/v1/messages/batches/{batch_id}/results" if ended else None
            ),
        }

    async def _results(self, request: web.Request) -> web.Response:
        await self._record(request)
        state = self.batches[request.match_info["id"]]
        lines = []
        for item in reversed(state["requests"]):
            if self.fail_in_batch(item["params"]):
                result: dict[str, Any] = {"type": "errored", "error": _error_body(500, "boom")}
            else:
                result = {"type": "succeeded", "message": self.message(item["params"])}
            lines.append(json.dumps({"custom_id": item["custom_id"], "result": result}))
        return web.Response(text="\n".join(lines) + "\n", content_type="application/binary")


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind = _ERRORS.get(status, "not_found_error" if status == 404 else "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"}


def error(status: int, retry_after: float | None = None, message: str = "") -> web.Response:
    """An API error as Anthropic sends it, with ``retry-after`` (seconds) when given."""
    headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
    body = _error_body(status, message or _ERRORS.get(status, "error"))
    return web.json_response(body, status=status, headers=headers)


# Words a reply classifier's test replies carry, and the class the fake model answers.
REPLY_WORDS = (
    ("meeting", "meeting_request", 0.95),
    ("call", "meeting_request", 0.9),
    ("interested", "interested", 0.93),
    ("price", "information_request", 0.88),
    ("colleague", "wrong_person", 0.85),
    ("no thanks", "not_interested", 0.9),
    ("maybe", "other", 0.4),
)


def classify_reply(body: dict[str, Any]) -> str:
    """A ``write`` for reply classification: the JSON the model is asked for, by keyword."""
    text = str(body["messages"][0]["content"]).lower()
    for word, label, confidence in REPLY_WORDS:
        if word in text:
            return json.dumps({"class": label, "confidence": confidence, "reason": word})
    return json.dumps({"class": "other", "confidence": 0.5, "reason": "unclear"})
