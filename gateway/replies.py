"""Every reply Sluice can send, with its enhanced status code (RFC 3463).

Steps return these constants; nothing else composes reply text, so a grep
here finds every answer a client can see. Downstream text is never echoed:
aiosmtplib joins multi-line replies with a bare LF, and a stranger must not
read the next hop's internals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import AnyStr


@dataclass(frozen=True, slots=True)
class Verdict:
    code: int
    enhanced: str
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.enhanced} {self.text}"

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500

    def with_text(self, text: str) -> Verdict:
        return Verdict(self.code, self.enhanced, text)


OK = Verdict(250, "2.0.0", "OK")
QUEUED = Verdict(250, "2.0.0", "Accepted by the next hop")
SENDER_OK = Verdict(250, "2.1.0", "Sender OK")
RECIPIENT_OK = Verdict(250, "2.1.5", "Recipient OK")
SINK_OK = Verdict(250, "2.0.0", "Written to the outbox")
SPOOLED = Verdict(250, "2.0.0", "queued as {id}")  # kept in the spool for the next hop


def spooled(entry_id: str) -> Verdict:
    """The 250 of a message written to the spool: it will be relayed when the next hop is back."""
    return SPOOLED.with_text(SPOOLED.text.format(id=entry_id))


NEED_MAIL = Verdict(503, "5.5.1", "Error: need MAIL command")
NEED_RCPT = Verdict(503, "5.5.1", "Error: need RCPT command")
NESTED_MAIL = Verdict(503, "5.5.1", "Error: nested MAIL command")
# A pipelining client (MailWizz's Swift mailer) sends DATA even when every RCPT was
# refused, and logs the DATA reply: it says why (RFC 2920 §3.1).
NO_VALID_RECIPIENTS = Verdict(554, "5.5.1", "No valid recipients")


def no_valid_recipients(refusals: list[Verdict]) -> Verdict:
    """554 5.5.1 for DATA after every RCPT was refused, naming the refusals.

    e.g. "No valid recipients: 550 5.7.1 Recipient suppressed: unsubscribed (...)"
    """
    reasons = "; ".join(dict.fromkeys(str(v) for v in refusals))
    if len(reasons) > 400:  # one reply line stays well under 512 octets
        reasons = reasons[:397] + "..."
    return NO_VALID_RECIPIENTS.with_text(f"{NO_VALID_RECIPIENTS.text}: {reasons}")


# Connection. A 421 closes the connection (smtp.SluiceSMTP.push), so these four are
# the only ones: at connect, at AUTH (before any message) and while draining. Never
# mid-session: MailWizz keeps a closed connection and fails the rest of its batch on it.
TOO_MANY_CONNECTIONS = Verdict(421, "4.7.0", "Too many connections, try again later")
TOO_MANY_FROM_CLIENT = Verdict(421, "4.7.0", "Too many connections from your address")
SHUTTING_DOWN = Verdict(421, "4.3.2", "Service shutting down, try again later")
AUTH_LOCKED_OUT = Verdict(421, "4.7.0", "Too many failed logins, try again later")
TOO_MANY_IDLE_COMMANDS = Verdict(421, "4.7.0", "Too many commands without mail, goodbye")
EARLY_TALKER = Verdict(554, "5.5.1", "Protocol error: you spoke before the greeting")

# Access
AUTH_REQUIRED = Verdict(530, "5.7.0", "Authentication required")
AUTH_FAILED = Verdict(535, "5.7.8", "Authentication credentials invalid")
SENDER_NOT_ALLOWED = Verdict(550, "5.7.1", "Sender domain not allowed for this account")
FROM_NOT_ALLOWED = Verdict(550, "5.7.1", "From header domain not allowed for this account")
FROM_MISSING = Verdict(550, "5.7.1", "Message needs exactly one From address")
NULL_SENDER = Verdict(550, "5.7.1", "A null sender cannot be relayed")

# Syntax and size
BAD_ADDRESS = Verdict(553, "5.1.3", "Malformed address")
BAD_SENDER_ADDRESS = Verdict(553, "5.1.7", "Malformed sender address")
UTF8_NEEDS_SMTPUTF8 = Verdict(553, "5.6.7", "Non-ASCII address needs MAIL FROM with SMTPUTF8")
UTF8_NOT_RELAYED = Verdict(553, "5.6.7", "Non-ASCII addresses cannot be relayed downstream")
TOO_BIG = Verdict(552, "5.3.4", "Message size exceeds fixed maximum message size")
HEADERS_TOO_BIG = Verdict(552, "5.3.4", "Header section too large")
TOO_MANY_RECIPIENTS = Verdict(
    452, "4.5.3", "Too many recipients, send the rest in a new transaction"
)
BARE_NEWLINE = Verdict(550, "5.5.2", "Bare <CR> or <LF> not allowed, use <CR><LF>")
LINE_TOO_LONG = Verdict(500, "5.5.2", "Line too long (RFC 5321 section 4.5.3.1.6)")
MAIL_LOOP = Verdict(554, "5.4.6", "Too many Received headers, mail loop suspected")

# Policy
NO_ROUTE = Verdict(451, "4.4.3", "No sending IP available for this account, try again later")
QUOTA_REACHED = Verdict(451, "4.7.1", "Sending limit reached, try again later")
RECIPIENT_DOES_NOT_FIT = Verdict(
    452,
    "4.5.3",
    "Sending limit of this transaction's IP reached, send the rest in a new transaction",
)
QUOTA_STORE_UNAVAILABLE = Verdict(451, "4.3.0", "Quota store unavailable, try again later")

_LIMIT_NAMES = {
    ("daily", True): "Daily warmup limit",
    ("hourly", True): "Hourly warmup limit",
    ("provider", True): "Daily warmup limit",
    ("daily", False): "Daily limit",
    ("hourly", False): "Hourly limit",
    ("provider", False): "Daily limit",
    ("throttle", True): "Hourly health throttle",
    ("throttle", False): "Hourly health throttle",
}


def quota_reached(
    kind: str,
    ip: str,
    *,
    warming: bool,
    group: str | None,
    used: int,
    limit: int,
    frees_at: datetime,
) -> Verdict:
    """451 4.7.1 naming the limit that is full, its count and when it frees.

    MailWizz gives the subscriber up on it and keeps this text in its delivery
    log, so it says what an operator needs there, e.g. "Daily warmup limit of
    192.0.2.12 for gmail used (500/500); frees at 2026-12-05T00:00:00+01:00".
    """
    name = _LIMIT_NAMES.get((kind, warming), "Sending limit")
    scope = f"{ip} for {group}" if group else ip
    when = frees_at.isoformat(timespec="seconds")
    return QUOTA_REACHED.with_text(f"{name} of {scope} used ({used}/{limit}); frees at {when}")


# Kill switches, IP states and suppression.
PAUSED = Verdict(451, "4.7.0", "Sending paused, try again later")
POLICY_STALE = Verdict(451, "4.3.0", "Policy store unreachable, try again later")
SUPPRESSED = Verdict(550, "5.7.1", "Recipient is suppressed")


def paused(switch: str) -> Verdict:
    """451 4.7.0 naming the switch: "Sending paused by the tenant acme pause switch ..."."""
    return PAUSED.with_text(f"Sending paused by the {switch}, try again later")


def no_ip_in_rotation(pool: str, states: str) -> Verdict:
    """451 4.7.0 when every IP of the pool is out of rotation, naming their states."""
    return PAUSED.with_text(f"No IP of pool {pool} in rotation ({states}), try again later")


def suppressed(reason: str) -> Verdict:
    """550 5.7.1 naming why: "Recipient suppressed: unsubscribed (suppression list)"."""
    return SUPPRESSED.with_text(f"Recipient suppressed: {reason}")


# Our own failures are always temporary: the sender keeps the message.
INTERNAL_ERROR = Verdict(451, "4.3.0", "Temporary local problem, try again later")
STEP_TIMEOUT = Verdict(451, "4.3.0", "Temporary local problem (timeout), try again later")

# Downstream outcomes, mapped by class and never with the downstream's text.
DOWNSTREAM_UNAVAILABLE = Verdict(451, "4.4.1", "Next hop unavailable, try again later")
DOWNSTREAM_TIMEOUT = Verdict(451, "4.4.2", "Next hop timed out, try again later")
DOWNSTREAM_LOST = Verdict(451, "4.4.2", "Connection to next hop lost, try again later")
DOWNSTREAM_DEFERRED = Verdict(451, "4.4.1", "Deferred by the next hop, try again later")
DOWNSTREAM_REJECTED = Verdict(550, "5.0.0", "Rejected by the next hop")
OUTBOX_FAILED = Verdict(451, "4.3.0", "Could not write the message, try again later")
# The next hop could not take it and the fallback spool has no room (gateway.spool).
SPOOL_FULL = Verdict(451, "4.3.1", "Next hop unavailable and spool full, try again later")

# The inbound listener (DSNs, complaints, mailto: unsubscribes to bounce domains).
INBOUND_NOT_OURS = Verdict(550, "5.7.1", "Relaying denied: not a domain of this server")
INBOUND_STORED = Verdict(250, "2.0.0", "Received")
INBOUND_TOO_MANY_RECIPIENTS = Verdict(452, "4.5.3", "Too many recipients")
INBOUND_NO_SUCH_USER = Verdict(550, "5.1.1", "No such user here")
INBOUND_SLOW_DOWN = Verdict(450, "4.7.1", "Too many messages from your address, try again later")


def downstream_verdict(code: int, enhanced: str | None) -> Verdict:
    """Our reply for a downstream refusal: its code and enhanced code, our text."""
    if 500 <= code < 600:
        return Verdict(code, _enhanced(enhanced, "5") or "5.0.0", DOWNSTREAM_REJECTED.text)
    return Verdict(451, _enhanced(enhanced, "4") or "4.4.1", DOWNSTREAM_DEFERRED.text)


def _enhanced(value: str | None, klass: str) -> str | None:
    if not value:
        return None
    parts = value.split(".")
    ok = len(parts) == 3 and parts[0] == klass and all(p.isdigit() and len(p) <= 3 for p in parts)
    return value if ok else None


# aiosmtpd answers some protocol errors itself; these carry enhanced codes.
LIBRARY_REPLIES = {
    "552 Error: Too much mail data": str(TOO_BIG),
    "552 Error: message size exceeds fixed maximum message size": str(TOO_BIG),
    "500 Line too long (see RFC5321 4.5.3.1.6)": str(LINE_TOO_LONG),
    "503 Error: need RCPT command": str(NEED_RCPT),
    "503 Error: need MAIL command": str(NEED_MAIL),
    "503 Error: nested MAIL command": str(NESTED_MAIL),
    "530 5.7.0 Authentication required": str(AUTH_REQUIRED),
    "535 5.7.8 Authentication credentials invalid": str(AUTH_FAILED),
}


def ours(status: AnyStr) -> AnyStr:
    """An aiosmtpd reply, re-worded as ours (with its enhanced code) where we have one."""
    return LIBRARY_REPLIES.get(status, status) if isinstance(status, str) else status
