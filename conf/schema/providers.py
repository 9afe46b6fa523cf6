"""The ``providers:`` section: feedback the mailbox providers publish about our IPs.

``snds``: Microsoft SNDS automated access (policy/reputation/snds.py), fetched
every ``interval`` seconds by the ``snds`` task (scheduler/reputation/snds.py).
The key comes from the environment (``key: "${SNDS_KEY}"``); the URLs are
configurable so a test, or a proxy, can stand in for Microsoft.
"""

from __future__ import annotations

from pydantic import Field

from conf.schema.base import Section
from conf.schema.rules import NotBlank, WebUrl

SNDS_BASE = "https://sendersupport.olc.protection.outlook.com/snds"


class SndsSettings(Section):
    key: NotBlank
    # Per-IP daily data (CSV) and blocked ranges (CSV); "?key=" is appended.
    data_url: WebUrl = f"{SNDS_BASE}/data.aspx"
    status_url: WebUrl = f"{SNDS_BASE}/ipStatus.aspx"
    # Seconds between fetches: SNDS publishes once a day.
    interval: float = Field(default=86_400.0, gt=0)
    # Seconds one request may take.
    timeout: float = Field(default=30.0, gt=0)


class ProviderSettings(Section):
    snds: SndsSettings | None = None
