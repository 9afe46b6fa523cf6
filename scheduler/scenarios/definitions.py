"""Each scenario version's parsed definition, read once: a version never changes."""

from __future__ import annotations

import json

from policy.scenarios.definition import Scenario, parse
from policy.store import Store
from scheduler.scenarios.shared_reads import SharedReads


class Definitions:
    def __init__(self, store: Store):
        self.store = store
        self._kept: SharedReads[tuple[str, str, int], Scenario] = SharedReads(self._read)

    async def get(self, tenant: str, name: str, version: int) -> Scenario:
        return await self._kept.get((tenant, name, version))

    async def _read(self, key: tuple[str, str, int]) -> Scenario:
        tenant, name, version = key
        text = await self.store.scenario_definition(tenant, name, version)
        if text is None:
            raise LookupError(f"scenario {tenant}/{name} has no version {version}")
        return parse_json(text)


def parse_json(text: str) -> Scenario:
    return parse(json.loads(text))


def to_json(s: Scenario) -> str:
    return s.model_dump_json(by_alias=True, exclude_none=True)
