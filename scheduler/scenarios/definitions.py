"""Each scenario version's parsed definition, read once: a version never changes."""

from __future__ import annotations

import json

from policy.scenarios.definition import Scenario, parse
from policy.store import Store


class Definitions:
    def __init__(self, store: Store):
        self.store = store
        self._cache: dict[tuple[str, str, int], Scenario] = {}

    async def get(self, tenant: str, name: str, version: int) -> Scenario:
        key = (tenant, name, version)
        found = self._cache.get(key)
        if found is None:
            text = await self.store.scenario_definition(tenant, name, version)
            if text is None:
                raise LookupError(f"scenario {tenant}/{name} has no version {version}")
            found = self._cache[key] = parse_json(text)
        return found


def parse_json(text: str) -> Scenario:
    return parse(json.loads(text))


def to_json(s: Scenario) -> str:
    return s.model_dump_json(by_alias=True, exclude_none=True)
