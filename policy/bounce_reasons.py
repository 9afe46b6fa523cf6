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

from .bounce_patterns import TEXT_PATTERNS

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


# Enhanced status codes precise enough to decide the reason on their own.
_SPECIFIC_STATUS: dict[str, str] = {
    "1.1": "userunknown",
    "1.2": "hostunknown",
    "1.3": "userunknown",
    "1.6": "hasmoved",
    "1.10": "notaccept",
    "2.2": "mailboxfull",
    "2.3": "exceedlimit",
    "3.1": "systemfull",
    "3.2": "notaccept",
    "3.4": "mesgtoobig",
    "4.7": "expired",
    "5.3": "exceedlimit",
    "7.13": "suspend",
    "7.23": "authfailure",
    "7.24": "authfailure",
    "7.25": "requireptr",
    "7.26": "authfailure",
    "7.27": "notaccept",
    "7.509": "authfailure",
    "7.510": "norelaying",
    # Microsoft's bulk-sender requirement: a block of the sending domain.
    "7.515": "blocked",
    "7.650": "badreputation",
    "7.651": "badreputation",
}
# Codes that hint at a reason but often carry a more precise explanation.
_GENERIC_STATUS: dict[str, str] = {
    "1.0": "userunknown",
    "1.4": "userunknown",
    "1.5": "userunknown",
    "1.7": "rejected",
    "1.8": "rejected",
    "2.0": "filtered",
    "2.1": "suspend",
    "2.4": "systemerror",
    "3.0": "systemerror",
    "3.3": "systemerror",
    "3.5": "systemerror",
    "4.0": "networkerror",
    "4.1": "networkerror",
    "4.2": "networkerror",
    "4.3": "systemerror",
    "4.4": "hostunknown",
    "4.5": "toomanyconn",
    "4.6": "networkerror",
    "5.0": "syntaxerror",
    "5.1": "syntaxerror",
    "5.2": "syntaxerror",
    "5.4": "syntaxerror",
    "5.5": "syntaxerror",
    "6.0": "contenterror",
    "6.1": "contenterror",
    "6.2": "contenterror",
    "6.3": "contenterror",
    "6.4": "contenterror",
    "6.5": "contenterror",
    "7.0": "securityerror",
    "7.1": "securityerror",
    "7.2": "securityerror",
    "7.3": "securityerror",
    "7.4": "securityerror",
    "7.5": "securityerror",
    "7.6": "securityerror",
    "7.7": "securityerror",
    "7.8": "securityerror",
    "7.9": "policyviolation",
    "7.10": "securityerror",
    "7.11": "securityerror",
    "7.12": "securityerror",
    "7.14": "securityerror",
    "7.17": "securityerror",
    "7.18": "securityerror",
    "7.19": "securityerror",
    "7.20": "authfailure",
    "7.21": "authfailure",
    "7.22": "authfailure",
}

_REPLY_CODE: dict[str, str] = {
    "421": "systemerror",
    "450": "systemerror",
    "451": "systemerror",
    "452": "systemfull",
    "521": "notaccept",
    "523": "mesgtoobig",
    "530": "securityerror",
    "550": "rejected",
    "551": "hasmoved",
    "552": "mailboxfull",
    "553": "rejected",
    "554": "rejected",
    "556": "notaccept",
}

STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
REPLY_RE = re.compile(r"(?<![\d.#-])([245][0-5]\d)(?:[ -]|$)", re.MULTILINE)


_STATUS_AFTER_REPLY_RE = re.compile(
    r"(?<!\d)[245]\d\d[ -]['\"]?([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)"
)


def find_status(text: str) -> str:
    """The enhanced status code of ``text`` (``""`` if none): the one that
    follows an SMTP reply code if there is one, else the first plausible."""
    for rx in (_STATUS_AFTER_REPLY_RE, STATUS_RE):
        for m in rx.finditer(text):
            a, b, c = m.groups()
            if int(b) <= 7:
                return f"{a}.{b}.{c}"
    return ""


def find_reply_code(text: str) -> str:
    m = REPLY_RE.search(text)
    return m.group(1) if m else ""


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


_COMMAND_RE = re.compile(
    r"(?:in reply to|after|did not like our|smtp command|command)[\s:-]*(?:the )?"
    r"(rcpt to|mail from|end of data|data|helo|ehlo|starttls)\b",
    re.IGNORECASE,
)
_TRANSCRIPT_RE = re.compile(
    r"^>>> ?(rcpt to|mail from|data|helo|ehlo|starttls)\b|^<<< ?[45]\d\d",
    re.IGNORECASE | re.MULTILINE,
)
_COMMANDS = {
    "rcpt to": "RCPT",
    "mail from": "MAIL",
    "end of data": "DATA",
    "data": "DATA",
    "helo": "HELO",
    "ehlo": "HELO",
    "starttls": "STARTTLS",
}


def find_command(text: str) -> str:
    """The SMTP command the remote server refused, if the text says."""
    m = _COMMAND_RE.search(text)
    if m:
        return _COMMANDS[m.group(1).lower()]
    # In a session transcript the refused command is the last one sent
    # before the first error reply.
    last = ""
    for m in _TRANSCRIPT_RE.finditer(text):
        if m.group(1) is None:
            return last
        last = _COMMANDS[m.group(1).lower()]
    return ""


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


def classify(status: str, reply_code: str, text: str, context: str = "", command: str = "") -> str:
    """Pick one reason for a bounced recipient.

    ``text`` is the recipient's own diagnostic; ``context`` is wider text
    (the human-readable part, the subject) consulted only when the
    diagnostic says nothing useful; ``command`` is the SMTP command that
    was refused (``RCPT``, ``MAIL``, ``DATA`` ...), when known.
    """
    sub = _subject(status) if status else ""
    text = _prepare(text)
    temporary = status.startswith("4") or (not status and reply_code.startswith("4"))
    reason = _SPECIFIC_STATUS.get(sub, "") if not temporary else ""
    from_text = False
    if not reason:
        reason = _match(text)
        from_text = bool(reason)
    if not reason:
        reason = _GENERIC_STATUS.get(sub, "") or _SPECIFIC_STATUS.get(sub, "")
    if not reason and context:
        reason = _match(_prepare(context))
        from_text = bool(reason)
    if not reason:
        reason = _REPLY_CODE.get(reply_code, "")
    if not reason:
        return UNDEFINED
    if reason == "userunknown" and (
        sub.startswith("7.") or (command == "DATA" and from_text and _STOCK_UNKNOWN_RE.search(text))
    ):
        # A mailbox that "does not exist" only after the message body was
        # seen, or under a security or disabled-mailbox code, is a
        # recipient-side filter refusing this message.
        return "filtered"
    if reason == "hostunknown" and (
        temporary or (not status.startswith("5") and _TRY_AGAIN_RE.search(text))
    ):
        # A DNS failure that the server itself calls temporary.
        return "networkerror"
    if reason in ("userunknown", "hostunknown") and command == "MAIL":
        # Refused at MAIL FROM: the problem is the sender, not the address.
        return "rejected"
    return reason


_TRY_AGAIN_RE = re.compile(r"try again|temporar|servfail", re.IGNORECASE)
# The stock wording of a missing mailbox.  After DATA, servers that filter
# per recipient reuse it, so there it means "filtered"; a server that names
# the missing account in its own words is believed.
_STOCK_UNKNOWN_RE = re.compile(
    r"user unknown|unknown user|no such user|mailbox unavailable|recipient not found"
    r"|does not exist",
    re.IGNORECASE,
)
