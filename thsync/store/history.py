"""What jobs did, read back: for pages, checklists, alerts and reconciliation. Questions about
people (what synced, what cleared a failure) leave tenant-wide jobs (reconciliations) out."""

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from thsync.store import schema as s
from thsync.store.database import Repository, loads
from thsync.store.jobs import Job, row_to_job
from thsync.store.states import UNFINISHED, WAITING, WHOLE_TENANT, DeliveryStatus


class History(Repository):
    def get(self, job_id: int) -> Job | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(s.jobs).where(s.jobs.c.id == job_id)).first()
        return row_to_job(row) if row else None

    def find(
        self,
        *,
        tenant_id: str | None = None,
        status: str | Iterable[str] | None = None,
        employee_id: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        query = sa.select(s.jobs).order_by(s.jobs.c.id.desc()).limit(limit)
        if tenant_id is not None:
            query = query.where(s.jobs.c.tenant_id == tenant_id)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            query = query.where(s.jobs.c.status.in_(statuses))
        if employee_id is not None:
            query = query.where(s.jobs.c.employee_id == employee_id)
        with self.db.engine.connect() as conn:
            return [row_to_job(r) for r in conn.execute(query)]

    def attempts(self, job_id: int) -> list[dict[str, Any]]:
        query = sa.select(s.attempts).where(s.attempts.c.job_id == job_id).order_by(s.attempts.c.id)
        with self.db.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["calls"] = loads(row["calls"], [])
            row["decision"] = loads(row["decision"])
        return rows

    def count(self, tenant_id: str | None = None) -> dict[str, int]:
        query = sa.select(s.jobs.c.status, sa.func.count()).group_by(s.jobs.c.status)
        if tenant_id is not None:
            query = query.where(s.jobs.c.tenant_id == tenant_id)
        with self.db.engine.connect() as conn:
            return {status: n for status, n in conn.execute(query)}

    def next_due(self) -> float | None:
        query = sa.select(sa.func.min(s.jobs.c.run_after)).where(s.jobs.c.status.in_(WAITING))
        with self.db.engine.connect() as conn:
            return conn.execute(query).scalar()

    def pending_employees(self, tenant_id: str) -> set[str]:
        """People with a delivery not yet queued or a job waiting or running: a webhook is
        already on its way for them."""
        jobs = sa.select(s.jobs.c.employee_id).where(
            s.jobs.c.tenant_id == tenant_id, s.jobs.c.status.in_(UNFINISHED)
        )
        d = s.deliveries
        undispatched = sa.select(d.c.employee_id).where(
            d.c.tenant_id == tenant_id, d.c.status == DeliveryStatus.ACCEPTED, d.c.job_id.is_(None)
        )
        with self.db.engine.connect() as conn:
            return set(conn.execute(jobs).scalars()) | set(conn.execute(undispatched).scalars())

    def last_by_employee(self, tenant_id: str) -> dict[str, dict[str, Any]]:
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
        with self.db.engine.connect() as conn:
            return {r.employee_id: dict(r._mapping) for r in conn.execute(query)}

    def with_outcomes(
        self, tenant_id: str, outcomes: Iterable[str], since: float | None = None, limit: int = 500
    ) -> list[Job | None]:
        """Jobs of the tenant that ended with one of `outcomes` (shadow's "would have" ones)."""
        j = s.jobs
        query = sa.select(j.c.id).where(j.c.tenant_id == tenant_id, j.c.outcome.in_(outcomes))
        if since is not None:
            query = query.where(j.c.created_at >= since)
        with self.db.engine.connect() as conn:
            ids = list(conn.execute(query.order_by(j.c.id.desc()).limit(limit)).scalars())
        return [self.get(job_id) for job_id in ids]

    def succeeded(self, tenant_id: str, limit: int = 500) -> list[Job | None]:
        j = s.jobs
        query = (
            sa.select(j.c.id)
            .where(
                j.c.tenant_id == tenant_id,
                j.c.employee_id != WHOLE_TENANT,
                j.c.status.in_(("succeeded", "skipped")),
            )
            .order_by(j.c.id)
            .limit(limit)
        )
        with self.db.engine.connect() as conn:
            ids = list(conn.execute(query).scalars())
        return [self.get(job_id) for job_id in ids]

    def succeeded_since(self, tenant_id: str, since: float) -> bool:
        """Has a sync of the tenant succeeded after `since` (a failure cause clearing)?"""
        j = s.jobs
        query = sa.select(j.c.id).where(
            j.c.tenant_id == tenant_id,
            j.c.employee_id != WHOLE_TENANT,
            j.c.status == "succeeded",
            j.c.updated_at > since,
        )
        with self.db.engine.connect() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def recent_deactivations(self, tenant_id: str, since: float) -> int:
        """Deactivations the webhook path made since `since` (one burst of events)."""
        j = s.jobs
        query = sa.select(sa.func.count()).where(
            j.c.tenant_id == tenant_id, j.c.outcome == "deactivated", j.c.updated_at >= since
        )
        with self.db.engine.connect() as conn:
            return conn.execute(query).scalar_one()
