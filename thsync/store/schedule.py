"""Scheduled actions: a create on the start date, a deactivation after the last day, a tenant's
reconciliation (employee_id WHOLE_TENANT, so it fires as a tenant-wide job)."""

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from thsync.store import schema as s
from thsync.store.database import Database, Repository, inserted_id

if TYPE_CHECKING:
    from thsync.store.jobs import Jobs

SCHEDULED_EVENT = {
    "create": "start_date_reached",
    "deactivate": "last_day_ended",
    "reconcile": "reconciliation",
}


class Schedule(Repository):
    def __init__(self, db: Database, jobs: "Jobs") -> None:
        super().__init__(db)
        self.jobs = jobs

    def plan(
        self, tenant_id: str, employee_id: str, action: str, due_at: float, reason: str | None
    ) -> int:
        """Plan an action, or move the pending one of the same kind to the new time."""
        now = self.clock.now()
        with self.db.transaction() as conn:
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
                    return inserted_id(result)
            except IntegrityError:  # another process planned it at the same moment
                planned = self._pending(conn, tenant_id, employee_id, action)
                assert planned is not None  # the row the unique index clashed with
                return planned.id

    def _pending(
        self, conn: sa.Connection, tenant_id: str, employee_id: str, action: str
    ) -> sa.Row[Any] | None:
        t = s.scheduled_actions
        query = sa.select(t).where(
            t.c.tenant_id == tenant_id,
            t.c.employee_id == employee_id,
            t.c.action == action,
            t.c.status == "pending",
        )
        return conn.execute(query.with_for_update()).first()

    def pending(self, tenant_id: str, employee_id: str, action: str) -> dict[str, Any] | None:
        with self.db.transaction() as conn:
            row = self._pending(conn, tenant_id, employee_id, action)
        return dict(row._mapping) if row else None

    def cancel(
        self,
        *,
        action_id: int | None = None,
        tenant_id: str | None = None,
        employee_id: str | None = None,
        action: str | None = None,
        reason: str = "",
    ) -> list[int]:
        """Cancel pending actions (one by id, or a person's of one kind); returns the ids."""
        t = s.scheduled_actions
        query = sa.select(t.c.id).where(t.c.status == "pending")
        column: sa.Column[Any]
        value: object
        for column, value in (
            (t.c.id, action_id),
            (t.c.tenant_id, tenant_id),
            (t.c.employee_id, employee_id),
            (t.c.action, action),
        ):
            if value is not None:
                query = query.where(column == value)
        with self.db.transaction() as conn:
            ids = list(conn.execute(query.with_for_update()).scalars())
            if ids:
                conn.execute(
                    t.update()
                    .where(t.c.id.in_(ids))
                    .values(status="cancelled", reason=reason, updated_at=self.clock.now())
                )
        return ids

    def find(
        self, tenant_id: str | None = None, status: str | None = "pending", limit: int = 500
    ) -> list[dict[str, Any]]:
        t = s.scheduled_actions
        query = sa.select(t).order_by(t.c.due_at, t.c.id).limit(limit)
        if tenant_id is not None:
            query = query.where(t.c.tenant_id == tenant_id)
        if status is not None:
            query = query.where(t.c.status == status)
        with self.db.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def fire_due(self, limit: int = 100) -> list[dict[str, Any]]:
        """Claim due actions, each exactly once across processes. Each becomes a job in the same
        transaction (so the job system's leases, ordering and rate limits apply): a person's job
        for a create or deactivate, a tenant-wide job for a reconcile, which then runs one at a
        time per tenant and joins one already waiting."""
        t = s.scheduled_actions
        now = self.clock.now()
        query = (
            sa.select(t)
            .where(t.c.status == "pending", t.c.due_at <= now)
            .order_by(t.c.due_at, t.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        fired: list[dict[str, Any]] = []
        with self.db.transaction() as conn:
            for row in conn.execute(query).all():
                event = SCHEDULED_EVENT[row.action]
                job_id = self.jobs.queue(conn, row.tenant_id, row.employee_id, event, now=now)
                conn.execute(
                    t.update()
                    .where(t.c.id == row.id)
                    .values(status="fired", job_id=job_id, updated_at=now)
                )
                fired.append({**dict(row._mapping), "status": "fired", "job_id": job_id})
        return fired
