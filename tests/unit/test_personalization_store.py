"""The first-line cache and the daily token counts in both stores: SQLite and PostgreSQL."""

from __future__ import annotations


async def test_cached_lines_by_tenant_and_key(store):
    assert await store.cached_first_lines("acme", []) == {}
    assert await store.cached_first_lines("acme", ["a" * 64]) == {}
    await store.save_first_lines(
        "acme", {"k1": ("Line one.", 30), "k2": ("Line two.", 31)}, "m", 1.0
    )
    await store.save_first_lines("other", {"k1": ("Not acme's.", 5)}, "m", 1.0)
    assert await store.cached_first_lines("acme", ["k1", "k2", "k3"]) == {
        "k1": "Line one.",
        "k2": "Line two.",
    }
    # Saving the same key again replaces it (a line written anew after a failed check).
    await store.save_first_lines("acme", {"k1": ("Line one, again.", 9)}, "m2", 2.0)
    assert (await store.cached_first_lines("acme", ["k1"]))["k1"] == "Line one, again."
    assert await store.cached_first_lines("other", ["k1"]) == {"k1": "Not acme's."}


async def test_many_keys_at_once(store):
    lines = {f"k{i}": (f"Line {i}.", i) for i in range(1200)}
    await store.save_first_lines("acme", lines, "m", 1.0)
    found = await store.cached_first_lines("acme", [*lines, "missing"])
    assert found == {k: text for k, (text, _) in lines.items()}


async def test_tokens_add_up_per_tenant_and_day(store):
    assert await store.ai_tokens("acme", "2025-03-01") == 0
    await store.add_ai_tokens("acme", "2025-03-01", 120)
    await store.add_ai_tokens("acme", "2025-03-01", 80)
    await store.add_ai_tokens("acme", "2025-03-02", 7)
    await store.add_ai_tokens("other", "2025-03-01", 1)
    assert await store.ai_tokens("acme", "2025-03-01") == 200
    assert await store.ai_tokens("acme", "2025-03-02") == 7
    assert await store.ai_tokens("other", "2025-03-01") == 1
