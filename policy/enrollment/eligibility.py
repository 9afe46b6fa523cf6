"""Whether a ready prospect may be enrolled: rules evaluated in a stated order.

The first rule that fails is the prospect's reason (an ``enrollment_blocked``
event names it) and the rest are not evaluated. In order:

1. ``contact``: the prospect is still a contact of the tenant;
2. ``do_not_contact``: its status is not do_not_contact;
3. ``suppressed``: its address is not on the tenant's (or the global) suppression list;
4. ``disposable``: its domain is not a throwaway mailbox service;
5. ``role``: it is not a role address (info@, contact@...), unless ``allow_role``;
6. ``verified``: its domain answered with an MX record, when ``require_verified``;
7. ``score``: its score is at least ``min_score`` (an unknown score fails);
8. ``tier``: its tier is at most ``max_tier`` (an unknown tier fails);
9. ``category``: its category is one of ``categories`` (empty: any);
10. ``language``: its language is one of ``languages`` (empty: any);
11. ``already_enrolled``: it is in none of the tenant's auto-enrollment scenarios yet;
12. ``scenario``: an active scenario takes it (``policy.enrollment.choice``).

Past these, the throttles (``max_per_hour``, ``max_per_day``) hold it as ready
until there is room: a held prospect is never dropped nor blocked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from conf.schema.enrollment import TenantEnrollment
from policy.enrollment.prospects import MX_OK, ProspectRow
from policy.scenarios.contacts import Contact


@dataclass(frozen=True)
class Facts:
    """What the rules look at, gathered by the task before it asks."""

    prospect: ProspectRow
    contact: Contact | None
    suppressed: bool = False
    enrolled_in: str = ""  # a scenario the contact is already enrolled in, "" none
    scenario: str = ""  # the scenario chosen for it, "" none


@dataclass(frozen=True)
class Blocked:
    rule: str
    reason: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.reason}"


Rule = Callable[[Facts, TenantEnrollment], str]  # "" passes, else the reason


def _contact(f: Facts, s: TenantEnrollment) -> str:
    return "" if f.contact is not None else "no longer a contact of the tenant"


def _do_not_contact(f: Facts, s: TenantEnrollment) -> str:
    c = f.contact
    return "the contact is do_not_contact" if c and c.status == "do_not_contact" else ""


def _suppressed(f: Facts, s: TenantEnrollment) -> str:
    return "the address is suppressed" if f.suppressed else ""


def _disposable(f: Facts, s: TenantEnrollment) -> str:
    return "a disposable mailbox domain" if f.prospect.disposable else ""


def _role(f: Facts, s: TenantEnrollment) -> str:
    return "a role address" if f.prospect.role and not s.allow_role else ""


def _verified(f: Facts, s: TenantEnrollment) -> str:
    if s.require_verified and f.prospect.mx != MX_OK:
        return "the domain's MX record is not verified"
    return ""


def _score(f: Facts, s: TenantEnrollment) -> str:
    score = f.contact.score if f.contact else None
    if s.min_score is None:
        return ""
    if score is None:
        return f"no score (min_score is {s.min_score:g})"
    return f"score {score:g} is below {s.min_score:g}" if score < s.min_score else ""


def _tier(f: Facts, s: TenantEnrollment) -> str:
    tier = f.contact.tier if f.contact else None
    if s.max_tier is None:
        return ""
    if tier is None:
        return f"no tier (max_tier is {s.max_tier})"
    return f"tier {tier} is above {s.max_tier}" if tier > s.max_tier else ""


def _category(f: Facts, s: TenantEnrollment) -> str:
    value = f.contact.category if f.contact else ""
    if s.categories and value not in s.categories:
        return f"category {value or '(none)'!s} is not one of {', '.join(s.categories)}"
    return ""


def _language(f: Facts, s: TenantEnrollment) -> str:
    value = f.contact.language if f.contact else ""
    if s.languages and value not in s.languages:
        return f"language {value or '(none)'!s} is not one of {', '.join(s.languages)}"
    return ""


def _already(f: Facts, s: TenantEnrollment) -> str:
    return f"already enrolled in {f.enrolled_in}" if f.enrolled_in else ""


def _scenario(f: Facts, s: TenantEnrollment) -> str:
    return "" if f.scenario else "no active scenario takes it"


RULES: tuple[tuple[str, Rule], ...] = (
    ("contact", _contact),
    ("do_not_contact", _do_not_contact),
    ("suppressed", _suppressed),
    ("disposable", _disposable),
    ("role", _role),
    ("verified", _verified),
    ("score", _score),
    ("tier", _tier),
    ("category", _category),
    ("language", _language),
    ("already_enrolled", _already),
    ("scenario", _scenario),
)
ORDER = tuple(name for name, _ in RULES)


def first_failure(f: Facts, s: TenantEnrollment, upto: str | None = None) -> Blocked | None:
    """The first rule ``f`` fails under ``s``, in ``RULES`` order; None when all pass.

    ``upto``: stop before that rule (the task checks the rules that need no scenario
    first, then chooses one only for the prospects that pass them).
    """
    for name, rule in RULES:
        if name == upto:
            return None
        reason = rule(f, s)
        if reason:
            return Blocked(name, reason)
    return None
