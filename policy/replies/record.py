"""The rows of the replies table and the scenario send a reply answers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SentMessage:
    """A scenario send as the ledger's archive keeps it: what a reply is matched to."""

    tenant: str
    scenario: str
    step: str
    enrollment: str
    email: str
    message_id: str  # without <>


@dataclass(frozen=True)
class ReplyRow:
    id: int
    key: str  # where it came from (inbox file, IMAP uid): the same reply is stored once
    tenant: str
    email: str
    scenario: str
    step: str
    enrollment: str
    message_id: str  # the scenario message's
    reply_message_id: str
    source: str  # smtp | imap
    sender: str
    subject: str
    classification: str
    confidence: float
    decided_by: str  # rules | model | fallback | operator
    review: bool  # a person should look: below the threshold, or no model
    return_at: float | None  # an out-of-office's return date (start of day, UTC)
    detail: str
    excerpt: str  # the replier's own text, cut
    received_at: float
    updated: float
