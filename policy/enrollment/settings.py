"""A tenant's enrollment settings in force: the file's initial values under the stored changes.

``PUT /api/enrollment/{tenant}`` stores only the fields it names; they win over
the configuration until changed again, so a reload of the file does not undo
what an operator decided at runtime.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from conf.schema.enrollment import TenantEnrollment

FIELDS = tuple(TenantEnrollment.model_fields)


def effective(initial: TenantEnrollment, stored: str | None) -> TenantEnrollment:
    """``initial`` with the stored changes (JSON of some of its fields) over it."""
    if not stored:
        return initial
    changes = {k: v for k, v in json.loads(stored).items() if k in FIELDS}
    return TenantEnrollment.model_validate({**initial.model_dump(), **changes})


def changed(stored: str | None, update: Mapping[str, Any]) -> str:
    """The stored changes with ``update`` (fields given a value) added, as JSON."""
    current = json.loads(stored) if stored else {}
    return json.dumps({**current, **dict(update)}, sort_keys=True)
