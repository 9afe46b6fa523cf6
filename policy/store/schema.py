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
    # Suppression: one row per (tenant, address), "" the global list. A removal
    # keeps the row as a tombstone; seq orders every write so each process's
    # mirror follows with "WHERE seq > last".
    (
        6,
        """CREATE TABLE suppression (
            tenant TEXT NOT NULL, address TEXT NOT NULL, reason TEXT NOT NULL,
            source TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION, removed BOOLEAN NOT NULL DEFAULT FALSE,
            seq BIGINT NOT NULL, PRIMARY KEY (tenant, address))""",
    ),
    (7, "CREATE INDEX suppression_seq ON suppression (seq)"),
    (
        8,
        """CREATE TABLE switches (
            kind TEXT NOT NULL, target TEXT NOT NULL, reason TEXT NOT NULL,
            actor TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, PRIMARY KEY (kind, target))""",
    ),
    # An IP's runtime state; the configuration only declares it.
    (
        9,
        """CREATE TABLE ip_state (
            ip TEXT PRIMARY KEY, state TEXT NOT NULL, previous TEXT,
            day INTEGER NOT NULL, as_of TEXT NOT NULL, updated_at DOUBLE PRECISION NOT NULL);
        CREATE TABLE ip_transitions (
            id {id_column}, ip TEXT NOT NULL, from_state TEXT NOT NULL, to_state TEXT NOT NULL,
            from_day INTEGER NOT NULL, to_day INTEGER NOT NULL, reason TEXT NOT NULL,
            actor TEXT NOT NULL, at DOUBLE PRECISION NOT NULL);
        CREATE INDEX ip_transitions_ip ON ip_transitions (ip, at)""",
    ),
    # Opens, clicks and unsubscribes (policy.engagement), raw and classified.
    (
        10,
        """CREATE TABLE engagement (
            id {id_column}, kind TEXT NOT NULL, tenant TEXT NOT NULL, job TEXT NOT NULL,
            message_id TEXT NOT NULL, recipient TEXT NOT NULL, link_index INTEGER NOT NULL,
            url TEXT NOT NULL, ip TEXT NOT NULL, user_agent TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL, sent_at DOUBLE PRECISION NOT NULL,
            classification TEXT NOT NULL, reason TEXT NOT NULL, first_open BOOLEAN NOT NULL);
        CREATE INDEX engagement_tenant_at ON engagement (tenant, at);
        CREATE INDEX engagement_job ON engagement (tenant, job, kind)""",
    ),
    # The first open of a message by a recipient, per classification: the key decides.
    (
        11,
        """CREATE TABLE first_opens (
            tenant TEXT NOT NULL, message_id TEXT NOT NULL, recipient TEXT NOT NULL,
            classification TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (tenant, message_id, recipient, classification))""",
    ),
    # Soft bounces counted per recipient; the key makes a re-read count once.
    (
        20,
        """CREATE TABLE soft_bounces (
            key TEXT PRIMARY KEY, tenant TEXT NOT NULL, address TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL);
        CREATE INDEX soft_bounces_address ON soft_bounces (tenant, address, at)""",
    ),
    # How far each PowerMTA accounting file was read: a file is known by its
    # device and inode, and its first bytes tell a reused inode from the same file.
    (
        21,
        """CREATE TABLE accounting_files (
            file_key TEXT PRIMARY KEY, path TEXT NOT NULL, fingerprint TEXT NOT NULL,
            read_to BIGINT NOT NULL, updated_at DOUBLE PRECISION NOT NULL)""",
    ),
    # The health rates read every IP's recent feedback and relays by time.
    (22, "CREATE INDEX events_at ON events (at)"),
    # Notifications to MailWizz and webhooks wait here until their receiver said 2xx.
    (
        23,
        """CREATE TABLE notifications (
            id {id_column}, target TEXT NOT NULL, payload TEXT NOT NULL,
            attempts INTEGER NOT NULL, next_at DOUBLE PRECISION NOT NULL,
            created_at DOUBLE PRECISION NOT NULL, last_error TEXT NOT NULL);
        CREATE INDEX notifications_due ON notifications (next_at)""",
    ),
    # Every mutating admin call (policy.audit): who, what, before, after, when.
    (
        30,
        """CREATE TABLE audit_log (
            id {id_column}, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL,
            before TEXT NOT NULL, after TEXT NOT NULL, at DOUBLE PRECISION NOT NULL);
        CREATE INDEX audit_log_at ON audit_log (at)""",
    ),
    # The admin event list pages newest first by id; a campaign's events would
    # otherwise be found by walking the whole table backwards.
    (31, "CREATE INDEX events_job_id ON events (job, id)"),
    # The feedback whose events were written, by key (file and offset, inbox item,
    # webhook record hash): a re-read after a crash records nothing twice.
    (
        32,
        """CREATE TABLE feedback_applied (key TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL);
        CREATE INDEX feedback_applied_at ON feedback_applied (at)""",
    ),
    # Health holds and throttles (policy.quota.measures), each until its own time.
    (
        33,
        """CREATE TABLE ip_measures (
            ip TEXT NOT NULL, provider TEXT NOT NULL, kind TEXT NOT NULL,
            hourly INTEGER NOT NULL, reason TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
            until DOUBLE PRECISION NOT NULL, PRIMARY KEY (ip, provider, kind))""",
    ),
    # How a feedback event was read: the bounce rule, its evidence and its
    # confidence, as JSON (policy.bounces.decide), so a suppression can be explained.
    (34, "ALTER TABLE events ADD COLUMN detail TEXT NOT NULL DEFAULT ''"),
    # Which transaction an event belongs to (its log lines' tx=), and for a
    # recipient refused before DATA the step that refused it.
    (
        35,
        """ALTER TABLE events ADD COLUMN tx TEXT NOT NULL DEFAULT '';
        ALTER TABLE events ADD COLUMN step TEXT NOT NULL DEFAULT ''""",
    ),
    # DNS blocklist standings (policy.reputation.confirm), one per target and list,
    # and the history of what they confirmed or found wrong.
    (
        36,
        """CREATE TABLE reputation (
            target TEXT NOT NULL, zone TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
            answer TEXT NOT NULL, listed BOOLEAN NOT NULL, streak INTEGER NOT NULL,
            first_seen DOUBLE PRECISION NOT NULL, last_seen DOUBLE PRECISION NOT NULL,
            checked_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (target, zone));
        CREATE TABLE reputation_history (
            id {id_column}, target TEXT NOT NULL, zone TEXT NOT NULL, event TEXT NOT NULL,
            answer TEXT NOT NULL, at DOUBLE PRECISION NOT NULL);
        CREATE INDEX reputation_history_at ON reputation_history (at)""",
    ),
    # Scenarios (issue 15): a sending row is resolved after a crash by its Message-ID
    # in the relay's events, and a branch decided from the engagement of one message.
    (37, "CREATE INDEX events_message_id ON events (message_id)"),
    (38, "CREATE INDEX engagement_message ON engagement (tenant, message_id, recipient)"),
    # A scenario's current version and status; every version kept for its enrollments.
    # Enrollments: one per contact and scenario run. The operation ledger: one row
    # per planned send or decision, unique by idempotency key; executed rows move to
    # the archive (which keeps the key: nothing archived is planned again).
    (
        39,
        """CREATE TABLE scenarios (
            tenant TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
            status TEXT NOT NULL, definition TEXT NOT NULL, start_at DOUBLE PRECISION,
            queue_behind TEXT, created DOUBLE PRECISION NOT NULL,
            updated DOUBLE PRECISION NOT NULL, winners TEXT NOT NULL,
            PRIMARY KEY (tenant, name));
        CREATE TABLE scenario_versions (
            tenant TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
            definition TEXT NOT NULL, created DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (tenant, name, version));
        CREATE TABLE enrollments (
            id TEXT PRIMARY KEY, tenant TEXT NOT NULL, scenario TEXT NOT NULL,
            version INTEGER NOT NULL, email TEXT NOT NULL, status TEXT NOT NULL,
            step TEXT NOT NULL, sent_at DOUBLE PRECISION NOT NULL, message_id TEXT NOT NULL,
            variants TEXT NOT NULL, reason TEXT NOT NULL, created DOUBLE PRECISION NOT NULL,
            updated DOUBLE PRECISION NOT NULL);
        CREATE INDEX enrollments_scenario ON enrollments (tenant, scenario, status);
        CREATE INDEX enrollments_email ON enrollments (tenant, email);
        CREATE TABLE scenario_ops (
            id {id_column}, key TEXT NOT NULL UNIQUE, tenant TEXT NOT NULL,
            scenario TEXT NOT NULL, version INTEGER NOT NULL, enrollment TEXT NOT NULL,
            email TEXT NOT NULL, step TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
            due DOUBLE PRECISION NOT NULL, attempts INTEGER NOT NULL,
            lease_until DOUBLE PRECISION NOT NULL, claimed_by TEXT NOT NULL,
            message_id TEXT NOT NULL, variant INTEGER NOT NULL, reason TEXT NOT NULL,
            created DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL,
            remaining DOUBLE PRECISION);
        CREATE INDEX scenario_ops_due ON scenario_ops (status, due);
        CREATE INDEX scenario_ops_enrollment ON scenario_ops (enrollment);
        CREATE INDEX scenario_ops_scenario ON scenario_ops (tenant, scenario, status);
        CREATE TABLE scenario_ops_archive (
            id BIGINT NOT NULL, key TEXT NOT NULL UNIQUE, tenant TEXT NOT NULL,
            scenario TEXT NOT NULL, version INTEGER NOT NULL, enrollment TEXT NOT NULL,
            email TEXT NOT NULL, step TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
            due DOUBLE PRECISION NOT NULL, attempts INTEGER NOT NULL,
            lease_until DOUBLE PRECISION NOT NULL, claimed_by TEXT NOT NULL,
            message_id TEXT NOT NULL, variant INTEGER NOT NULL, reason TEXT NOT NULL,
            created DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL);
        CREATE INDEX scenario_ops_archive_email ON scenario_ops_archive (tenant, email, updated);
        CREATE INDEX scenario_ops_archive_scenario
            ON scenario_ops_archive (tenant, scenario, updated);
        CREATE TABLE contact_events (
            id {id_column}, tenant TEXT NOT NULL, email TEXT NOT NULL, kind TEXT NOT NULL,
            detail TEXT NOT NULL, at DOUBLE PRECISION NOT NULL);
        CREATE INDEX contact_events_email ON contact_events (tenant, email, at)""",
    ),
    # A tenant's contacts (tags between commas: one LIKE finds a tag) and templates,
    # one row per language and category of a name.
    (
        40,
        """CREATE TABLE contacts (
            tenant TEXT NOT NULL, email TEXT NOT NULL, first_name TEXT NOT NULL,
            last_name TEXT NOT NULL, language TEXT NOT NULL, country TEXT NOT NULL,
            category TEXT NOT NULL, tier INTEGER, score DOUBLE PRECISION,
            validation_score DOUBLE PRECISION, deliverable BOOLEAN, timezone TEXT NOT NULL,
            custom TEXT NOT NULL, tags TEXT NOT NULL, status TEXT NOT NULL,
            source TEXT NOT NULL, created DOUBLE PRECISION NOT NULL,
            updated DOUBLE PRECISION NOT NULL, PRIMARY KEY (tenant, email));
        CREATE TABLE templates (
            tenant TEXT NOT NULL, name TEXT NOT NULL, language TEXT NOT NULL,
            category TEXT NOT NULL, subject TEXT NOT NULL, html TEXT NOT NULL,
            text TEXT NOT NULL, updated DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (tenant, name, language, category))""",
    ),
    # What Microsoft SNDS and Gmail Postmaster Tools last said about each IP or
    # domain (policy.reputation.provider_feedback), replaced by each fetch.
    (
        41,
        """CREATE TABLE provider_feedback (
            source TEXT NOT NULL, target TEXT NOT NULL, day TEXT NOT NULL, status TEXT NOT NULL,
            detail TEXT NOT NULL, fetched_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (source, target))""",
    ),
    # 42 is taken by the DNS authentication branch.
    # AI-written first lines (scheduler/personalization.py): the lines that passed
    # their checks, by the sha256 of their inputs, so the same inputs are never paid
    # for twice; and the tokens each tenant's answers used per UTC day (its budget).
    (
        43,
        """CREATE TABLE ai_first_lines (
            tenant TEXT NOT NULL, key TEXT NOT NULL, text TEXT NOT NULL, model TEXT NOT NULL,
            tokens BIGINT NOT NULL, created DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (tenant, key));
        CREATE TABLE ai_token_usage (
            tenant TEXT NOT NULL, day TEXT NOT NULL, tokens BIGINT NOT NULL,
            PRIMARY KEY (tenant, day))""",
    ),
    # Prospects posted to POST /api/prospects/<tenant> (policy.enrollment.prospects), one per
    # (tenant, email) beside its contact, with where auto-enrollment has it; and the
    # enrollment settings changed at runtime (JSON of the fields changed), which win
    # over the configuration's.
    (
        44,
        """CREATE TABLE prospects (
            tenant TEXT NOT NULL, email TEXT NOT NULL, site TEXT NOT NULL, source TEXT NOT NULL,
            fingerprint TEXT NOT NULL, mx TEXT NOT NULL, role BOOLEAN NOT NULL,
            disposable BOOLEAN NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL,
            scenario TEXT NOT NULL, attempts INTEGER NOT NULL, created DOUBLE PRECISION NOT NULL,
            updated DOUBLE PRECISION NOT NULL, decided DOUBLE PRECISION,
            PRIMARY KEY (tenant, email));
        CREATE INDEX prospects_status ON prospects (tenant, status, created, email);
        CREATE INDEX prospects_decided ON prospects (tenant, status, decided);
        CREATE TABLE enrollment_settings (
            tenant TEXT PRIMARY KEY, settings TEXT NOT NULL, actor TEXT NOT NULL,
            updated DOUBLE PRECISION NOT NULL)""",
    ),
    # Replies to scenario mail (scheduler/replies.py): one row per reply with its class
    # and its original bytes (kept: the inbox's copy is pruned); the archive's sends
    # found by the 32-hex digest their Message-ID starts with (a reply token's id).
    (
        45,
        """CREATE TABLE replies (
            id {id_column}, key TEXT NOT NULL UNIQUE, tenant TEXT NOT NULL,
            email TEXT NOT NULL, scenario TEXT NOT NULL, step TEXT NOT NULL,
            enrollment TEXT NOT NULL, message_id TEXT NOT NULL,
            reply_message_id TEXT NOT NULL, source TEXT NOT NULL, sender TEXT NOT NULL,
            subject TEXT NOT NULL, classification TEXT NOT NULL,
            confidence DOUBLE PRECISION NOT NULL, decided_by TEXT NOT NULL,
            review BOOLEAN NOT NULL, return_at DOUBLE PRECISION, detail TEXT NOT NULL,
            excerpt TEXT NOT NULL, received_at DOUBLE PRECISION NOT NULL,
            updated DOUBLE PRECISION NOT NULL, raw BYTEA NOT NULL);
        CREATE INDEX replies_tenant ON replies (tenant, id);
        CREATE INDEX replies_scenario ON replies (tenant, scenario, step);
        CREATE INDEX scenario_ops_archive_digest
            ON scenario_ops_archive (tenant, (substr(message_id, 1, 32)))""",
    ),
    # IP rotation: the re-warm schedule an IP the rotation retired warms on, and each
    # pool's next retirement.
    (
        46,
        """ALTER TABLE ip_state ADD COLUMN schedule TEXT NOT NULL DEFAULT '';
        CREATE TABLE ip_rotation (
            pool TEXT PRIMARY KEY, next_at DOUBLE PRECISION NOT NULL, note TEXT NOT NULL,
            updated DOUBLE PRECISION NOT NULL)""",
    ),
    # The stop rules read a contact's unsubscribe clicks before each of its sends: by
    # recipient, not by scanning the tenant's engagement since the enrollment.
    (47, "CREATE INDEX engagement_recipient ON engagement (tenant, recipient, kind, at)"),
    # Cancelled operations are archived when cancelled now; the ones left in the hot
    # table by earlier versions follow them.
    (
        48,
        """INSERT INTO scenario_ops_archive (id, key, tenant, scenario, version, enrollment,
            email, step, kind, status, due, attempts, lease_until, claimed_by, message_id,
            variant, reason, created, updated)
        SELECT id, key, tenant, scenario, version, enrollment, email, step, kind, status, due,
            attempts, lease_until, claimed_by, message_id, variant, reason, created, updated
        FROM scenario_ops WHERE status = 'cancelled' ON CONFLICT (key) DO NOTHING;
        DELETE FROM scenario_ops WHERE status = 'cancelled'""",
    ),
    # The ledger's indexes leave out the status: moving a claimed operation to
    # ``sending`` then writes no index entry (PostgreSQL keeps it a heap-only update).
    # A claim walks the operations nobody holds and no pause froze by due time; the
    # reaper and the orphan search, the held ones by lease.
    (
        49,
        """DROP INDEX scenario_ops_due;
        DROP INDEX scenario_ops_scenario;
        CREATE INDEX scenario_ops_claimable ON scenario_ops (due)
            WHERE claimed_by = '' AND remaining IS NULL;
        CREATE INDEX scenario_ops_leased ON scenario_ops (lease_until) WHERE claimed_by <> '';
        CREATE INDEX scenario_ops_scenario ON scenario_ops (tenant, scenario)""",
    ),
)

# Run on PostgreSQL only, after the migration of the same version.
POSTGRES_ONLY: dict[int, str] = {
    # Half of each page left free: the ``sending`` mark's new row version fits beside
    # the old one, so it stays a heap-only update (no index entry, no page to find).
    49: "ALTER TABLE scenario_ops SET (fillfactor = 50)",
}
