"""The database schema and its migrations. Only thsync.store and this module speak SQL.

A delivery is stored by the intake in one INSERT (the 2xx waits for it and nothing else).
The dispatcher (the first step of every worker loop) turns accepted deliveries into jobs.

The job state machine, written down once:

    queued   --claim-->          running   a worker holds a lease (lease_until) on it
    retry    --claim-->          running   same, once run_after has passed
    running  --succeeded-->      succeeded TH in step (created/updated/unchanged/deactivated)
    running  --skipped-->        skipped   a rule said skip, or there was nothing to do
    running  --transient error-> retry     run_after = now + backoff; attempts counted
    running  --rate limited-->   retry     run_after = end of the pause; no attempt spent
    running  --permanent error-> failed    reason kept; never deleted
    running  --attempts spent--> failed    "gave up after N attempts: …"
    running  --lease expired-->  (claimable again: a crashed worker's job is picked up)
    failed   --retry command-->  queued    support asked to try again
    queued/retry absorb new deliveries for the same employee (coalescing): at most one
    waiting job per employee, enforced by a partial unique index.

Jobs of one employee run in id order and never concurrently: a job is claimable only when no
earlier job of the same employee is still queued, waiting to retry or running.
"""

import time

import sqlalchemy as sa

metadata = sa.MetaData()

WAITING = ("queued", "retry")
UNFINISHED = ("queued", "retry", "running")
FINISHED = ("succeeded", "skipped", "failed")

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.Float, nullable=False),
)

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
    # succeeded | skipped | retry | rate_limited | failed
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

V1_TABLES = (
    deliveries,
    jobs,
    attempts,
    eh_connections,
    oauth_states,
    rate_limits,
    th_snapshots,
)


def _create_v1(conn) -> None:
    metadata.create_all(conn, tables=list(V1_TABLES))


# -- version 2: the people lifecycle (issue 3) -----------------------------------------------
#
# A scheduled action, written down once:
#
#   pending  --due, claimed by one process (SKIP LOCKED)-->  fired      a job was queued for it
#   pending  --EH changed (start date moved)-->              pending    due_at moved
#   pending  --EH changed (termination rescinded), support--> cancelled  never deleted
#   reconcile actions: fired by the worker, which runs the reconciliation and plans the next

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

V2_TABLES = (scheduled_actions, reconciliations, holds)


def _create_v2(conn) -> None:
    metadata.create_all(conn, tables=list(V2_TABLES))


# Append-only: (version, step). A step receives a connection inside the migration transaction.
MIGRATIONS = ((1, _create_v1), (2, _create_v2))


def upgrade(conn) -> list[int]:
    """Bring the schema up to date; returns the versions applied. Safe to run concurrently."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(74061)"))
    metadata.create_all(conn, tables=[schema_version])
    done = set(conn.execute(sa.select(schema_version.c.version)).scalars())
    applied = []
    for version, step in MIGRATIONS:
        if version in done:
            continue
        step(conn)
        conn.execute(schema_version.insert().values(version=version, applied_at=time.time()))
        applied.append(version)
    return applied


def latest_version() -> int:
    return MIGRATIONS[-1][0]


# -- version 3: access, modes, alerts, checklist (issue 4); the tables are in schema_golive ---
from thsync.store import schema_golive  # noqa: E402 - it builds on this module's metadata

MIGRATIONS = (*MIGRATIONS, (3, schema_golive.create_v3))
