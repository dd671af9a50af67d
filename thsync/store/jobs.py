"""Jobs and their attempts: queue, claim, lease, finish (the state machine is in schema)."""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from thsync.store import locks
from thsync.store import schema as s
from thsync.store.database import Database, Repository, StoreUnavailable, dumps, inserted_id, loads
from thsync.store.deliveries import Deliveries
from thsync.store.states import UNFINISHED, WAITING, AttemptOutcome, DeliveryStatus, JobStatus

CUT_OFF_ERROR = (
    "the worker {worker} stopped mid-attempt (its lease ran out before the attempt ended): "
    "what it did before it stopped, a TH write perhaps, is not known"
)


@dataclass
class Job:
    id: int
    tenant_id: str
    employee_id: str
    status: str
    event_types: list[str | None]
    delivery_ids: list[int]
    attempts: int
    run_after: float
    created_at: float
    worker: str | None = None
    outcome: str | None = None
    reason: str | None = None
    last_error: str | None = None
    decision: dict[str, Any] | None = None
    attempt_id: int | None = None  # this claim's attempt row
    extra: dict[str, Any] = field(default_factory=dict)


def row_to_job(row: sa.Row[Any]) -> Job:
    return Job(
        id=row.id,
        tenant_id=row.tenant_id,
        employee_id=row.employee_id,
        status=row.status,
        event_types=loads(row.event_types, []),
        delivery_ids=loads(row.delivery_ids, []),
        attempts=row.attempts,
        run_after=row.run_after,
        created_at=row.created_at,
        worker=row.worker,
        outcome=row.outcome,
        reason=row.reason,
        last_error=row.last_error,
        decision=loads(row.decision),
    )


class Jobs(Repository):
    def __init__(self, db: Database, deliveries: Deliveries) -> None:
        super().__init__(db)
        self.deliveries = deliveries

    def dispatch(self, coalesce_seconds: float, limit: int = 500) -> int:
        """Queue (or join) a job for each accepted delivery not yet queued, in delivery order.
        One dispatcher at a time: two taking different batches at once could let a later
        delivery reach a person's job before an earlier one. A dispatcher that finds another
        at work skips this round (returns 0). Coalescing windows count from when each delivery
        was received."""
        d = s.deliveries
        query = (
            sa.select(d.c.id, d.c.tenant_id, d.c.event_type, d.c.employee_id, d.c.received_at)
            .where(d.c.status == DeliveryStatus.ACCEPTED, d.c.job_id.is_(None))
            .order_by(d.c.id)
            .limit(limit)
        )
        with self.db.transaction() as conn:
            if not locks.try_transaction_lock(self.db, conn, locks.DISPATCH):
                return 0
            rows = conn.execute(query).all()
            for row in rows:
                job_id = self.queue(
                    conn,
                    row.tenant_id,
                    row.employee_id,
                    row.event_type,
                    now=row.received_at,
                    delivery_id=row.id,
                    delay=coalesce_seconds,
                )
                conn.execute(d.update().where(d.c.id == row.id).values(job_id=job_id))
        return len(rows)

    def queue(
        self,
        conn: sa.Connection,
        tenant_id: str,
        employee_id: str,
        event_type: str | None,
        *,
        now: float,
        delivery_id: int | None = None,
        delay: float = 0.0,
    ) -> int:
        """The one way to queue a person's sync: join their waiting job, or insert one. The
        partial unique index on waiting jobs settles a race with another process: the loser
        joins the winner's job."""
        for _ in range(3):
            waiting = self.waiting(conn, tenant_id, employee_id)
            if waiting is not None:
                return self._join(conn, waiting, event_type, delivery_id, delay, now)
            values = dict(
                tenant_id=tenant_id,
                employee_id=employee_id,
                status=JobStatus.QUEUED,
                event_types=dumps([event_type]),
                delivery_ids=dumps([delivery_id] if delivery_id is not None else []),
                created_at=now,
                updated_at=now,
                run_after=now + delay,
                attempts=0,
            )
            try:
                with conn.begin_nested():
                    return inserted_id(conn.execute(s.jobs.insert().values(**values)))
            except IntegrityError:
                continue  # another process queued one at the same moment: join it
        raise StoreUnavailable("could not queue a job after three tries")

    def waiting(self, conn: sa.Connection, tenant_id: str, employee_id: str) -> sa.Row[Any] | None:
        query = (
            sa.select(s.jobs)
            .where(
                s.jobs.c.tenant_id == tenant_id,
                s.jobs.c.employee_id == employee_id,
                s.jobs.c.status.in_(WAITING),
            )
            .with_for_update()
        )
        return conn.execute(query).first()

    def _join(
        self,
        conn: sa.Connection,
        row: sa.Row[Any],
        event_type: str | None,
        delivery_id: int | None,
        delay: float,
        now: float,
    ) -> int:
        """Coalesce: one sync of the latest state serves a burst of events."""
        event_types = loads(row.event_types, []) + [event_type]
        delivery_ids = loads(row.delivery_ids, [])
        if delivery_id is not None:
            delivery_ids.append(delivery_id)
        run_after = row.run_after
        if row.status == JobStatus.QUEUED:
            # Debounce a burst, but never hold a job more than 10 windows after it was queued.
            run_after = min(max(run_after, now + delay), row.created_at + 10 * delay)
        conn.execute(
            s.jobs.update()
            .where(s.jobs.c.id == row.id)
            .values(
                event_types=dumps(event_types),
                delivery_ids=dumps(delivery_ids),
                run_after=run_after,
                updated_at=now,
            )
        )
        return row.id

    def claim(
        self,
        worker: str,
        lease_seconds: float,
        *,
        exclude_tenants: Iterable[str] = (),
        ignore_run_after: bool = False,
    ) -> Job | None:
        """Take the next runnable job, or None. Safe across processes (see schema docstring).
        The attempt row is written in the same transaction, so even a worker killed at once
        leaves its attempt on record; a job taken over after its lease ran out has the
        previous attempt marked cut off."""
        now = self.clock.now()
        with self.db.transaction() as conn:
            row = conn.execute(self._claim_query(now, exclude_tenants, ignore_run_after)).first()
            if row is None:
                return None
            conn.execute(
                s.jobs.update()
                .where(s.jobs.c.id == row.id)
                .values(
                    status=JobStatus.RUNNING,
                    worker=worker,
                    lease_until=now + lease_seconds,
                    attempts=row.attempts + 1,
                    updated_at=now,
                )
            )
            if row.status == JobStatus.RUNNING:
                self._cut_off(conn, row)
            job = row_to_job(row)
            job.attempts += 1
            job.status = JobStatus.RUNNING
            job.worker = worker
            job.attempt_id = self._start_attempt(conn, job, now)
            return job

    def _start_attempt(self, conn: sa.Connection, job: Job, now: float) -> int:
        values = dict(
            job_id=job.id,
            number=job.attempts,
            worker=job.worker,
            started_at=now,
            outcome=AttemptOutcome.RUNNING,
            calls="[]",
        )
        return inserted_id(conn.execute(s.attempts.insert().values(**values)))

    def _cut_off(self, conn: sa.Connection, row: sa.Row[Any]) -> None:
        """The worker that held this job stopped mid-attempt: say so on its attempt row."""
        a = s.attempts
        conn.execute(
            a.update()
            .where(a.c.job_id == row.id, a.c.outcome == AttemptOutcome.RUNNING)
            .values(
                outcome=AttemptOutcome.CUT_OFF,
                finished_at=row.lease_until,  # the last moment it was known to hold the job
                error=CUT_OFF_ERROR.format(worker=row.worker),
            )
        )

    def _claim_query(
        self, now: float, exclude_tenants: Iterable[str], ignore_run_after: bool
    ) -> sa.Select[Any]:
        j, k = s.jobs, s.jobs.alias("earlier")
        due = sa.true() if ignore_run_after else j.c.run_after <= now
        runnable = sa.or_(
            sa.and_(j.c.status.in_(WAITING), due),
            sa.and_(j.c.status == "running", j.c.lease_until < now),
        )
        earlier_unfinished = sa.exists().where(
            k.c.tenant_id == j.c.tenant_id,
            k.c.employee_id == j.c.employee_id,
            k.c.id < j.c.id,
            k.c.status.in_(UNFINISHED),
        )
        query = sa.select(j).where(runnable, ~earlier_unfinished)
        if exclude_tenants:
            query = query.where(j.c.tenant_id.not_in(list(exclude_tenants)))
        query = query.order_by(j.c.run_after, j.c.id).limit(1)
        return query.with_for_update(skip_locked=True, of=j)

    def finish(
        self,
        job: Job,
        *,
        status: str,
        outcome: str | None = None,
        reason: str | None = None,
        error: str | None = None,
        decision: dict[str, Any] | None = None,
        run_after: float | None = None,
        refund_attempt: bool = False,
    ) -> bool:
        """Move a running job on; False when this worker no longer holds it (lease lost)."""
        now = self.clock.now()
        values: dict[str, Any] = dict(
            status=status,
            outcome=outcome,
            reason=reason,
            last_error=error,
            updated_at=now,
            lease_until=None,
        )
        if decision is not None:
            values["decision"] = json.dumps(decision, default=str)
        if run_after is not None:
            values["run_after"] = run_after
        if refund_attempt:
            values["attempts"] = s.jobs.c.attempts - 1
        with self.db.transaction() as conn:
            result = conn.execute(
                s.jobs.update()
                .where(
                    s.jobs.c.id == job.id,
                    s.jobs.c.worker == job.worker,
                    s.jobs.c.status == "running",
                )
                .values(**values)
            )
            return result.rowcount == 1

    def extend_lease(self, job: Job, lease_seconds: float) -> bool:
        """Keep a running job a while longer; False when this worker no longer holds it."""
        with self.db.transaction() as conn:
            result = conn.execute(
                s.jobs.update()
                .where(
                    s.jobs.c.id == job.id,
                    s.jobs.c.worker == job.worker,
                    s.jobs.c.status == JobStatus.RUNNING,
                )
                .values(lease_until=self.clock.now() + lease_seconds)
            )
            return result.rowcount == 1

    def record_attempt(
        self,
        job: Job,
        *,
        outcome: str,
        error: str | None,
        decision: dict[str, Any] | None,
        calls: list[dict[str, Any]],
    ) -> None:
        """Complete the attempt row the claim started with how the attempt ended. A worker
        that lost its lease still records what it did (over the "cut off" mark)."""
        values = dict(
            finished_at=self.clock.now(),
            outcome=outcome,
            error=error,
            decision=json.dumps(decision, default=str) if decision is not None else None,
            calls=json.dumps(calls, default=str),
        )
        with self.db.transaction() as conn:
            conn.execute(
                s.attempts.update().where(s.attempts.c.id == job.attempt_id).values(**values)
            )

    def requeue_failed(
        self, *, tenant_id: str | None = None, job_ids: Iterable[int] | None = None
    ) -> list[int]:
        """Failed jobs back to queued (support's retry). Returns the ids requeued."""
        now = self.clock.now()
        query = sa.select(s.jobs.c.id, s.jobs.c.tenant_id, s.jobs.c.employee_id).where(
            s.jobs.c.status == "failed"
        )
        if tenant_id is not None:
            query = query.where(s.jobs.c.tenant_id == tenant_id)
        if job_ids:
            query = query.where(s.jobs.c.id.in_(list(job_ids)))
        requeued: list[int] = []
        with self.db.transaction() as conn:
            for row in conn.execute(query.order_by(s.jobs.c.id)).all():
                if self.waiting(conn, row.tenant_id, row.employee_id) is not None:
                    # A newer waiting job already syncs this person's latest state.
                    conn.execute(
                        s.jobs.update()
                        .where(s.jobs.c.id == row.id)
                        .values(
                            status="skipped",
                            outcome="superseded",
                            updated_at=now,
                            reason="retry requested; a newer job already covers this person",
                        )
                    )
                    continue
                conn.execute(
                    s.jobs.update()
                    .where(s.jobs.c.id == row.id)
                    .values(status="queued", attempts=0, run_after=now, updated_at=now, worker=None)
                )
                requeued.append(row.id)
        return requeued

    def queue_replay(self, delivery_id: int) -> int | None:
        """Queue a stored delivery again (support's replay): a fresh sync of that employee."""
        delivery = self.deliveries.get(delivery_id)
        if (
            delivery is None
            or not delivery.get("employee_id")
            or delivery["status"] == DeliveryStatus.REJECTED
        ):
            return None
        with self.db.transaction() as conn:
            return self.queue(
                conn,
                delivery["tenant_id"],
                delivery["employee_id"],
                delivery["event_type"],
                now=self.clock.now(),
                delivery_id=delivery_id,
            )

    def queue_sync(self, tenant_id: str, employee_id: str, event_type: str | None) -> int:
        """A job to sync one person now (manager e-mail changes, scheduled actions)."""
        with self.db.transaction() as conn:
            return self.queue(conn, tenant_id, employee_id, event_type, now=self.clock.now())
