"""Suppression lists as CSV over the admin API: the import and the streamed export.

The format is ``policy.suppression``'s, the one ``sluice suppress import`` and
``export`` use, so a file exported here imports back as it is. An import
is all or nothing: every bad row is reported by line number and nothing is
written. The export streams a page at a time (a server-side cursor on
PostgreSQL, key pages on SQLite), so a list of millions never sits in memory.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import re
from typing import Annotated

from aiohttp import web
from pydantic import Field

from admin import api
from admin import api_suppression as sup
from admin import listing as ls
from admin.api_models import Blank, Error, Out, Query, Raw
from admin.openapi import route
from policy.suppression import (
    CSV_COLUMNS,
    GLOBAL,
    Suppression,
    SuppressionError,
    csv_text,
    read_csv,
)

log = logging.getLogger("sluice.admin")

MAX_PROBLEMS = 1000  # bad CSV lines listed in one answer
# About 200,000 addresses with tenant and reason: a larger list goes in parts.
MAX_CSV = 8 * 1024 * 1024
# Rows per page: the admin listener shares the SMTP side's event loop, and a
# page is formatted without a pause (about 10 ms for 1,000 rows).
EXPORT_BATCH = 1000


class ImportQuery(Query):
    tenant: str = Field(GLOBAL, description="the list of rows naming none (default global)")
    reason: Annotated[sup.Reason, Blank] = Field("manual", description="default manual")


class Imported(Out):
    imported: int


def _line_problems(message: str) -> list[dict]:
    """read_csv's "line N: what" lines as objects."""
    out = []
    for line in message.splitlines():
        number, _, what = line.partition(": ")
        found = re.fullmatch(r"line (\d+)", number)
        out.append({"line": int(found[1]) if found else 0, "message": what if found else line})
    return out


def _tenant_problems(text: str, default: str, known: set[str]) -> list[dict]:
    """Rows naming a tenant that is not configured, by line (read_csv does not know tenants)."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None or "tenant" not in [f.strip() for f in reader.fieldnames]:
        return []
    out = []
    for row in reader:
        values = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        tenant = values.get("tenant") or default
        if tenant != GLOBAL and tenant not in known:
            out.append({"line": reader.line_num, "message": f"tenant: no tenant {tenant!r}"})
    return out


def _read(
    text: str, tenant: str, reason: str, source: str, known: set[str]
) -> tuple[list[Suppression], list[dict]]:
    """The entries of an import, or the problems of its lines."""
    entries: list[Suppression] = []
    problems: list[dict] = []
    try:
        # newline="": a lone CR ends a line, as the csv module expects it to.
        stream = io.StringIO(text, newline="")
        entries = read_csv(stream, tenant=tenant, reason=reason, source=source)
    except SuppressionError as exc:
        problems = _line_problems(str(exc))
    if not any(p["line"] == 1 for p in problems):
        problems += _tenant_problems(text, tenant, known)
    return entries, problems


async def import_csv(request: web.Request, query: ImportQuery) -> web.Response | Imported:
    if request.content_type not in ("text/csv", "text/plain"):
        raise api.ApiError(
            415, "unsupported_media_type", "send the CSV with Content-Type: text/csv", "body"
        )
    tenant = sup.writable_tenant(request, query.tenant, "tenant", 400)
    reason = query.reason
    raw = await request.clone(client_max_size=MAX_CSV).read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise api.ApiError(
            422, "invalid_csv", f"the body is not UTF-8 (byte {exc.start})", "body"
        ) from None
    source = f"import:api:{api.principal(request).name}"
    known = {t.name for t in api.context(request).settings().tenants}
    try:
        entries, problems = _read(text, tenant, reason, source, known)
    except csv.Error as exc:
        # What the csv module cannot read at all (a field past its size limit, ...).
        raise api.ApiError(422, "invalid_csv", f"the body is not CSV: {exc}", "body") from None
    if problems:
        problems.sort(key=lambda p: p["line"])
        shown = problems[:MAX_PROBLEMS]
        message = "\n".join(f"line {p['line']}: {p['message']}" for p in shown)
        if len(problems) > len(shown):
            message += f"\n... and {len(problems) - len(shown)} more"
        error = {"code": "invalid_csv", "message": message, "field": "body", "lines": shown}
        return web.json_response({"error": error}, status=422)
    # One store write, one transaction: an import is all or nothing.
    count = await api.context(request).store.suppress(entries)
    await api.audit(
        request,
        "suppression.import",
        ls.list_name(tenant),
        None,
        {"count": count, "default_tenant": tenant, "default_reason": reason},
    )
    return Imported(imported=count)


def _csv_chunk(entries: list[Suppression], header: bool) -> bytes:
    # csv_text is the one writer of the format read_csv takes back; the
    # header it starts with is kept once, at the top of the stream.
    text = csv_text(entries)
    return (text if header else text.split("\n", 1)[1]).encode()


async def export_csv(request: web.Request, query: sup.Filters) -> web.StreamResponse:
    filters = sup.filters_of(query)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="suppression.csv"',
        }
    )
    pages = api.context(request).store.suppression_export(filters, EXPORT_BATCH)
    await response.prepare(request)
    header = True
    # Once the headers are out an error cannot be answered: the response is
    # returned whatever happens, never raised past (a second response would
    # land inside this one's body).
    try:
        async with contextlib.aclosing(pages):
            async for page in pages:
                await response.write(_csv_chunk(page, header))
                header = False
        if header:
            await response.write(",".join(CSV_COLUMNS).encode() + b"\n")
    except ConnectionError:
        return response  # the client went away
    except Exception:
        # Cutting the connection before the last chunk tells the client the
        # file is incomplete; a clean end would pass a truncated list for whole.
        log.exception("suppression export failed")
        if request.transport is not None:
            request.transport.abort()
        return response
    await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    route(
        app,
        "GET",
        "/api/suppression/export",
        export_csv,
        role="viewer",
        summary="Suppression entries as CSV (the import's format), streamed",
        tag=sup.TAG,
        query=sup.Filters,
        responses={200: Raw("text/csv")},
    )
    route(
        app,
        "POST",
        "/api/suppression/import",
        import_csv,
        role="operator",
        summary="Import a CSV (header naming at least address, or email): all rows or none",
        tag=sup.TAG,
        body=Raw("text/csv"),
        query=ImportQuery,
        responses={200: Imported, 415: Error},
    )
