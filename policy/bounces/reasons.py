"""Bounce reason taxonomy and the classifier from status codes and text.

A reason is chosen by ``decide`` (its docstring states the rules and their
order).  The reason then fixes the coarse class (``kind``), whether the address is a
hard bounce, and the PowerMTA and MailWizz categories.
"""

from __future__ import annotations

from . import decide
from .codes import REPLY_CODE

# Coarse classes.  ``hard`` reasons are the only ones that may suppress the
# recipient; ``block`` reasons say something about the sending IP, domain or
# content, never about the recipient's address.
KIND_OF: dict[str, str] = {}
for _kind, _reasons in {
    "hard": ("userunknown", "hostunknown", "hasmoved", "notaccept"),
    "soft": (
        "mailboxfull",
        "exceedlimit",
        "mesgtoobig",
        "systemfull",
        "systemerror",
        "mailererror",
        "networkerror",
        "expired",
        "toomanyconn",
        "suspend",
        "syntaxerror",
        "failedstarttls",
    ),
    "block": (
        "blocked",
        "rejected",
        "filtered",
        "policyviolation",
        "spamdetected",
        "virusdetected",
        "securityerror",
        "speeding",
        "badreputation",
        "authfailure",
        "requireptr",
        "notcompliantrfc",
        "norelaying",
        "contenterror",
        "suppressed",
    ),
    "complaint": ("feedback",),
    "autoreply": ("vacation",),
    "delivered": ("delivered",),
    "unknown": ("onhold", "undefined"),
}.items():
    for _r in _reasons:
        KIND_OF[_r] = _kind

UNDEFINED = "undefined"
HARD_REASONS = frozenset(r for r, k in KIND_OF.items() if k == "hard")

PMTA_CATEGORY: dict[str, str] = {
    "userunknown": "bad-mailbox",
    "hasmoved": "bad-mailbox",
    "hostunknown": "bad-domain",
    "notaccept": "bad-domain",
    "suspend": "inactive-mailbox",
    "mailboxfull": "quota-issues",
    "systemfull": "quota-issues",
    "exceedlimit": "quota-issues",
    "expired": "message-expired",
    "networkerror": "no-answer-from-host",
    "toomanyconn": "no-answer-from-host",
    "norelaying": "relaying-issues",
    "blocked": "spam-related",
    "badreputation": "spam-related",
    "spamdetected": "spam-related",
    "speeding": "policy-related",
    "filtered": "policy-related",
    "policyviolation": "policy-related",
    "securityerror": "policy-related",
    "authfailure": "policy-related",
    "requireptr": "policy-related",
    "suppressed": "policy-related",
    "syntaxerror": "protocol-errors",
    "failedstarttls": "protocol-errors",
    "notcompliantrfc": "content-related",
    "contenterror": "content-related",
    "mesgtoobig": "content-related",
    "virusdetected": "content-related",
    "rejected": "invalid-sender",
    "mailererror": "bad-configuration",
    "systemerror": "bad-configuration",
}


def kind_of(reason: str) -> str:
    return KIND_OF.get(reason, "unknown")


def is_hard(reason: str, status: str, reply_code: str) -> bool:
    """Hard means: suppress this address.  Only address-level reasons with a
    permanent (5xx) outcome qualify; a temporary code never does."""
    if reason not in HARD_REASONS:
        return False
    if status:
        return status.startswith("5")
    if reply_code:
        return reply_code.startswith("5")
    return True


# The enhanced status subject (RFC 3463) that best states each reason, for
# reports whose text gives no enhanced code of its own.
_SUBJECT_OF_REASON: dict[str, str] = {
    "userunknown": "1.1",
    "hostunknown": "1.2",
    "hasmoved": "1.6",
    "notaccept": "1.10",
    "suspend": "2.1",
    "mailboxfull": "2.2",
    "exceedlimit": "2.3",
    "systemfull": "3.1",
    "mesgtoobig": "3.4",
    "systemerror": "3.0",
    "mailererror": "3.0",
    "networkerror": "4.0",
    "toomanyconn": "4.5",
    "expired": "4.7",
    "syntaxerror": "5.2",
    "notcompliantrfc": "6.0",
    "contenterror": "6.0",
    "securityerror": "7.0",
    "failedstarttls": "7.10",
    "requireptr": "7.25",
}
_NO_STATUS_KINDS = frozenset({"complaint", "autoreply", "delivered"})


def derive_status(reason: str, reply_code: str, temporary: bool = False) -> str:
    """An enhanced status code for a report whose text has none: the class
    from the SMTP reply code (else temporary or permanent as the report
    says), the subject from the reason (``550`` user unknown gives
    ``5.1.1``, a generic ``5xx`` gives ``5.0.0``).  ``""`` for complaints,
    auto-replies and deliveries."""
    kind = kind_of(reason)
    if kind in _NO_STATUS_KINDS:
        return ""
    if reply_code[:1] in ("4", "5"):
        cls = reply_code[0]
    else:
        cls = "4" if temporary else "5"
    sub = _SUBJECT_OF_REASON.get(reason, "0.0")
    if kind == "block" and REPLY_CODE.get(reply_code) != reason:
        # A refusal the text explains (not one guessed from the reply code).
        sub = "7.1"
    return f"{cls}.{sub}"


def pmta_category(reason: str) -> str:
    return PMTA_CATEGORY.get(reason, "other")


def mailwizz_type(reason: str, hard: bool) -> str:
    """MailWizz knows hard, soft and internal bounces; reputation and policy
    blocks are internal (the sender's problem), not the subscriber's."""
    if hard:
        return "hard"
    kind = kind_of(reason)
    if kind in ("block", "complaint", "autoreply", "delivered"):
        return "internal"
    return "soft"


def reason_from_text(text: str) -> str:
    """The first reason whose patterns match ``text`` (``""`` if none)."""
    hit = decide.match(decide.prepare(text))
    return hit.reason if hit else ""


def classify(
    status: str,
    reply_code: str,
    text: str,
    context: str = "",
    command: str = "",
    note: str = "",
    notice: str | None = None,
) -> str:
    """The reason ``decide.decide`` picks (see there), without its rule."""
    return decide.decide(status, reply_code, text, context, command, note, notice).reason
