"""Schema version 3 (issue 4): who may see what, tenant modes, alerts and the go-live checklist.

Kept beside thsync.schema (which appends the migration) because that module is shared with the
lifecycle work; these tables live on the same MetaData, so tests and `upgrade` see one schema.

A web session, written down once:

    (sign-in)  --support password or customer link-->  active    expires_at = now + SESSION_HOURS
    active     --sign out-->                            ended     ended_at set; the cookie is dead
    active     --expires_at passes-->                   (dead; the row stays for the audit trail)

A customer sign-in link: created by support (used_at NULL), used once (used_at set, atomically),
or left to expire. An alert: open (e-mails grouped, at most one per REPEAT window) --cause
clears--> resolved (one "resolved" e-mail). The outbox holds each e-mail until SMTP took it.
"""

import sqlalchemy as sa

from thsync.store.schema import metadata

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

V3_TABLES = (
    web_sessions,
    signin_links,
    signin_failures,
    tenant_modes,
    checklist_marks,
    alerts,
    alert_outbox,
)


def create_v3(conn) -> None:
    metadata.create_all(conn, tables=list(V3_TABLES))
