"""PowerMTA accounting: records to feedback (pure), and the tailer on real files and SQLite."""

import asyncio
import os
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from conf import Settings, parse
from policy.feedback import accounting, verp
from policy.store.sqlite import SqliteStore
from scheduler.feedback_service import FeedbackService
from tests.support.acct import HEADER, line

SECRET = "verp-secret-0123456789"
KEYS = verp.Verifier(
    verp.keys_for((SECRET,)), verp.Known(("acme", "any"), ("192.0.2.10", "192.0.2.11"))
)
TENANT_OF = accounting.tenant_by_sender([("acme", ("acme-mail.com",)), ("any", ("*",))])


def record(text: str) -> dict[str, str]:
    (row,) = accounting.rows([text], HEADER.split(","))
    return row


def fb(text: str, keys=KEYS):
    return accounting.to_feedback(record(text), "k", keys, TENANT_OF, time.time())


def verp_for(rcpt: str) -> str:
    origin = verp.Origin("acme", "<m9@acme-mail.com>", rcpt, "192.0.2.11", "c9")
    return verp.address(KEYS.keys, origin, "bounce.acme-mail.com")


def test_bounce_record_maps_back_by_its_verp_sender():
    ours = {"header_Message-Id": "<m9@acme-mail.com>", "jobId": "c9"}
    item = fb(line("b", "bob@example.net", orig=verp_for("bob@example.net"), **ours))
    assert item is not None and item.report.hard and item.report.reason == "userunknown"
    assert (item.origin.message_id, item.origin.ip, item.origin.job) == (
        "<m9@acme-mail.com>",
        "192.0.2.11",
        "c9",
    )
    assert item.at == 1795168800.0  # timeLogged
    # The token names its message and campaign by keyed tags: the record's own
    # values are kept only when they are the token's.
    other = fb(line("b", "bob@example.net", orig=verp_for("bob@example.net"), jobId="c1"))
    assert (other.origin.tenant, other.origin.message_id, other.origin.job) == ("acme", "", "")


def test_a_record_counts_only_for_the_recipient_its_token_names():
    seen = []
    for rcpt in ("carol@example.net", "bob@example.net.evil", ""):
        text = line("f", rcpt, orig=verp_for("bob@example.net"))
        rec = record(text)
        got = accounting.to_feedback(rec, "k", KEYS, TENANT_OF, time.time(), lambda: seen.append(1))
        assert got is None
    assert len(seen) == 3
    # Expired: older than verp_max_age.
    stale = verp.Verifier(KEYS.keys, verp.Known(("acme",), (), max_age=60.0))
    text = line("b", "bob@example.net", orig=verp_for("bob@example.net"))
    assert accounting.to_feedback(record(text), "k", stale, TENANT_OF, time.time() + 61) is None


def test_without_verp_the_sender_domain_names_the_tenant():
    item = fb(line("b", "bob@example.net", jobId="c1"))
    assert item is not None and item.origin.tenant == "acme" and item.origin.ip == "192.0.2.10"
    assert (item.origin.message_id, item.origin.job) == ("<m1@acme-mail.com>", "c1")
    assert fb(line("b", "bob@example.net", orig="x@other.example")).origin.tenant == "any"
    strict = accounting.tenant_by_sender([("acme", ("*.acme-mail.com",))])
    assert strict("n@eu.acme-mail.com") == "acme" and strict("n@else.example") is None


def test_record_types():
    assert fb(line("d", "bob@example.net")) is None
    assert fb(line("tq", "")) is None
    assert fb(line("rs", "bob@example.net", dsnAction="delivered")) is None
    delayed = fb(line("t", "bob@example.net"))
    assert delayed.report.action == "delayed" and delayed.report.reason == "mailboxfull"
    assert fb(line("rs", "bob@example.net", dsnAction="delayed")).report.action == "delayed"
    remote = fb(line("rb", "bob@example.net", dsnAction="failed"))
    assert remote.report.hard
    complaint = fb(line("f", "bob@example.net"))
    assert complaint.report.kind == "complaint" and complaint.report.feedback_type == "abuse"


def test_a_sender_side_category_never_blames_the_recipient():
    diag = "smtp;550 5.7.1 Service unavailable, client host blocked using Spamhaus"
    item = fb(
        line("b", "bob@example.net", dsnStatus="5.7.1", dsnDiag=diag, bounceCat="spam-related")
    )
    assert item.report.kind == "block" and not item.report.hard
    vague = fb(line("b", "bob@example.net", dsnStatus="", dsnDiag="", bounceCat="bad-mailbox"))
    assert vague.report.reason == "userunknown"


def test_records_of_unknown_senders_are_dropped():
    lone = accounting.tenant_by_sender([("acme", ("acme-mail.com",))])
    text = line("b", "bob@example.net", orig="x@other.example")
    assert accounting.to_feedback(record(text), "k", KEYS, lone, 0.0) is None


def settings(folder: Path) -> Settings:
    text = f"""
    database: "sqlite:///{folder}/s.db"
    tenants:
      - {{name: acme, pool: p, trusted_networks: [127.0.0.1/32], sender_domains: [acme-mail.com]}}
    pools: {{p: [{{ip: 192.0.2.10, vmta: p1, hostname: mta1.example}}]}}
    feedback: {{verp_secrets: ["{SECRET}"], inbox: "{folder}/inbox",
               accounting_folder: "{folder}/pmta"}}
    """
    return parse(textwrap.dedent(text), environ=os.environ)


@pytest.fixture
async def world(tmp_path) -> AsyncIterator[tuple[Settings, SqliteStore, Path]]:
    s = settings(tmp_path)
    store = SqliteStore(str(tmp_path / "s.db"))
    await store.open()
    (tmp_path / "pmta").mkdir()
    yield s, store, tmp_path / "pmta"
    await store.close()


async def bounced(store: SqliteStore) -> list[str]:
    return sorted(e["recipients"] for e in await store.recent_events(1000))


async def test_appended_rotated_truncated_and_restarted_without_double_counting(world):
    s, store, pmta = world
    service = FeedbackService(store, lambda: s)
    current = pmta / "acct.csv"
    current.write_text(HEADER + "\n" + line("d", "ok@example.net") + line("b", "a@example.net"))
    assert await service.accounting.poll() == 3
    assert await bounced(store) == ["a@example.net"]
    # Appended, the last line half written: only complete lines are read.
    with current.open("a") as f:
        f.write(line("b", "b@example.net") + line("b", "c@example.net")[:20])
    await service.accounting.poll()
    assert await bounced(store) == ["a@example.net", "b@example.net"]
    # Rotation: the file is moved away and a new one started; the rest of the old is read.
    with current.open("a") as f:
        f.write(line("b", "c@example.net")[20:])
    current.rename(pmta / "acct-2026-11-20-1000.csv")
    current.write_text(HEADER + "\n" + line("t", "d@example.net"))
    await service.accounting.poll()
    assert await bounced(store) == [f"{x}@example.net" for x in "abcd"]
    # A restart: a new tailer on the same store reads nothing twice.
    again = FeedbackService(store, lambda: s)
    assert await again.accounting.poll() == 0
    assert len(await bounced(store)) == 4
    # Truncated in place (copytruncate): read from the start again.
    current.write_text(HEADER + "\n" + line("b", "e@example.net"))
    await again.accounting.poll()
    assert await bounced(store) == [f"{x}@example.net" for x in "abcde"]
    entry = await store.suppression_entry("acme", "a@example.net")
    assert entry is not None and entry.reason == "hard_bounce" and entry.source.startswith("acct")


async def test_a_reused_inode_is_a_new_file(world):
    s, store, pmta = world
    service = FeedbackService(store, lambda: s)
    path = pmta / "acct.csv"
    path.write_text(HEADER + "\n" + line("b", "a@example.net") + line("b", "b@example.net"))
    await service.accounting.poll()
    # Same inode, new content at least as long: the fingerprint tells them apart.
    with path.open("r+") as f:
        f.seek(0)
        f.write(HEADER + "\n" + line("b", "x@example.net") + line("b", "y@example.net"))
    await service.accounting.poll()
    assert await bounced(store) == [f"{x}@example.net" for x in "abxy"]


async def test_garbage_lines_do_not_stop_the_file(world):
    s, store, pmta = world
    service = FeedbackService(store, lambda: s)
    junk = '\x00\xff,"unterminated\n' + "b,,,,\n" + "zz" * 5000 + "\n"
    (pmta / "acct-1.csv").write_bytes(
        (HEADER + "\n" + junk + line("b", "a@example.net")).encode("latin-1")
    )
    await asyncio.wait_for(service.accounting.poll(), 10)
    assert await bounced(store) == ["a@example.net"]


async def test_a_quoted_field_may_hold_line_breaks_even_across_reads(world):
    s, store, pmta = world
    service = FeedbackService(store, lambda: s)
    diag = "smtp;550-5.1.1 <a@example.net>: no such user\r\n550 5.1.1 see the help page"
    record = line("b", "a@example.net", dsnDiag=diag)
    assert record.count("\n") == 2  # the field's CRLF and the record's end
    path = pmta / "acct.csv"
    cut = record.index("\n") + 1  # PowerMTA has written the field's first line only
    path.write_text(HEADER + "\n" + line("b", "z@example.net") + record[:cut])
    await service.accounting.poll()
    assert await bounced(store) == ["z@example.net"]
    with path.open("a") as f:
        f.write(record[cut:] + line("b", "b@example.net"))
    await service.accounting.poll()
    assert await bounced(store) == ["a@example.net", "b@example.net", "z@example.net"]
    (event,) = [e for e in await store.recent_events(10) if e["recipients"] == "a@example.net"]
    assert "see the help page" in event["downstream_reply"] + event["reply"]


async def test_a_crash_between_effects_and_saved_position_records_nothing_twice(world):
    s, store, pmta = world
    (pmta / "acct.csv").write_text(
        HEADER + "\n" + line("b", "a@example.net") + line("t", "d@example.net")
    )
    crashing = FeedbackService(store, lambda: s)

    async def crash(*args: object) -> None:
        raise OSError("killed before the position was saved")

    crashing.accounting.store = type("Crashing", (), {})()
    crashing.accounting.store.accounting_position = store.accounting_position
    crashing.accounting.store.save_accounting_position = crash
    with pytest.raises(OSError):
        await crashing.accounting.poll()
    before = await store.recent_events(100)
    assert sorted(e["kind"] for e in before) == ["bounced", "delayed"]
    restarted = FeedbackService(store, lambda: s)
    await restarted.accounting.poll()
    assert len(await store.recent_events(100)) == 2
    assert await restarted.accounting.poll() == 0
