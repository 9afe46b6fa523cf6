"""CSV import of contacts: rows/s of reading, checking and writing 50,000 contacts, per store.

What `sluice contacts import` and `POST /api/contacts/{tenant}/import` do, without
the transport: `policy.scenarios.contacts_csv.read` (parse, normalise,
check every field) then one `upsert_contacts` transaction, into a fresh SQLite
file and a throwaway schema of the PostgreSQL at ``SLUICE_TEST_PG``. A second
import of the same file (every row an update) is timed too. Median of --runs.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from policy.scenarios import contacts_csv
from policy.store import open_store

LANGUAGES = ("fr", "en", "de", "es", "")
COUNTRIES = ("FR", "GB", "DE", "ES", "")


def make_csv(rows: int) -> str:
    out = io.StringIO()
    out.write(
        "email,first_name,last_name,language,country,category,tier,score,timezone,custom,tags\n"
    )
    for i in range(rows):
        out.write(
            f"user{i:07d}@domain{i % 997}.example,First{i},Last{i},{LANGUAGES[i % 5]},"
            f"{COUNTRIES[i % 5]},lead,{i % 5},{i % 100},Europe/Paris,"
            f'"{{""company"": ""Co {i % 300}"", ""n"": {i}}}",prospect;wave{i % 7}\n'
        )
    return out.getvalue()


async def one_import(url: str, text: str) -> tuple[float, float, float]:
    """Seconds to read+check, to write (all new), to read+write again (all updates)."""
    store = open_store(url)
    await store.open()
    try:
        start = time.perf_counter()
        pairs, problems = contacts_csv.read(text, "acme")
        parsed = time.perf_counter()
        assert not problems, problems[:3]
        contacts, fields = [c for c, _ in pairs], [g for _, g in pairs]
        outcomes = await store.upsert_contacts("acme", contacts, fields)
        written = time.perf_counter()
        assert outcomes.count("created") == len(contacts)
        again, _ = contacts_csv.read(text, "acme")
        outcomes = await store.upsert_contacts("acme", [c for c, _ in again], [g for _, g in again])
        updated = time.perf_counter()
        assert outcomes.count("updated") == len(contacts)
        return parsed - start, written - parsed, updated - written
    finally:
        await store.close()


async def fresh_pg_url(dsn: str) -> tuple[str, str] | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"postgresql: skipped ({exc})")
        return None
    schema = f"sluice_bench_{secrets.token_hex(3)}"
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.close()
    sep = "&" if "?" in dsn else "?"
    return f"{dsn}{sep}options=-csearch_path%3D{schema}", schema


async def drop_schema(dsn: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await conn.close()


async def measure(backend: str, text: str, rows: int, runs: int) -> dict | None:
    dsn = os.environ.get("SLUICE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    results = []
    for _ in range(runs):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                results.append(await one_import(f"sqlite:///{folder}/bench.db", text))
            continue
        made = await fresh_pg_url(dsn)
        if made is None:
            return None
        try:
            results.append(await one_import(made[0], text))
        finally:
            await drop_schema(dsn, made[1])
    parse = statistics.median(r[0] for r in results)
    write = statistics.median(r[1] for r in results)
    update = statistics.median(r[2] for r in results)
    return {
        "backend": backend, "parse": parse, "write": write, "update": update,
        "rows_per_s": rows / (parse + write), "update_rows_per_s": rows / update,
    }  # fmt: skip


def report(results: list[dict], rows: int, runs: int) -> str:
    lines = [
        f"{rows:,} contacts, median of {runs} imports into an empty store,"
        " then the same file again (every row an update)",
        "",
        "| backend | import rows/s | read+check s | write s | re-import (updates) rows/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['backend']} | {r['rows_per_s']:,.0f} | {r['parse']:.2f} | {r['write']:.2f} |"
            f" {r['update_rows_per_s']:,.0f} |"
        )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> list[dict]:
    text = make_csv(args.rows)
    results = []
    for backend in args.backends.split(","):
        found = await measure(backend, text, args.rows, args.runs)
        if found is not None:
            results.append(found)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    text = report(asyncio.run(run(args)), args.rows, args.runs)
    print(text)
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / f"contacts-import-{time.strftime('%Y%m%d-%H%M%S')}.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
