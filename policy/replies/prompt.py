"""What the model is asked about a reply, and how its JSON answer is read. Pure.

The model sees only the replier's own text (quotes and signature stripped,
cut to ``max_chars``) and the subject; it answers one JSON object. An answer
that is not that object, names a class it was not offered, or gives a
confidence outside 0..1 is no answer: the reply falls back to ``other`` for
review, as when the API is down.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from policy.replies import classes

SYSTEM = (
    "You classify replies to a business email sequence. Answer with one JSON object only, "
    'no prose: {"class": <one of: ' + ", ".join(classes.MODEL_CLASSES) + ">, "
    '"confidence": <a number from 0 to 1>, "reason": <at most ten words>}. '
    "interested: wants to go on or buy; meeting_request: asks for or accepts a call or a "
    "meeting; information_request: asks a question or for details; wrong_person: not the "
    "right contact, or names someone else; not_interested: declines; unsubscribe_request: "
    "asks to stop receiving email; out_of_office: an absence notice; other: anything else. "
    "The reply may be in any language."
)
_OBJECT = re.compile(r"\{.*\}", re.S)


@dataclass(frozen=True)
class ModelVerdict:
    classification: str
    confidence: float
    reason: str


def user_text(subject: str, own_text: str, max_chars: int) -> str:
    body = own_text[:max_chars] if own_text else "(empty)"
    return f"Subject: {subject[:300]}\n\nReply:\n{body}"


def read_answer(text: str) -> ModelVerdict | None:
    """The model's verdict, or None when its answer is not what was asked."""
    found = _OBJECT.search(text)  # a model may wrap the object in a code fence
    if found is None:
        return None
    try:
        data = json.loads(found.group(0))
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    label, confidence = data.get("class"), data.get("confidence")
    if label not in classes.MODEL_CLASSES:
        return None
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        return None
    if not 0 <= confidence <= 1:
        return None
    reason = data.get("reason")
    return ModelVerdict(label, float(confidence), str(reason)[:200] if reason else "")
