"""The ``providers:`` section: feedback the mailbox providers publish about our IPs.

``snds``: Microsoft SNDS automated access (policy/reputation/snds.py), fetched
every ``interval`` seconds by the ``snds`` task (scheduler/reputation/snds.py).
The key comes from the environment (``key: "${SNDS_KEY}"``); the URLs are
configurable so a test, or a proxy, can stand in for Microsoft.

``postmaster``: Gmail Postmaster Tools (policy/reputation/postmaster.py),
asked with a service account (scheduler/reputation/postmaster.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from conf.schema.base import Section
from conf.schema.rules import Domains, ExistingFile, NotBlank, WebUrl

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


class PostmasterSettings(Section):
    # The service account's JSON key (client_email, private_key), granted
    # read access to the domains in Postmaster Tools.
    credentials_file: ExistingFile
    # Sender domains to ask about (each verified in Postmaster Tools).
    domains: Domains
    api_url: WebUrl = "https://gmailpostmastertools.googleapis.com"
    # 2: domainStats:query and the compliance status; 1: the older trafficStats
    # (with domain and IP reputation) for accounts not moved to v2 yet.
    api_version: Literal[1, 2] = 2
    token_url: WebUrl = "https://oauth2.googleapis.com/token"
    # Seconds between fetches: Postmaster publishes once a day.
    interval: float = Field(default=86_400.0, gt=0)
    timeout: float = Field(default=30.0, gt=0)
    # A day's user-reported spam ratio over this alerts (Gmail's rule: 0.3 %).
    spam_limit: float = Field(default=0.003, gt=0, lt=1)


class ProviderSettings(Section):
    snds: SndsSettings | None = None
    postmaster: PostmasterSettings | None = None
