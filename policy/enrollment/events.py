"""What auto-enrollment records, as relay events (``GET /api/events``) and contact events.

The issue names them ENROLLED, ENROLLMENT_BLOCKED, ENROLLMENT_DRY_RUN and
enrollment_failed; stored in lower case like every other event kind.
"""

from __future__ import annotations

ENROLLED = "enrolled"  # enrolled in a scenario (detail: its score)
ENROLLMENT_BLOCKED = "enrollment_blocked"  # a rule failed (detail: "rule: reason")
ENROLLMENT_DRY_RUN = "enrollment_dry_run"  # would have been enrolled: nothing sent
ENROLLMENT_FAILED = "enrollment_failed"  # the enrollment itself failed; tried again
EVENT_KINDS = (ENROLLED, ENROLLMENT_BLOCKED, ENROLLMENT_DRY_RUN, ENROLLMENT_FAILED)
CLIENT = "enrollment"  # the events' client field
MAX_ATTEMPTS = 3  # failed tries before a prospect is left as failed
