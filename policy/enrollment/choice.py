"""Which scenario a prospect is enrolled in: a documented score, highest wins.

Candidates are the tenant's ``active`` scenarios that declare ``auto_enroll``.
A candidate is excluded when:

- its recipient filter (``filters``) refuses the contact (the enrollment would
  skip it anyway);
- **language must match**: the scenario names languages and the contact's is
  not one of them (a scenario that names none takes any language);
- it names ``auto_enroll.tiers`` and the contact's tier is not one of them.

The others score, each part documented here and in the README:

====================  ========================================================
language              +40 when the scenario names the contact's language
category              +20 when the scenario names the contact's category
country (bonus)       +10 when the scenario names the contact's country
tier                  +15 when ``auto_enroll.tiers`` names the contact's tier
load                  -20 * active / (active + 100): fewer active enrollments
                      preferred (-10 at 100 active, towards -20)
recency               +5 * 0.5 ** (age in days / 30): newer scenarios preferred
priority              + the scenario's own ``priority``
====================  ========================================================

Ties (scores equal to 1e-9) go to fewer active enrollments, then the name in
alphabetical order: the same inputs always choose the same scenario.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from policy.scenarios.contacts import Contact, ContactFilter, matches
from policy.scenarios.definition import Scenario

LANGUAGE, CATEGORY, COUNTRY, TIER = 40.0, 20.0, 10.0, 15.0
LOAD, LOAD_HALF = 20.0, 100.0
RECENCY, RECENCY_HALF_LIFE = 5.0, 30 * 86400.0


@dataclass(frozen=True)
class Candidate:
    name: str
    definition: Scenario
    active: int  # its active enrollments
    created: float  # when the scenario was first saved


@dataclass(frozen=True)
class Choice:
    name: str
    score: float


def score(c: Contact, cand: Candidate, now: float) -> float | None:
    """The candidate's score for the contact; None when it cannot take it."""
    d = cand.definition
    f = d.filters
    if d.auto_enroll is None or not matches(c, ContactFilter(**f.model_dump())):
        return None
    if f.languages and c.language not in f.languages:
        return None
    tiers = d.auto_enroll.tiers
    if tiers and c.tier not in tiers:
        return None
    total = float(d.priority)
    total += LANGUAGE if f.languages else 0.0
    total += CATEGORY if f.categories and c.category in f.categories else 0.0
    total += COUNTRY if f.countries and c.country in f.countries else 0.0
    total += TIER if tiers else 0.0
    total -= LOAD * cand.active / (cand.active + LOAD_HALF)
    age = max(0.0, now - cand.created)
    total += RECENCY * math.pow(0.5, age / RECENCY_HALF_LIFE)
    return total


def choose(c: Contact, candidates: Sequence[Candidate], now: float) -> Choice | None:
    """The best candidate for the contact, or None when none takes it."""
    scored = [(s, cand) for cand in candidates if (s := score(c, cand, now)) is not None]
    if not scored:
        return None
    best_s, best = min(scored, key=lambda sc: (-round(sc[0], 9), sc[1].active, sc[1].name))
    return Choice(best.name, best_s)
