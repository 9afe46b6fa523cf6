"""`sluice scenarios` as the process, against the store the daemon would use."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from policy.scenarios.templates import Template
from policy.store import open_store
from tests.e2e.test_cli_policy import sluice  # noqa: F401  (the fixture)
from tests.support.scenarios import save

BODY = {
    "name": "welcome",
    "from": "Anna <anna@acme-mail.com>",
    "steps": [{"id": "hello", "trigger": "entry", "template": "hello"}],
}


def seed(tmp_path: Path, *, templates: bool = True) -> None:
    async def main() -> None:
        store = open_store(f"sqlite:///{tmp_path}/sluice.db")
        await store.open()
        try:
            await save(store, BODY)
            if templates:
                await store.save_template(Template("acme", "hello", "Hello", text="Hello\n"))
        finally:
            await store.close()

    asyncio.run(main())


def test_list_show_act_and_refuse(sluice, tmp_path: Path):  # noqa: F811
    seed(tmp_path)
    listed = sluice("scenarios", "list", "--tenant", "acme")
    assert listed.returncode == 0 and listed.stdout.split() == ["welcome", "draft", "v1"]
    shown = json.loads(sluice("scenarios", "show", "--tenant", "acme", "welcome").stdout)
    assert shown["definition"]["steps"][0]["id"] == "hello"
    assert "active" in sluice("scenarios", "start", "--tenant", "acme", "welcome").stdout
    assert "paused" in sluice("scenarios", "pause", "--tenant", "acme", "welcome").stdout
    again = sluice("scenarios", "pause", "--tenant", "acme", "welcome")
    assert again.returncode == 1 and "paused" in again.stderr
    figures = json.loads(sluice("scenarios", "stats", "--tenant", "acme", "welcome").stdout)
    assert (figures["status"], figures["enrolled"]) == ("paused", 0)
    missing = sluice("scenarios", "start", "--tenant", "acme", "nope")
    assert missing.returncode == 1 and "no scenario 'nope'" in missing.stderr


def test_a_start_names_the_missing_template(sluice, tmp_path: Path):  # noqa: F811
    seed(tmp_path, templates=False)
    refused = sluice("scenarios", "start", "--tenant", "acme", "welcome")
    assert refused.returncode == 1
    assert "steps.0.template: no template 'hello'" in refused.stderr
    listed = sluice("scenarios", "list", "--tenant", "acme")
    assert listed.stdout.split() == ["welcome", "draft", "v1"]
