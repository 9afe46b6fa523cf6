"""The classes a reply gets, and what each one means for its sequence. Pure."""

from __future__ import annotations

INTERESTED = "interested"
MEETING_REQUEST = "meeting_request"
INFORMATION_REQUEST = "information_request"
WRONG_PERSON = "wrong_person"
NOT_INTERESTED = "not_interested"
UNSUBSCRIBE_REQUEST = "unsubscribe_request"
OUT_OF_OFFICE = "out_of_office"
OTHER = "other"
AUTO_REPLY = "auto_reply"  # rules only: an automatic answer that is not an absence

# What the model may answer, in the order its prompt lists them.
MODEL_CLASSES = (
    INTERESTED,
    MEETING_REQUEST,
    INFORMATION_REQUEST,
    WRONG_PERSON,
    NOT_INTERESTED,
    UNSUBSCRIBE_REQUEST,
    OUT_OF_OFFICE,
    OTHER,
)
CLASSES = (*MODEL_CLASSES, AUTO_REPLY)
# A person wrote these: the stop rule ``reply`` ends the sequence.
NOT_HUMAN = (OUT_OF_OFFICE, AUTO_REPLY)
# Someone should act now: an alert and a webhook event.
HOT = (INTERESTED, MEETING_REQUEST)


def human(classification: str) -> bool:
    return classification not in NOT_HUMAN
