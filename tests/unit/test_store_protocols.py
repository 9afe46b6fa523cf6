"""Both backends implement every store protocol, and the protocols together are `Store`.

The behaviour behind each method is checked against SQLite and PostgreSQL
alike by the suites on the ``store`` fixture (test_stores.py,
test_policy_stores.py, test_feedback_store.py, ...); this checks the shape:
names, parameters, defaults, and whether a method is a coroutine or a stream.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from policy.store import protocols
from policy.store.postgres import PostgresStore
from policy.store.sqlite import SqliteStore

BACKENDS = (SqliteStore, PostgresStore)

if TYPE_CHECKING:
    # A type checker holds both backends to the union as well.
    def _conform(a: SqliteStore, b: PostgresStore) -> tuple[protocols.Store, protocols.Store]:
        return a, b


def members(protocol: type) -> dict[str, Callable[..., Any]]:
    return {n: v for n, v in vars(protocol).items() if callable(v) and not n.startswith("_")}


def shape(fn: Callable[..., Any]) -> tuple[str, list[tuple[str, Any, Any]]]:
    kind = (
        "async"
        if inspect.iscoroutinefunction(fn)
        else "stream"
        if inspect.isasyncgenfunction(fn)
        else "plain"
    )
    params = [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]
    return kind, params


def test_the_concerns_split_store_without_overlap() -> None:
    seen: dict[str, str] = {}
    for concern in protocols.CONCERNS:
        for name in members(concern):
            assert name not in seen, f"{name} is in both {seen[name]} and {concern.__name__}"
            seen[name] = concern.__name__
    assert set(protocols.Store.__bases__) - {Protocol} == set(protocols.CONCERNS)
    assert not members(protocols.Store)  # nothing outside a concern


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.__name__)
@pytest.mark.parametrize("concern", protocols.CONCERNS, ids=lambda c: c.__name__)
def test_backend_implements_concern(backend: type, concern: type) -> None:
    for name, declared in members(concern).items():
        implemented = getattr(backend, name, None)
        assert implemented is not None, f"{backend.__name__} lacks {concern.__name__}.{name}"
        want_kind, want = shape(declared)
        got_kind, got = shape(implemented)
        # A protocol declares a stream as a plain method returning an AsyncIterator.
        if want_kind == "plain":
            assert got_kind in ("plain", "stream"), name
        else:
            assert got_kind == want_kind, name
        assert got == want, f"{backend.__name__}.{name}: {got} != {want}"
