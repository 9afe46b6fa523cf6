"""Prospects and auto-enrollment: a tenant's ingest keys and enrollment settings, and the
``enrollment:`` section of the task that enrolls them (``scheduler/enrollment.py``).

A tenant's ``enrollment`` block holds the initial values only: a change made through
``PUT /api/enrollment/{tenant}`` is stored, wins over the file and is audited.
"""

from __future__ import annotations

import re

from pydantic import Field

from conf.schema.base import Section
from conf.schema.rules import Sha256Hex


class IngestKey(Section):
    # Who posts with it (a scraper, a CRM): named in the prospects' source when they send none.
    name: str = Field(min_length=1, max_length=64)
    # SHA-256 (hex) of the key sent in X-Api-Key; list several at once to rotate.
    key_sha256: Sha256Hex


class TenantEnrollment(Section):
    # Off: prospects are kept as ready and nobody is enrolled.
    enabled: bool = False
    # Enrollments per rolling hour and per day (the tenant's zone); past them prospects wait.
    max_per_hour: int = Field(default=50, ge=0)
    max_per_day: int = Field(default=500, ge=0)
    # A prospect needs a score of at least this (0-100) and a tier of at most this (0-10);
    # null: no such rule.
    min_score: float | None = Field(default=50.0, ge=0, le=100)
    max_tier: int | None = Field(default=3, ge=0, le=10)
    # Allowed categories and languages; empty: any.
    categories: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    # Only prospects whose domain answered with an MX record.
    require_verified: bool = True
    # Role addresses (info@, contact@, ...) are enrolled too.
    allow_role: bool = False
    # Everything is decided and recorded (ENROLLMENT_DRY_RUN), nobody is enrolled or sent to.
    dry_run: bool = True

    def problems(self) -> list[tuple[str, str]]:
        out = []
        for i, lang in enumerate(self.languages):
            if not re.fullmatch(r"[a-z]{2}", lang):
                out.append((f"languages[{i}]", "a two-letter lowercase code (ISO 639-1), e.g. fr"))
        return out


class EnrollmentTask(Section):
    # Off: no enrollment task in this daemon (prospects are still taken in).
    enabled: bool = True
    # Seconds between rounds, and prospects decided per tenant per round.
    interval: float = Field(default=60.0, gt=0)
    batch: int = Field(default=500, gt=0, le=10_000)
    # MX lookups of one posted batch: seconds each, all of them at most, and at once.
    # A domain not answered in time is kept as unverified (not invalid).
    mx_timeout: float = Field(default=2.0, gt=0)
    mx_budget: float = Field(default=10.0, gt=0)
    mx_concurrency: int = Field(default=32, gt=0, le=1000)
