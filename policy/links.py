"""Token keys per tenant, and what the tokens of Sluice's public links name.

One public listener serves the links of every tenant, and a token does not
say in clear whose it is. Verification therefore tries each tenant's keys
and then insists that the tenant inside the token is the one whose key
opened it: a tenant that knows its own secret cannot mint links in another
tenant's name (an unsubscribe of someone else's recipient, a redirect from
someone else's tracking domain).

The token's message field carries the campaign and the Message-ID as
``<job>\\n<message-id>``, so an open, a click or an unsubscribe names its
campaign without a database read. Neither value holds a line break once its
header is unfolded, so the split is unambiguous; the job is cut to
``MAX_JOB`` characters because it rides in every link of the message.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

from conf import TenantSettings
from policy.tokens import BadToken, TokenData, TokenKeys, verify

MAX_JOB = 64


@functools.lru_cache(maxsize=256)
def keys_for(secrets: tuple[str, ...]) -> TokenKeys:
    """The keys of one secret list, built once: deriving them costs two HMACs per secret."""
    return TokenKeys(secrets)


def tenant_keys(tenants: Sequence[TenantSettings]) -> dict[str, TokenKeys]:
    """Token keys of every tenant that has a tracking block."""
    return {t.name: keys_for(t.tracking.secrets) for t in tenants if t.tracking is not None}


class KeyRing:
    """``tenant_keys`` of the current configuration, rebuilt only when it is replaced.

    The public listener asks on every request; a reload hands in a new tenants
    tuple, which is noticed by identity, so the common case is one comparison.
    """

    def __init__(self, tenants: Callable[[], Sequence[TenantSettings]]) -> None:
        self._tenants = tenants
        self._seen: Sequence[TenantSettings] | None = None
        self._keys: dict[str, TokenKeys] = {}

    def __call__(self) -> Mapping[str, TokenKeys]:
        tenants = self._tenants()
        if tenants is not self._seen:
            self._keys = tenant_keys(tenants)
            self._seen = tenants
        return self._keys


def message_ref(job: str, message_id: str) -> str:
    """The token's message field for a message of campaign ``job``."""
    job = job.replace("\n", " ").replace("\r", " ")[:MAX_JOB]
    return f"{job}\n{message_id}" if job else message_id


def split_ref(ref: str) -> tuple[str, str]:
    """(job, message id) back from a token's message field."""
    job, sep, message_id = ref.partition("\n")
    return (job, message_id) if sep else ("", ref)


def verify_for(keys: Mapping[str, TokenKeys], token: str, kind: str) -> TokenData:
    """The token's data if one tenant's keys open it and it names that tenant; else BadToken."""
    for tenant, tenant_keys_ in keys.items():
        try:
            data = verify(tenant_keys_, token, kind)
        except BadToken:
            continue
        if data.tenant == tenant:
            return data
    raise BadToken("no tenant's keys verify this token")
