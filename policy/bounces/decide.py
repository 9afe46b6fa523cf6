"""The bounce classifier: one reason per recipient, and the rule that chose it.

The rules hold for any MTA because they follow how SMTP fails, not how one
server words it.  They are tried in this order; the first that applies
decides, and its name and the text it fired on are kept on the report
(``Decision.rule``, ``Decision.evidence``) so an operator can see later why
an address was or was not suppressed.

1. ``stage``: the SMTP stage the reply belongs to.  A refusal at the
   connection, at HELO/EHLO, at STARTTLS or at MAIL FROM is about the
   sending side: it can never be the recipient's unknown mailbox or host.
   The same holds for text that says the sender's own HELO name, sender
   domain or MAIL FROM was refused (``sender-text``), whatever the code.
2. ``delay``: a temporary outcome (a 4.x.x code, a 4xx reply, or "will keep
   trying" with no permanent code) is never permanent.
3. ``vocabulary``: reputation, policy and content words (a DNSBL named,
   "blocked", "policy", "spam", "too many recipients this hour", "frequency
   limited", "refused due to recipient preferences" ...) name a cause on the
   sending side.  They beat an address-level code (5.1.x included) or a
   generic one, even when address words come first in the same text, and
   are never hard.
4. ``text-over-code``: specific text beats such a code when it names a cause
   that is not the recipient's absence: "over quota", "mailbox full", "not
   enough disk space", "account disabled" beat 5.1.1.  A specific code that
   is not hard itself (5.2.3 beside "message too big") keeps its reading:
   both are soft, and the code is the more precise.
5. ``code+text`` / ``code-only``: a specific enhanced status code (5.1.1,
   5.2.2 ...), confirmed by the text or standing alone.
6. ``text``: the recipient's own diagnostic matched by the ordered patterns.
7. ``code-generic``, ``context``, ``reply-code``: a generic status code, the
   wider notice (only when the notice is about this one recipient: a reason
   from another recipient's block is never borrowed), the bare reply code.
   These are low-confidence readings.

Afterwards an address-level reading is checked against the stage
(``stage``) and the delay (``delay``); the stock "user unknown" against the
stage it came from (after DATA or without any stage it is a filter's
wording, not proof: ``stock-unknown``; ``status-note`` when the reporting
MTA's comment on the code settles it); and a DNS failure the server itself
calls temporary stays soft (``temporary-dns``).  Hard is
only possible for an address-level reason (``reasons.HARD_REASONS``) with a
permanent code, decided at RCPT or later: when in doubt, soft.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .codes import GENERIC_STATUS, REPLY_CODE, SPECIFIC_STATUS
from .patterns import TEXT_PATTERNS, WEAK

HARD_REASONS = frozenset({"userunknown", "hostunknown", "hasmoved", "notaccept"})
# Stages before RCPT: their refusals concern the sender, never the recipient.
SENDER_STAGES = frozenset({"CONNECT", "HELO", "STARTTLS", "MAIL"})
# Rules whose reading rests on a code or on text that is not the recipient's
# own: a suppression they caused is worth an operator's look.
LOW_CONFIDENCE = frozenset({"code-only", "code-generic", "context", "reply-code"})
_MAX_TEXT = 2000
_MAX_EVIDENCE = 160


@dataclass(frozen=True)
class Decision:
    reason: str
    rule: str
    evidence: str = ""

    @property
    def confidence(self) -> str:
        return "low" if self.rule in LOW_CONFIDENCE else "high"


@dataclass(frozen=True)
class _Hit:
    reason: str
    weak: bool
    evidence: str
    index: int = 0


def _subject(status: str) -> str:
    parts = status.split(".")
    return f"{parts[1]}.{parts[2]}" if len(parts) == 3 else ""


_ADDR_IN_TEXT_RE = re.compile(r"<?[^\s<>@]+@[^\s<>]+>?")
_WS_RE = re.compile(r"\s+")
_RCPT_REJECTED_RE = re.compile(r"recipient address rejected: (?=\w)(?!access denied)")


def prepare(text: str) -> str:
    # Addresses and folded lines break the sentence-bounded patterns, and
    # Postfix's "Recipient address rejected: <cause>" should be read by its
    # cause, not by its prefix.
    if not text:
        return ""
    text = _WS_RE.sub(" ", _ADDR_IN_TEXT_RE.sub("<addr>", text[:_MAX_TEXT])).lower()
    return _RCPT_REJECTED_RE.sub("", text)


def _around(text: str, m: re.Match[str]) -> str:
    start = max(0, m.start() - 40)
    return text[start : start + _MAX_EVIDENCE].strip()


def match(prepared: str, start: int = 0, only: frozenset[str] | None = None) -> _Hit | None:
    """The first pattern (from ``start``, of the ``only`` reasons) that matches."""
    if not prepared:
        return None
    for i in range(start, len(TEXT_PATTERNS)):
        reason, rx = TEXT_PATTERNS[i]
        if only is not None and (reason not in only or i in WEAK):
            continue
        m = rx.search(prepared)
        if m:
            return _Hit(reason, i in WEAK, _around(prepared, m), i)
    return None


_DELAY_RE = re.compile(
    r"will (?:keep|continue to|continue) (?:trying|retry)|will (?:be )?retr(?:y|ied)"
    r"|(?:is|has been|was) delayed|delivery (?:is )?delayed|not yet been delivered"
    r"|still trying|warning: message|delay(?:ed)? (?:mail|notice)|will try again"
    r"|temporary failure|will retry|delivery attempts will continue",
)


def delay_words(text: str) -> str:
    """The words of a delay notice in ``text`` ("will keep trying"), if any."""
    prepared = prepare(text)
    m = _DELAY_RE.search(prepared)
    return _around(prepared, m) if m else ""


def _temporary(status: str, reply_code: str, text: str) -> str:
    """Why the outcome is temporary (``""`` when it is not)."""
    if status.startswith("4"):
        return status
    if not status and reply_code.startswith("4"):
        return reply_code
    if not status.startswith("5") and not reply_code.startswith("5"):
        m = _DELAY_RE.search(text)
        if m:
            return _around(text, m)
    return ""


@functools.lru_cache(maxsize=32)
def decide(
    status: str,
    reply_code: str,
    text: str,
    context: str = "",
    command: str = "",
    note: str = "",
    notice: str | None = None,
) -> Decision:
    """Pick one reason for a bounced recipient, with the rule that chose it.

    ``text`` is the recipient's own diagnostic; ``context`` is wider text
    (the notice around it, the subject) consulted only when the diagnostic
    says nothing useful, and given by the caller only when it concerns this
    recipient; ``command`` is the SMTP command that was refused, when known;
    ``note`` is the reporting MTA's comment on the status code (``Status:
    5.2.1 (mailbox disabled)``); ``notice`` is the whole readable notice,
    read only for the reporting MTA's own verdict that the address was
    refused (``None``: a record of the relay's own MTA).  Memoised: a
    notice that repeats one block for many recipients is read once.
    """
    sub = _subject(status) if status else ""
    raw = text[:_MAX_TEXT]
    prepared = prepare(text)
    decision = _first_reading(status, sub, reply_code, prepared, context)
    if decision.rule == "undetermined":
        return decision
    return _checked(decision, status, sub, reply_code, raw, prepared, command, note, notice)


def _first_reading(status: str, sub: str, reply_code: str, prepared: str, context: str) -> Decision:
    hit = match(prepared)
    if hit is not None and hit.reason in HARD_REASONS:
        # Address words first, sending-side words later in the same text: the
        # sending side is named, so the address is not the proven cause.
        hit = match(prepared, hit.index + 1, _SENDING_SIDE) or hit
    if hit is None or hit.reason in HARD_REASONS or hit.weak or hit.reason == "rejected":
        side = _sender_side(prepared)
        if side:
            return Decision("rejected", "sender-text", side)
    temporary = _temporary(status, reply_code, prepared)
    by_code = SPECIFIC_STATUS.get(sub, "") if not temporary else ""
    if hit and not hit.weak and hit.reason not in HARD_REASONS and by_code in _YIELDS:
        # Rules 3 and 4: named sending-side causes, and specific causes other
        # than the recipient's absence, beat an address-level or generic code
        # (a specific soft code, 5.2.3 beside "message too big", keeps its say).
        rule = "vocabulary" if _is_sending_side(hit.reason) else "text-over-code"
        return Decision(hit.reason, rule, hit.evidence)
    if by_code:
        if hit and hit.reason == by_code:
            return Decision(by_code, "code+text", f"{status}: {hit.evidence}")
        return Decision(by_code, "code-only", status)
    if hit:
        return Decision(hit.reason, "text", hit.evidence)
    generic = GENERIC_STATUS.get(sub, "") or SPECIFIC_STATUS.get(sub, "")
    if generic:
        return Decision(generic, "code-generic", status)
    if context:
        wider = match(prepare(context))
        if wider:
            return Decision(wider.reason, "context", wider.evidence)
    if temporary:
        return Decision("expired", "delay", temporary)
    if reply_code in REPLY_CODE:
        return Decision(REPLY_CODE[reply_code], "reply-code", reply_code)
    return Decision("undefined", "undetermined")


# The sender's own HELO name, sender domain or MAIL FROM refused: the sending
# side's problem whatever code comes with it ("Sender address rejected:
# Domain not found" is not the recipient's unknown host).
SENDER_SIDE_RE = re.compile(
    r"\b(?:helo|ehlo)\b(?: name| hostname| host| command| greeting| argument)?[^.\n]{0,30}"
    r"(?:rejected|refused|invalid|not found|unknown|denied|not allowed|bogus|forged|mismatch)"
    r"|(?:invalid|bad|bogus|forged) (?:helo|ehlo)"
    r"|sender (?:address|domain)[^.\n]{0,30}(?:rejected|refused|not found|unknown|invalid"
    r"|denied|does not exist|not resolv|not exist)"
    r"|domain of sender address|sender verify failed|sender verification"
    r"|(?:mail from|envelope sender|envelope from|return[- ]path)[^.\n]{0,30}"
    r"(?:rejected|refused|invalid|denied|unknown|not accepted|does not exist|not found)"
    r"|unroutable sender|sender domain (?:must|does not|not)"
)
# The codes specific text overrules: none, or one that would make it hard.
_YIELDS = HARD_REASONS | {""}
_SIDE_WORDS = ("helo", "ehlo", "sender", "mail from", "envelope", "return")


def _sender_side(prepared: str) -> str:
    """The words refusing the sender's HELO, domain or MAIL FROM, if any."""
    if not any(w in prepared for w in _SIDE_WORDS):
        return ""
    m = SENDER_SIDE_RE.search(prepared)
    return _around(prepared, m) if m else ""


_SENDING_SIDE = frozenset(
    {
        "authfailure",
        "requireptr",
        "virusdetected",
        "blocked",
        "spamdetected",
        "policyviolation",
        "speeding",
        "rejected",
        "norelaying",
        "filtered",
        "toomanyconn",
        "notcompliantrfc",
    }
)


def _is_sending_side(reason: str) -> bool:
    return reason in _SENDING_SIDE


def _checked(
    d: Decision,
    status: str,
    sub: str,
    reply_code: str,
    raw: str,
    prepared: str,
    command: str,
    note: str,
    notice: str | None,
) -> Decision:
    """Rules 1 and 2 applied to the first reading, and the stock wording."""
    if d.reason not in HARD_REASONS:
        return d
    if command in SENDER_STAGES:
        # Refused before RCPT: the problem is the sender, not the address.
        return Decision("rejected", "stage", f"{command}: {d.evidence}")
    temporary = _temporary(status, reply_code, prepared)
    if temporary:
        if d.reason == "hostunknown":
            return Decision("networkerror", "delay", temporary)
        if not status.startswith("4") and not reply_code.startswith("4"):
            return Decision("expired", "delay", temporary)
        return d
    if d.reason == "hostunknown" and not status.startswith("5") and _TRY_AGAIN_RE.search(prepared):
        # A DNS failure that the server itself calls temporary (the notice
        # may still be final: the MTA gave up on a lookup that kept failing).
        return Decision("networkerror", "temporary-dns", d.evidence)
    if d.reason == "userunknown" and command != "RCPT":
        filtered = _stock_unknown(d, sub, raw, prepared, command, note, notice)
        if filtered is not None:
            return filtered
    return d


def _stock_unknown(
    d: Decision,
    sub: str,
    raw: str,
    prepared: str,
    command: str,
    note: str,
    notice: str | None,
) -> Decision | None:
    """Refused at RCPT, "unknown user" is the server's verdict on the
    address.  Elsewhere it is believed only when the status code agrees:
    after the message body was seen, or under a security or
    disabled-mailbox code, it is a recipient-side filter refusing this
    message (or a disabled mailbox, if the reporting MTA says so)."""
    from_text = d.rule in ("text", "context")
    if from_text and sub != "1.1" and _BLIND_UNKNOWN_RE.search(raw):
        return Decision("filtered", "stock-unknown", d.evidence)
    if sub == "2.1" and from_text:
        noted = match(prepare(note))
        if noted is not None and noted.reason == "suspend":
            return Decision("suspend", "status-note", note[:_MAX_EVIDENCE])
        return Decision("filtered", "stock-unknown", d.evidence)
    if sub.startswith("7.") or (
        command == "DATA" and from_text and _STOCK_UNKNOWN_RE.search(prepared)
    ):
        return Decision("filtered", "stock-unknown", d.evidence)
    if (
        notice is not None
        and not command
        and from_text
        and not sub.startswith("1.")
        and _STOCK_UNKNOWN_RE.search(prepared)
        and not _ADDRESS_VERDICT_RE.search(note)
        and not _ADDRESS_VERDICT_RE.search(notice[:_MAX_TEXT])
    ):
        # The stock wording with nothing to say when it was given: no
        # refused command, no address-level status code, no statement by the
        # reporting MTA that the address itself was refused.  Servers that
        # filter after DATA use the same words: not proof the mailbox is gone.
        return Decision("filtered", "stock-unknown", d.evidence)
    return None


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
_TRY_AGAIN_RE = re.compile(r"try again|temporar|servfail")
# The stock wording of a missing mailbox (matched on prepared, lowercased text).
_STOCK_UNKNOWN_RE = re.compile(
    r"user unknown|unknown user|no such user|mailbox unavailable|recipient not found"
    r"|does not exist"
)
