"""The tables, on one MetaData. Only the store package speaks SQL; the state machine of a job
and its named values are in thsync.store.states.

The Alembic revisions in thsync/store/migrations/versions/ build these tables; a change here
needs a revision there (`flask --app server db revision -m …`), and tests/test_migrations.py
fails while the two disagree.

A web session, written down once:

    (sign-in)  --support password or customer link-->  active    expires_at = now + SESSION_HOURS
    active     --sign out-->                            ended     ended_at set; the cookie is dead
    active     --expires_at passes-->                   (dead; the row stays for the audit trail)

A customer sign-in link: created by support (used_at NULL), used once (used_at set, atomically),
or left to expire. An alert: open (e-mails grouped, at most one per REPEAT window) --cause
clears--> resolved (one "resolved" e-mail). The outbox holds each e-mail until SMTP took it.
"""

import sqlalchemy as sa

metadata = sa.MetaData()

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
    # accepted | duplicate | rejected
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("http_status", sa.Integer, nullable=False),
    sa.Column("event_type", sa.String(100)),
    sa.Column("event_id", sa.String(200)),
    sa.Column("employee_id", sa.String(100)),
    sa.Column("dedup_key", sa.String(200)),
    sa.Column("headers", sa.Text, nullable=False),
    sa.Column("body", sa.Text),
    sa.Column("body_size", sa.Integer, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("job_id", sa.Integer),
    sa.Column("duplicate_of", sa.Integer),
    sa.Index("ix_deliveries_tenant_received", "tenant_id", "received_at"),
    sa.Index("ix_deliveries_job", "job_id"),
    # Deduplication: one accepted delivery per event (duplicates are kept as "duplicate").
    sa.Index(
        "ux_deliveries_dedup",
        "tenant_id",
        "dedup_key",
        unique=True,
        sqlite_where=sa.text("status = 'accepted'"),
        postgresql_where=sa.text("status = 'accepted'"),
    ),
    # Accepted deliveries the dispatcher has not turned into jobs yet.
    sa.Index(
        "ix_deliveries_undispatched",
        "id",
        sqlite_where=sa.text("status = 'accepted' AND job_id IS NULL"),
        postgresql_where=sa.text("status = 'accepted' AND job_id IS NULL"),
    ),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("employee_id", sa.String(100), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("event_types", sa.Text, nullable=False),  # JSON list, arrival order
    sa.Column("delivery_ids", sa.Text, nullable=False),  # JSON list
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("run_after", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("lease_until", sa.Float),
    sa.Column("worker", sa.String(100)),
    sa.Column("outcome", sa.String(40)),
    sa.Column("reason", sa.Text),
    sa.Column("last_error", sa.Text),
    sa.Column("decision", sa.Text),  # JSON of the last decision
    sa.Index("ix_jobs_claim", "status", "run_after"),
    sa.Index("ix_jobs_employee", "tenant_id", "employee_id", "id"),
    sa.Index(
        "ux_jobs_one_waiting",
        "tenant_id",
        "employee_id",
        unique=True,
        sqlite_where=sa.text("status IN ('queued', 'retry')"),
        postgresql_where=sa.text("status IN ('queued', 'retry')"),
    ),
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("job_id", sa.Integer, nullable=False, index=True),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("worker", sa.String(100)),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    # running (until it ends) | succeeded | skipped | retry | rate_limited | failed | cut_off
    sa.Column("outcome", sa.String(20)),
    sa.Column("error", sa.Text),
    sa.Column("decision", sa.Text),  # JSON: action, rule, reason, extracted, payload, trace
    sa.Column("calls", sa.Text, nullable=False, default="[]"),  # JSON list of HTTP calls
)

eh_connections = sa.Table(
    "eh_connections",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("access_token", sa.Text),  # encrypted
    sa.Column("refresh_token", sa.Text),  # encrypted
    sa.Column("expires_at", sa.Float),
    sa.Column("status", sa.String(20), nullable=False),  # connected | needs_reauth
    sa.Column("reason", sa.Text),
    sa.Column("org_uuid", sa.String(64)),
    sa.Column("authorised_by", sa.Text),  # JSON from /user_info
    sa.Column("updated_at", sa.Float, nullable=False),
)

oauth_states = sa.Table(
    "oauth_states",
    metadata,
    sa.Column("state", sa.String(100), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("verifier", sa.Text, nullable=False),  # encrypted
    sa.Column("created_at", sa.Float, nullable=False),
)

rate_limits = sa.Table(
    "rate_limits",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("tat", sa.Float, nullable=False),  # GCRA theoretical arrival time
    sa.Column("blocked_until", sa.Float, nullable=False, default=0.0),
)

th_snapshots = sa.Table(
    "th_snapshots",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("employee_id", sa.String(100), primary_key=True),
    sa.Column("user_name", sa.String(200)),
    sa.Column("user", sa.Text, nullable=False),  # JSON of the TH user as last written/read
    sa.Column("job_id", sa.Integer),
    sa.Column("updated_at", sa.Float, nullable=False),
)


# -- version 2: the people lifecycle (issue 3) -----------------------------------------------
#
# A scheduled action, written down once:
#
#   pending  --due, claimed by one process (SKIP LOCKED)-->  fired      a job was queued for it
#   pending  --EH changed (start date moved)-->              pending    due_at moved
#   pending  --EH changed (termination rescinded), support--> cancelled  never deleted
#   reconcile actions: fired as a tenant-wide job, whose run plans the next

scheduled_actions = sa.Table(
    "scheduled_actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("employee_id", sa.String(100), nullable=False),  # "" for a reconciliation
    sa.Column("action", sa.String(20), nullable=False),  # create | deactivate | reconcile
    sa.Column("due_at", sa.Float, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | fired | cancelled
    sa.Column("reason", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("job_id", sa.Integer),
    sa.Index("ix_scheduled_due", "status", "due_at"),
    sa.Index(
        "ux_scheduled_one_pending",
        "tenant_id",
        "employee_id",
        "action",
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    ),
)

reconciliations = sa.Table(
    "reconciliations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("status", sa.String(16), nullable=False),  # running | done | failed
    sa.Column("dry_run", sa.Boolean, nullable=False),
    sa.Column("trigger", sa.String(20), nullable=False),  # cli | schedule
    sa.Column("summary", sa.Text),  # JSON: counts per section
    sa.Column("report", sa.Text),  # JSON: the drift report
    sa.Column("error", sa.Text),
    sa.Index("ix_reconciliations_tenant", "tenant_id", "id"),
)

# A hold: actions the safeguards stopped until support decides.
#   held --release--> released (the actions were carried out)   held --discard--> discarded
holds = sa.Table(
    "holds",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),  # mass_deactivation | identity
    sa.Column("employee_id", sa.String(100)),  # identity holds are per person
    sa.Column("status", sa.String(16), nullable=False),  # held | released | discarded
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("items", sa.Text, nullable=False),  # JSON list of the held actions
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("resolved_at", sa.Float),
    sa.Column("resolution", sa.Text),  # JSON: what release did
    sa.Index("ix_holds_tenant", "tenant_id", "status"),
)


# -- version 3: access, modes, alerts, checklist -------------------------------------------

web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),  # sha256 of the cookie's secret
    sa.Column("kind", sa.String(16), nullable=False),  # support | customer
    sa.Column("subject", sa.String(200), nullable=False),  # support user, or the link's e-mail
    sa.Column("tenant_id", sa.String(64)),  # a customer's one tenant; NULL for support
    sa.Column("link_id", sa.String(64)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float),
)

signin_links = sa.Table(
    "signin_links",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("email", sa.String(200), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("used_at", sa.Float),
    sa.Index("ix_signin_links_tenant", "tenant_id", "created_at"),
)

signin_failures = sa.Table(
    "signin_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(300), nullable=False),  # "user:<name>" and "ip:<address>"
    sa.Column("failed_at", sa.Float, nullable=False),
    sa.Index("ix_signin_failures_key", "key", "failed_at"),
)

tenant_modes = sa.Table(
    "tenant_modes",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("mode", sa.String(16), nullable=False),  # shadow | live | paused
    sa.Column("changed_by", sa.String(200), nullable=False),
    sa.Column("changed_at", sa.Float, nullable=False),
    sa.Column("shadow_since", sa.Float),  # when the tenant last entered shadow
)

checklist_marks = sa.Table(
    "checklist_marks",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("item", sa.String(40), primary_key=True),
    sa.Column("marked_by", sa.String(200), nullable=False),
    sa.Column("marked_at", sa.Float, nullable=False),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("cause", sa.String(200), nullable=False),  # e.g. job_failed:<reason>, needs_reauth
    sa.Column("status", sa.String(16), nullable=False),  # open | resolved
    sa.Column("detail", sa.Text),
    sa.Column("opened_at", sa.Float, nullable=False),
    sa.Column("last_seen_at", sa.Float, nullable=False),
    sa.Column("last_sent_at", sa.Float),
    sa.Column("unsent", sa.Integer, nullable=False),  # occurrences since the last e-mail
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("resolved_at", sa.Float),
    sa.Index(
        "ux_alerts_one_open",
        "tenant_id",
        "cause",
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    ),
)

alert_outbox = sa.Table(
    "alert_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("recipients", sa.Text, nullable=False),  # JSON list
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("next_try_at", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("sent_at", sa.Float),
    sa.Column("last_error", sa.Text),
    sa.Index("ix_alert_outbox_due", "sent_at", "next_try_at"),
)
