"""The tables, written once in the SQL both backends understand."""

from policy.events import FIELDS

# The columns are the Event's fields, in order, so Event.as_row() fills them.
EVENT_COLUMNS = FIELDS

# (version, statement); id columns differ and are filled in per backend.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """CREATE TABLE events (
            id {id_column},
            kind TEXT NOT NULL, tenant TEXT NOT NULL, client TEXT NOT NULL,
            mail_from TEXT NOT NULL, recipients TEXT NOT NULL, message_id TEXT NOT NULL,
            ip TEXT NOT NULL, vmta TEXT NOT NULL, job TEXT NOT NULL, size BIGINT NOT NULL,
            reply TEXT NOT NULL, downstream_reply TEXT NOT NULL, ms DOUBLE PRECISION NOT NULL,
            at DOUBLE PRECISION NOT NULL)""",
    ),
    (2, "CREATE INDEX events_tenant_at ON events (tenant, at)"),
    (3, "ALTER TABLE events ADD COLUMN provider TEXT NOT NULL DEFAULT ''"),
    (4, "ALTER TABLE events ADD COLUMN dry_run BOOLEAN NOT NULL DEFAULT FALSE"),
    # The warmup clock counts an IP's day: relayed, bounced and complained.
    (5, "CREATE INDEX events_ip_at ON events (ip, at)"),
)
