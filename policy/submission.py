"""One message handed to the pipeline in-process, and what the pipeline answered.

The scenario engine (``scheduler/scenarios/``) sends through the same steps
as MailWizz's mail without an SMTP loopback: the daemon builds a ``Submit``
callable from the pipeline (``gateway/submit.py``) and hands it down, so the
scheduler never imports the gateway.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Submission:
    tenant: str
    sender: str  # envelope MAIL FROM (an address of a sender domain of the tenant)
    recipient: str
    message: bytes  # full RFC 5322 message, CRLF, with its own Message-ID
    message_id: str  # the Message-ID's value without <>
    job: str = ""  # campaign/job label (X-Job) e.g. "scenario:<name>"


@dataclass(frozen=True)
class Outcome:
    code: int  # the SMTP reply the pipeline gave (250, 451, 550 ...)
    enhanced: str  # "2.0.0", "4.7.1" ...
    text: str
    outcome: str  # relayed | deferred | rejected | possible_duplicate | spooled

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500

    def __str__(self) -> str:
        return f"{self.code} {self.enhanced} {self.text}"


Submit = Callable[[Submission], Awaitable[Outcome]]
