"""The store's SQL for the people lifecycle: scheduled actions, reconciliations and holds.

Part of the store seam (with thsync.store and thsync.schema, the only modules that speak SQL);
a module of its own because thsync.store is already at its size limit. It works through the
Store's transactions, so SQLite writes stay serialised and PostgreSQL claims use SKIP LOCKED.
"""

import json

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from thsync.store import schema as s

SCHEDULED_EVENT = {"create": "start_date_reached", "deactivate": "last_day_ended"}


def _loads(text, default=None):
    return json.loads(text) if text else default


def _dumps(value) -> str:
    return json.dumps(value, default=str)


class LifecycleStore:
    def __init__(self, store):
        self.store = store
        self.clock = store.clock

    # -- scheduled actions -------------------------------------------------------------------

    def schedule(self, tenant_id, employee_id, action, due_at, reason) -> int:
        """Plan an action, or move the pending one of the same kind to the new time."""
        now = self.clock.now()
        with self.store.transaction() as conn:
            row = self._pending(conn, tenant_id, employee_id, action)
            if row is not None:
                if row.due_at != due_at or row.reason != reason:
                    conn.execute(
                        s.scheduled_actions.update()
                        .where(s.scheduled_actions.c.id == row.id)
                        .values(due_at=due_at, reason=reason, updated_at=now)
                    )
                return row.id
            values = dict(
                tenant_id=tenant_id,
                employee_id=employee_id,
                action=action,
                due_at=due_at,
                status="pending",
                reason=reason,
                created_at=now,
                updated_at=now,
            )
            try:
                with conn.begin_nested():
                    result = conn.execute(s.scheduled_actions.insert().values(**values))
                    return result.inserted_primary_key[0]
            except IntegrityError:  # another process planned it at the same moment
                return self._pending(conn, tenant_id, employee_id, action).id

    def _pending(self, conn, tenant_id, employee_id, action):
        t = s.scheduled_actions
        query = sa.select(t).where(
            t.c.tenant_id == tenant_id,
            t.c.employee_id == employee_id,
            t.c.action == action,
            t.c.status == "pending",
        )
        return conn.execute(query.with_for_update()).first()

    def pending_action(self, tenant_id, employee_id, action) -> dict | None:
        with self.store.transaction() as conn:
            row = self._pending(conn, tenant_id, employee_id, action)
        return dict(row._mapping) if row else None

    def cancel(self, *, action_id=None, tenant_id=None, employee_id=None, action=None, reason=""):
        """Cancel pending actions (one by id, or a person's of one kind); returns the ids."""
        t = s.scheduled_actions
        query = sa.select(t.c.id).where(t.c.status == "pending")
        for column, value in (
            (t.c.id, action_id),
            (t.c.tenant_id, tenant_id),
            (t.c.employee_id, employee_id),
            (t.c.action, action),
        ):
            if value is not None:
                query = query.where(column == value)
        with self.store.transaction() as conn:
            ids = list(conn.execute(query.with_for_update()).scalars())
            if ids:
                conn.execute(
                    t.update()
                    .where(t.c.id.in_(ids))
                    .values(status="cancelled", reason=reason, updated_at=self.clock.now())
                )
        return ids

    def list_actions(self, tenant_id=None, status="pending", limit=500) -> list[dict]:
        t = s.scheduled_actions
        query = sa.select(t).order_by(t.c.due_at, t.c.id).limit(limit)
        if tenant_id is not None:
            query = query.where(t.c.tenant_id == tenant_id)
        if status is not None:
            query = query.where(t.c.status == status)
        with self.store.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def fire_due(self, limit: int = 100) -> list[dict]:
        """Claim due actions, each exactly once across processes. A create or deactivate
        becomes a job for the person in the same transaction (so the job system's retries,
        ordering and rate limits apply); reconcile actions are returned for the caller to run."""
        t = s.scheduled_actions
        now = self.clock.now()
        query = (
            sa.select(t)
            .where(t.c.status == "pending", t.c.due_at <= now)
            .order_by(t.c.due_at, t.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        fired = []
        with self.store.transaction() as conn:
            for row in conn.execute(query).all():
                job_id = None
                if row.action in SCHEDULED_EVENT:
                    event = SCHEDULED_EVENT[row.action]
                    job_id = self._queue_sync(conn, row.tenant_id, row.employee_id, event, now)
                conn.execute(
                    t.update()
                    .where(t.c.id == row.id)
                    .values(status="fired", job_id=job_id, updated_at=now)
                )
                fired.append({**dict(row._mapping), "status": "fired", "job_id": job_id})
        return fired

    # -- jobs without a delivery ---------------------------------------------------------------

    def queue_sync(self, tenant_id, employee_id, event_type) -> int:
        """A job to sync one person now (manager e-mail changes, scheduled actions)."""
        with self.store.transaction() as conn:
            return self._queue_sync(conn, tenant_id, employee_id, event_type, self.clock.now())

    def _queue_sync(self, conn, tenant_id, employee_id, event_type, now) -> int:
        j = s.jobs
        waiting = self.store._waiting_job(conn, tenant_id, employee_id)
        if waiting is not None:
            types = _loads(waiting.event_types, []) + [event_type]
            conn.execute(
                j.update()
                .where(j.c.id == waiting.id)
                .values(event_types=_dumps(types), updated_at=now)
            )
            return waiting.id
        values = dict(
            tenant_id=tenant_id,
            employee_id=employee_id,
            status="queued",
            event_types=_dumps([event_type]),
            delivery_ids="[]",
            created_at=now,
            updated_at=now,
            run_after=now,
            attempts=0,
        )
        return conn.execute(j.insert().values(**values)).inserted_primary_key[0]

    def pending_job_employees(self, tenant_id) -> set[str]:
        """People with a delivery not yet queued or a job waiting or running: a webhook is
        already on its way for them."""
        jobs = sa.select(s.jobs.c.employee_id).where(
            s.jobs.c.tenant_id == tenant_id, s.jobs.c.status.in_(s.UNFINISHED)
        )
        d = s.deliveries
        undispatched = sa.select(d.c.employee_id).where(
            d.c.tenant_id == tenant_id, d.c.status == "accepted", d.c.job_id.is_(None)
        )
        with self.store.engine.connect() as conn:
            return set(conn.execute(jobs).scalars()) | set(conn.execute(undispatched).scalars())

    def last_jobs(self, tenant_id) -> dict[str, dict]:
        """Each person's latest job (status, outcome), to say what a webhook did or missed."""
        j = s.jobs
        latest = (
            sa.select(sa.func.max(j.c.id))
            .where(j.c.tenant_id == tenant_id)
            .group_by(j.c.employee_id)
            .scalar_subquery()
        )
        query = sa.select(j.c.id, j.c.employee_id, j.c.status, j.c.outcome).where(
            j.c.id.in_(latest)
        )
        with self.store.engine.connect() as conn:
            return {r.employee_id: dict(r._mapping) for r in conn.execute(query)}

    def snapshots(self, tenant_id) -> dict[str, dict]:
        """employee id -> {user_name, user} as last written to TH."""
        t = s.th_snapshots
        query = sa.select(t.c.employee_id, t.c.user_name, t.c.user)
        query = query.where(t.c.tenant_id == tenant_id)
        with self.store.engine.connect() as conn:
            return {
                r.employee_id: {"user_name": r.user_name, "user": _loads(r.user, {})}
                for r in conn.execute(query)
            }

    # -- reconciliations -----------------------------------------------------------------------

    def start_reconciliation(self, tenant_id, *, dry_run: bool, trigger: str) -> int:
        values = dict(
            tenant_id=tenant_id,
            started_at=self.clock.now(),
            status="running",
            dry_run=dry_run,
            trigger=trigger,
        )
        with self.store.transaction() as conn:
            return conn.execute(s.reconciliations.insert().values(**values)).inserted_primary_key[0]

    def finish_reconciliation(self, rec_id, *, status, summary, report, error=None) -> None:
        values = dict(
            finished_at=self.clock.now(),
            status=status,
            summary=_dumps(summary),
            report=_dumps(report),
            error=error,
        )
        with self.store.transaction() as conn:
            conn.execute(
                s.reconciliations.update().where(s.reconciliations.c.id == rec_id).values(**values)
            )

    def get_reconciliation(self, rec_id) -> dict | None:
        t = s.reconciliations
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.id == rec_id)).first()
        return _reconciliation(row) if row else None

    def list_reconciliations(self, tenant_id=None, limit=20) -> list[dict]:
        t = s.reconciliations
        query = sa.select(t).order_by(t.c.id.desc()).limit(limit)
        if tenant_id is not None:
            query = query.where(t.c.tenant_id == tenant_id)
        with self.store.engine.connect() as conn:
            return [_reconciliation(r) for r in conn.execute(query)]

    # -- holds ---------------------------------------------------------------------------------

    def hold(self, tenant_id, kind, reason, items, employee_id=None) -> int:
        """Keep actions for support; a person already held for the same kind is not held twice."""
        now = self.clock.now()
        with self.store.transaction() as conn:
            existing = self._open_hold(conn, tenant_id, kind, employee_id)
            if existing is not None and employee_id is not None:
                return existing.id
            values = dict(
                tenant_id=tenant_id,
                kind=kind,
                employee_id=employee_id,
                status="held",
                reason=reason,
                items=_dumps(items),
                created_at=now,
            )
            return conn.execute(s.holds.insert().values(**values)).inserted_primary_key[0]

    def _open_hold(self, conn, tenant_id, kind, employee_id=None):
        t = s.holds
        query = sa.select(t).where(
            t.c.tenant_id == tenant_id, t.c.kind == kind, t.c.status == "held"
        )
        if employee_id is not None:
            query = query.where(t.c.employee_id == employee_id)
        return conn.execute(query.order_by(t.c.id)).first()

    def open_hold(self, tenant_id, kind, employee_id=None) -> dict | None:
        with self.store.engine.connect() as conn:
            row = self._open_hold(conn, tenant_id, kind, employee_id)
        return _hold(row) if row else None

    def add_to_hold(self, hold_id, item) -> None:
        with self.store.transaction() as conn:
            t = s.holds
            row = conn.execute(sa.select(t.c["items"]).where(t.c.id == hold_id).with_for_update())
            items = _loads(row.scalar(), []) + [item]
            conn.execute(t.update().where(t.c.id == hold_id).values(items=_dumps(items)))

    def recent_deactivations(self, tenant_id, since: float) -> int:
        """Deactivations the webhook path made since `since` (one burst of events)."""
        j = s.jobs
        query = sa.select(sa.func.count()).where(
            j.c.tenant_id == tenant_id, j.c.outcome == "deactivated", j.c.updated_at >= since
        )
        with self.store.engine.connect() as conn:
            return conn.execute(query).scalar()

    def active_users_known(self, tenant_id) -> int:
        """Active TH users as last written or read (the burst check's denominator: listing
        the whole portal on every leaver would cost more calls than the budget allows)."""
        return sum(
            1 for snap in self.snapshots(tenant_id).values() if snap["user"].get("active") is True
        )

    def get_hold(self, hold_id) -> dict | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(s.holds).where(s.holds.c.id == hold_id)).first()
        return _hold(row) if row else None

    def list_holds(self, tenant_id=None, status="held") -> list[dict]:
        t = s.holds
        query = sa.select(t).order_by(t.c.id)
        if tenant_id is not None:
            query = query.where(t.c.tenant_id == tenant_id)
        if status is not None:
            query = query.where(t.c.status == status)
        with self.store.engine.connect() as conn:
            return [_hold(r) for r in conn.execute(query)]

    def resolve_hold(self, hold_id, status, resolution) -> bool:
        """held -> released | discarded, once: False when someone else already decided."""
        t = s.holds
        with self.store.transaction() as conn:
            result = conn.execute(
                t.update()
                .where(t.c.id == hold_id, t.c.status == "held")
                .values(status=status, resolved_at=self.clock.now(), resolution=_dumps(resolution))
            )
            return result.rowcount == 1


def _reconciliation(row) -> dict:
    data = dict(row._mapping)
    data["summary"] = _loads(data["summary"], {})
    data["report"] = _loads(data["report"], {})
    return data


def _hold(row) -> dict:
    data = dict(row._mapping)
    data["items"] = _loads(data["items"], [])
    data["resolution"] = _loads(data["resolution"])
    return data
