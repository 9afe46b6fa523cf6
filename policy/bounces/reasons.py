"""Bounce reason taxonomy and the classifier from status codes and text.

A reason is chosen from three pieces of evidence, strongest first:

1. a *specific* enhanced status code (``5.1.1``, ``5.2.2``, ``5.7.26`` ...),
   unless the diagnostic text names a different, more precise cause;
2. the diagnostic text, matched against ordered per-reason patterns that
   cover the wording of common MTAs and mailbox providers;
3. a generic status code (``5.7.1``, ``5.0.0``) or the SMTP reply code.

The reason then fixes the coarse class (``kind``), whether the address is a
hard bounce, and the PowerMTA and MailWizz categories.
"""

from __future__ import annotations

import re

from .codes import GENERIC_STATUS, REPLY_CODE, SPECIFIC_STATUS
from .patterns import TEXT_PATTERNS

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
    return _match(_prepare(text))


def _match(prepared: str) -> str:
    if not prepared:
        return ""
    for reason, rx in TEXT_PATTERNS:
        if rx.search(prepared):
            return reason
    return ""


def _subject(status: str) -> str:
    parts = status.split(".")
    return f"{parts[1]}.{parts[2]}" if len(parts) == 3 else ""


_ADDR_IN_TEXT_RE = re.compile(r"<?[^\s<>@]+@[^\s<>]+>?")
_WS_RE = re.compile(r"\s+")


_RCPT_REJECTED_RE = re.compile(r"recipient address rejected: (?=\w)(?!access denied)")
# Diagnostics longer than this are cut: causes are stated early.
_MAX_TEXT = 6000


def _prepare(text: str) -> str:
    # Addresses and folded lines break the sentence-bounded patterns, and
    # Postfix's "Recipient address rejected: <cause>" should be read by its
    # cause, not by its prefix.
    if not text:
        return ""
    text = _WS_RE.sub(" ", _ADDR_IN_TEXT_RE.sub("<addr>", text[:_MAX_TEXT])).lower()
    return _RCPT_REJECTED_RE.sub("", text)


def classify(
    status: str,
    reply_code: str,
    text: str,
    context: str = "",
    command: str = "",
    note: str = "",
    notice: str | None = None,
) -> str:
    """Pick one reason for a bounced recipient.

    ``text`` is the recipient's own diagnostic; ``context`` is wider text
    (the human-readable part, the subject) consulted only when the
    diagnostic says nothing useful; ``command`` is the SMTP command that
    was refused (``RCPT``, ``MAIL``, ``DATA`` ...), when known; ``note`` is
    the reporting MTA's own comment on the status code (``Status: 5.2.1
    (mailbox disabled)``), which settles a conflict between code and text;
    ``notice`` is the whole readable bounce notice when the diagnostic comes
    from one, read only for the reporting MTA's own verdict that the address
    was refused.  ``None`` (a record of the relay's own MTA, such as a
    PowerMTA accounting line) leaves the stock "user unknown" to the
    caller, who has that MTA's own category for it.
    """
    sub = _subject(status) if status else ""
    raw = text[:_MAX_TEXT]
    text = _prepare(text)
    temporary = status.startswith("4") or (not status and reply_code.startswith("4"))
    reason = SPECIFIC_STATUS.get(sub, "") if not temporary else ""
    from_text = False
    if not reason:
        reason = _match(text)
        from_text = bool(reason)
    if not reason:
        reason = GENERIC_STATUS.get(sub, "") or SPECIFIC_STATUS.get(sub, "")
    if not reason and context:
        reason = _match(_prepare(context))
        from_text = bool(reason)
    if not reason:
        reason = REPLY_CODE.get(reply_code, "")
    if not reason:
        return UNDEFINED
    if reason == "userunknown" and command != "RCPT":
        reason = _unknown_user(sub, raw, text, command, note, notice, from_text)
    if reason == "hostunknown" and (
        temporary or (not status.startswith("5") and _TRY_AGAIN_RE.search(text))
    ):
        # A DNS failure that the server itself calls temporary.
        return "networkerror"
    if reason in ("userunknown", "hostunknown") and command == "MAIL":
        # Refused at MAIL FROM: the problem is the sender, not the address.
        return "rejected"
    return reason


# "User unknown" with the address slot left empty ("550 : User unknown"): the
# server did not look an address up, it refused the message (a filter).
_BLIND_UNKNOWN_RE = re.compile(r"\b[45]\d\d[ -]+:[ \t]*user unknown\b", re.IGNORECASE)
# The reporting MTA's own statement that the address was refused: a heading
# such as Gmail's "Address not found", a status comment such as "Remote SMTP
# server has rejected address", or its local delivery agent's verdict
# ("mail.local: unknown user"), which knows its mailboxes.
_ADDRESS_VERDICT_RE = re.compile(
    r"address not found|address could(?:n'?t| not) be found"
    r"|rejected (?:the )?(?:recipient )?address|\bmail\.local:",
    re.IGNORECASE,
)
_TRY_AGAIN_RE = re.compile(r"try again|temporar|servfail", re.IGNORECASE)
# The stock wording of a missing mailbox.  After DATA, servers that filter
# per recipient reuse it, so there it means "filtered"; a server that names
# the missing account in its own words is believed.
_STOCK_UNKNOWN_RE = re.compile(
    r"user unknown|unknown user|no such user|mailbox unavailable|recipient not found"
    r"|does not exist",
    re.IGNORECASE,
)


def _unknown_user(
    sub: str, raw: str, text: str, command: str, note: str, notice: str | None, from_text: bool
) -> str:
    """An unknown user not reported at RCPT: believed only when the status code agrees."""
    # Refused at RCPT, "unknown user" is the server's verdict on the
    # address.  Elsewhere it is believed only when the status code
    # agrees: after the message body was seen, or under a security or
    # disabled-mailbox code, it is a recipient-side filter refusing
    # this message (or a disabled mailbox, if the reporting MTA says so).
    if from_text and sub != "1.1" and _BLIND_UNKNOWN_RE.search(raw):
        return "filtered"
    if sub == "2.1" and from_text:
        return "suspend" if _match(_prepare(note)) == "suspend" else "filtered"
    if sub.startswith("7.") or (command == "DATA" and from_text and _STOCK_UNKNOWN_RE.search(text)):
        return "filtered"
    if (
        notice is not None
        and not command
        and from_text
        and not sub.startswith("1.")
        and _STOCK_UNKNOWN_RE.search(text)
        and not _ADDRESS_VERDICT_RE.search(note)
        and not _ADDRESS_VERDICT_RE.search(notice[:_MAX_TEXT])
    ):
        # The stock wording with nothing to say when it was given: no
        # refused command, no address-level status code, no statement by
        # the reporting MTA that the address itself was refused.  Servers
        # that filter after DATA use the same words, so it is not proof
        # that the mailbox is gone.
        return "filtered"
    return "userunknown"
