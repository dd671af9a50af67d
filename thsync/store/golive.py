"""The store's SQL for go-live (issue 4): sessions, sign-in links and failures, tenant modes,
checklist marks, alerts and their outbox.

Part of the store seam (with thsync.store and thsync.schema); a module of its own because
thsync.store is at its size limit. Writes go through the Store's transactions, so SQLite writes
stay serialised.
"""

import json

import sqlalchemy as sa

from thsync.store import schema as s
from thsync.store import schema_golive as g


def _row(row) -> dict | None:
    return dict(row._mapping) if row is not None else None


class GoLiveStore:
    def __init__(self, store):
        self.store = store
        self.clock = store.clock

    def _one(self, query) -> dict | None:
        with self.store.engine.connect() as conn:
            return _row(conn.execute(query).first())

    def _all(self, query) -> list[dict]:
        with self.store.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # -- sessions ---------------------------------------------------------------------------

    def start_session(self, id_hash, *, kind, subject, tenant_id, link_id, lifetime) -> None:
        now = self.clock.now()
        values = dict(
            id_hash=id_hash,
            kind=kind,
            subject=subject,
            tenant_id=tenant_id,
            link_id=link_id,
            created_at=now,
            expires_at=now + lifetime,
        )
        with self.store.transaction() as conn:
            conn.execute(g.web_sessions.insert().values(**values))

    def live_session(self, id_hash) -> dict | None:
        t = g.web_sessions
        return self._one(
            sa.select(t).where(
                t.c.id_hash == id_hash, t.c.ended_at.is_(None), t.c.expires_at > self.clock.now()
            )
        )

    def end_session(self, id_hash) -> None:
        t = g.web_sessions
        with self.store.transaction() as conn:
            conn.execute(
                t.update()
                .where(t.c.id_hash == id_hash, t.c.ended_at.is_(None))
                .values(ended_at=self.clock.now())
            )

    # -- customer sign-in links -------------------------------------------------------------

    def create_link(self, link_id, tenant_id, email, created_by, lifetime) -> dict:
        now = self.clock.now()
        values = dict(
            id=link_id,
            tenant_id=tenant_id,
            email=email,
            created_by=created_by,
            created_at=now,
            expires_at=now + lifetime,
        )
        with self.store.transaction() as conn:
            conn.execute(g.signin_links.insert().values(**values))
        return values

    def get_link(self, link_id) -> dict | None:
        return self._one(sa.select(g.signin_links).where(g.signin_links.c.id == link_id))

    def use_link(self, link_id) -> bool:
        """Single use: only the first caller sees True, however many race for it."""
        t = g.signin_links
        now = self.clock.now()
        with self.store.transaction() as conn:
            result = conn.execute(
                t.update()
                .where(t.c.id == link_id, t.c.used_at.is_(None), t.c.expires_at > now)
                .values(used_at=now)
            )
            return result.rowcount == 1

    def list_links(self, tenant_id, limit=20) -> list[dict]:
        t = g.signin_links
        query = sa.select(t).where(t.c.tenant_id == tenant_id)
        return self._all(query.order_by(t.c.created_at.desc()).limit(limit))

    # -- failed sign-ins --------------------------------------------------------------------

    def record_failure(self, keys) -> None:
        now = self.clock.now()
        with self.store.transaction() as conn:
            for key in keys:
                conn.execute(g.signin_failures.insert().values(key=key, failed_at=now))

    def recent_failures(self, key, window) -> int:
        t = g.signin_failures
        query = sa.select(sa.func.count()).where(
            t.c.key == key, t.c.failed_at > self.clock.now() - window
        )
        with self.store.engine.connect() as conn:
            return conn.execute(query).scalar()

    # -- tenant modes -----------------------------------------------------------------------

    def get_mode(self, tenant_id) -> dict | None:
        return self._one(sa.select(g.tenant_modes).where(g.tenant_modes.c.tenant_id == tenant_id))

    def set_mode(self, tenant_id, mode, changed_by) -> None:
        t = g.tenant_modes
        now = self.clock.now()
        values = dict(mode=mode, changed_by=changed_by, changed_at=now)
        if mode == "shadow":
            values["shadow_since"] = now
        with self.store.transaction() as conn:
            if not self.store._insert_ignore(conn, t, dict(tenant_id=tenant_id, **values)):
                conn.execute(t.update().where(t.c.tenant_id == tenant_id).values(**values))

    def tenants_in_mode(self, mode) -> list[str]:
        t = g.tenant_modes
        with self.store.engine.connect() as conn:
            return list(conn.execute(sa.select(t.c.tenant_id).where(t.c.mode == mode)).scalars())

    def jobs_with_outcomes(self, tenant_id, outcomes, since=None, limit=500) -> list:
        """Jobs of the tenant that ended with one of `outcomes` (shadow's "would have" ones)."""
        j = s.jobs
        query = sa.select(j.c.id).where(j.c.tenant_id == tenant_id, j.c.outcome.in_(outcomes))
        if since is not None:
            query = query.where(j.c.created_at >= since)
        with self.store.engine.connect() as conn:
            ids = list(conn.execute(query.order_by(j.c.id.desc()).limit(limit)).scalars())
        return [self.store.get_job(job_id) for job_id in ids]

    def deliveries_today(self, tenant_id, since) -> int:
        d = s.deliveries
        query = sa.select(sa.func.count()).where(
            d.c.tenant_id == tenant_id, d.c.received_at >= since
        )
        with self.store.engine.connect() as conn:
            return conn.execute(query).scalar()

    # -- go-live checklist ------------------------------------------------------------------

    def checklist_marks(self, tenant_id) -> dict[str, dict]:
        t = g.checklist_marks
        rows = self._all(sa.select(t).where(t.c.tenant_id == tenant_id))
        return {row["item"]: row for row in rows}

    def mark_item(self, tenant_id, item, marked_by, not_applicable: bool) -> None:
        t = g.checklist_marks
        with self.store.transaction() as conn:
            conn.execute(t.delete().where(t.c.tenant_id == tenant_id, t.c.item == item))
            if not_applicable:
                conn.execute(
                    t.insert().values(
                        tenant_id=tenant_id,
                        item=item,
                        marked_by=marked_by,
                        marked_at=self.clock.now(),
                    )
                )

    def succeeded_jobs(self, tenant_id, limit=500) -> list:
        j = s.jobs
        query = (
            sa.select(j.c.id)
            .where(j.c.tenant_id == tenant_id, j.c.status.in_(("succeeded", "skipped")))
            .order_by(j.c.id)
            .limit(limit)
        )
        with self.store.engine.connect() as conn:
            ids = list(conn.execute(query).scalars())
        return [self.store.get_job(job_id) for job_id in ids]

    def succeeded_since(self, tenant_id, since) -> bool:
        """Has a sync of the tenant succeeded after `since` (a failure cause clearing)?"""
        j = s.jobs
        query = sa.select(j.c.id).where(
            j.c.tenant_id == tenant_id, j.c.status == "succeeded", j.c.updated_at > since
        )
        with self.store.engine.connect() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def snapshots(self, tenant_id, limit=1000) -> list[dict]:
        t = s.th_snapshots
        return self._all(sa.select(t).where(t.c.tenant_id == tenant_id).limit(limit))

    # -- alerts -----------------------------------------------------------------------------

    def open_alert(self, tenant_id, cause) -> dict | None:
        t = g.alerts
        return self._one(
            sa.select(t).where(t.c.tenant_id == tenant_id, t.c.cause == cause, t.c.status == "open")
        )

    def open_alerts(self, tenant_id, prefix="") -> list[dict]:
        t = g.alerts
        query = sa.select(t).where(t.c.tenant_id == tenant_id, t.c.status == "open")
        if prefix:
            query = query.where(t.c.cause.startswith(prefix))
        return self._all(query)

    def count_alert(self, tenant_id, cause, detail) -> dict:
        """One more occurrence of a cause: the open alert's counters go up (or one opens)."""
        t = g.alerts
        now = self.clock.now()
        with self.store.transaction() as conn:
            query = sa.select(t).where(
                t.c.tenant_id == tenant_id, t.c.cause == cause, t.c.status == "open"
            )
            row = conn.execute(query.with_for_update()).first()
            if row is None:
                values = dict(
                    tenant_id=tenant_id,
                    cause=cause,
                    status="open",
                    detail=detail,
                    opened_at=now,
                    last_seen_at=now,
                    unsent=1,
                    total=1,
                )
                alert_id = conn.execute(t.insert().values(**values)).inserted_primary_key[0]
                return {"id": alert_id, **values, "last_sent_at": None}
            update = dict(
                unsent=row.unsent + 1, total=row.total + 1, detail=detail, last_seen_at=now
            )
            conn.execute(t.update().where(t.c.id == row.id).values(**update))
            return {**dict(row._mapping), **update}

    def alert_sent(self, alert_id) -> None:
        t = g.alerts
        with self.store.transaction() as conn:
            conn.execute(
                t.update().where(t.c.id == alert_id).values(unsent=0, last_sent_at=self.clock.now())
            )

    def resolve_alert(self, alert_id) -> None:
        t = g.alerts
        with self.store.transaction() as conn:
            conn.execute(
                t.update()
                .where(t.c.id == alert_id)
                .values(status="resolved", resolved_at=self.clock.now())
            )

    def claim_repeat(self, alert_id, before) -> bool:
        """Take the grouped e-mail of an alert; only one process sees True."""
        t = g.alerts
        with self.store.transaction() as conn:
            result = conn.execute(
                t.update()
                .where(t.c.id == alert_id, t.c.unsent > 0, t.c.last_sent_at < before)
                .values(last_sent_at=self.clock.now())
            )
            return result.rowcount == 1

    def due_grouped_alerts(self, before) -> list[dict]:
        """Open alerts with repeats not yet told, whose last e-mail is older than `before`."""
        t = g.alerts
        return self._all(
            sa.select(t).where(t.c.status == "open", t.c.unsent > 0, t.c.last_sent_at < before)
        )

    # -- the outbox -------------------------------------------------------------------------

    def queue_mail(self, tenant_id, subject, body, recipients) -> int:
        now = self.clock.now()
        values = dict(
            tenant_id=tenant_id,
            subject=subject,
            body=body,
            recipients=json.dumps(recipients),
            created_at=now,
            next_try_at=now,
            attempts=0,
        )
        with self.store.transaction() as conn:
            return conn.execute(g.alert_outbox.insert().values(**values)).inserted_primary_key[0]

    def claim_mail(self, lease: float, limit=20) -> list[dict]:
        """E-mails due, each taken by one process: its next try moves `lease` seconds on, so
        workers in other processes skip it while this one sends."""
        t = g.alert_outbox
        now = self.clock.now()
        query = (
            sa.select(t)
            .where(t.c.sent_at.is_(None), t.c.next_try_at <= now)
            .order_by(t.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self.store.transaction() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
            ids = [row["id"] for row in rows]
            if ids:
                conn.execute(t.update().where(t.c.id.in_(ids)).values(next_try_at=now + lease))
        for row in rows:
            row["recipients"] = json.loads(row["recipients"])
        return rows

    def mail_done(self, mail_id, *, error=None, retry_in=0.0) -> None:
        t = g.alert_outbox
        now = self.clock.now()
        values = dict(attempts=t.c.attempts + 1, last_error=error)
        if error is None:
            values["sent_at"] = now
        else:
            values["next_try_at"] = now + retry_in
        with self.store.transaction() as conn:
            conn.execute(t.update().where(t.c.id == mail_id).values(**values))

    def list_mail(self, tenant_id=None) -> list[dict]:
        t = g.alert_outbox
        query = sa.select(t).order_by(t.c.id)
        if tenant_id is not None:
            query = query.where(t.c.tenant_id == tenant_id)
        return self._all(query)
