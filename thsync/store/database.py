"""The one module that speaks SQL (with thsync.schema): deliveries, jobs, attempts, tokens.

SQLite by default (WAL, one writer at a time: every transaction starts with BEGIN IMMEDIATE so
claims and rate reservations are serialised), PostgreSQL when DATABASE_URL says so (row locks and
SKIP LOCKED let many worker processes claim jobs safely).
"""

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from thsync.store import schema as s
from thsync.core.clock import SystemClock
from thsync.store.groupcommit import GroupCommit

ACCEPT_KEYS = [
    "tenant_id",
    "received_at",
    "status",
    "http_status",
    "event_type",
    "event_id",
    "employee_id",
    "dedup_key",
    "headers",
    "body",
    "body_size",
    "error",
]


class StoreUnavailable(Exception):
    """The database cannot take the write right now."""


@dataclass
class Job:
    id: int
    tenant_id: str
    employee_id: str
    status: str
    event_types: list
    delivery_ids: list
    attempts: int
    run_after: float
    created_at: float
    worker: str | None = None
    outcome: str | None = None
    reason: str | None = None
    last_error: str | None = None
    decision: dict | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Accepted:
    delivery_id: int
    duplicate: bool
    job_id: int | None


def sqlite_url_for(instance_path: str) -> str:
    os.makedirs(instance_path, exist_ok=True)
    return "sqlite:///" + os.path.join(os.path.abspath(instance_path), "thsync.db")


def create_engine(url: str) -> sa.Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
    _serialise_sqlite_writes(engine)
    return engine


def _serialise_sqlite_writes(engine: sa.Engine) -> None:
    """pysqlite's own transaction handling defers BEGIN; take the write lock up front instead.

    SQLite's busy handler sleeps 1, 2, 5, 10 … 100 ms between tries, which caps throughput as
    soon as two processes write. The write lock is short, so BEGIN IMMEDIATE is retried here
    with sub-millisecond naps instead (up to the same 30 s). WAL readers never wait for it.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        begin_immediate(conn.connection.dbapi_connection)


def begin_immediate(dbapi_conn, patience: float = 30.0) -> None:
    """BEGIN IMMEDIATE with SQLite's own busy wait switched off for the attempt."""
    dbapi_conn.execute("PRAGMA busy_timeout=0")
    try:
        begin_with_naps(dbapi_conn, patience)
    finally:
        dbapi_conn.execute("PRAGMA busy_timeout=30000")


def begin_with_naps(dbapi_conn, patience: float = 30.0) -> None:
    """Retry BEGIN IMMEDIATE with sub-millisecond naps until the write lock is ours."""
    nap, deadline = 0.0002, time.monotonic() + patience
    while True:
        try:
            dbapi_conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(nap)
            nap = min(nap * 2, 0.005)


def _loads(text, default=None):
    return json.loads(text) if text else default


def _row_to_job(row) -> Job:
    return Job(
        id=row.id,
        tenant_id=row.tenant_id,
        employee_id=row.employee_id,
        status=row.status,
        event_types=_loads(row.event_types, []),
        delivery_ids=_loads(row.delivery_ids, []),
        attempts=row.attempts,
        run_after=row.run_after,
        created_at=row.created_at,
        worker=row.worker,
        outcome=row.outcome,
        reason=row.reason,
        last_error=row.last_error,
        decision=_loads(row.decision),
    )


class Store:
    def __init__(self, url: str, clock=None):
        self.url = url
        self.engine = create_engine(url)
        self.clock = clock or SystemClock()
        self.dialect = self.engine.dialect.name
        # Threads of one process queue here instead of in SQLite's busy handler, which sleeps.
        self._sqlite_writes = threading.RLock() if self.dialect == "sqlite" else None
        self._accept_statement = (
            self._insert(s.deliveries).on_conflict_do_nothing().returning(s.deliveries.c.id)
        )
        if self.dialect == "sqlite":
            compiled = self._accept_statement.compile(
                dialect=self.engine.dialect, column_keys=ACCEPT_KEYS
            )
            self._accept_sqlite = (compiled.string, compiled.positiontup)
            self._intake_writes = GroupCommit(self._insert_batch_on_sqlite)
        self._intake_driver = None

    def _insert(self, table):
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def upgrade(self) -> list[int]:
        with self.engine.begin() as conn:
            return s.upgrade(conn)

    def dispose(self) -> None:
        if self._sqlite_writes is not None and self._intake_driver is not None:
            with self._sqlite_writes:
                self._intake_driver.close()
                self._intake_driver = None
        self.engine.dispose()

    @contextmanager
    def transaction(self):
        if self._sqlite_writes is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._sqlite_writes, self.engine.begin() as conn:
            yield conn

    def _insert_ignore(self, conn, table, values) -> bool:
        """INSERT that reports False instead of failing on a key clash."""
        try:
            with conn.begin_nested():
                conn.execute(table.insert().values(**values))
            return True
        except IntegrityError:
            return False

    # -- deliveries -------------------------------------------------------------------------

    def record_rejected(self, tenant_id, *, http_status, headers, body, body_size, error) -> int:
        """Keep a delivery we refused, so support can see what EH sent and why it was refused."""
        values = dict(
            tenant_id=tenant_id,
            received_at=self.clock.now(),
            status="rejected",
            http_status=http_status,
            headers=json.dumps(headers),
            body=body,
            body_size=body_size,
            error=error,
        )
        try:
            with self.transaction() as conn:
                return conn.execute(s.deliveries.insert().values(**values)).inserted_primary_key[0]
        except sa.exc.SQLAlchemyError as exc:
            raise StoreUnavailable(str(exc)) from exc

    def accept_delivery(self, tenant_id, *, headers, body, meta) -> Accepted:
        """Store a valid delivery: one INSERT, deduplicated by the partial unique index on
        (tenant_id, dedup_key). The dispatcher queues its job later, off the request path."""
        values = {
            "tenant_id": tenant_id,
            "received_at": self.clock.now(),
            "status": "accepted",
            "http_status": 202,
            "event_type": meta.get("event_type"),
            "event_id": meta.get("event_id"),
            "employee_id": meta.get("employee_id"),
            "dedup_key": meta["dedup_key"],
            "headers": json.dumps(headers),
            "body": body,
            "body_size": len(body.encode()),
            "error": None,
        }
        try:
            if self._sqlite_writes is not None:
                delivery_id = self._insert_on_sqlite(values)
                if delivery_id is not None:
                    return Accepted(delivery_id, False, None)
            with self.transaction() as conn:
                delivery_id = conn.execute(self._accept_statement, values).scalar()
                if delivery_id is not None:
                    return Accepted(delivery_id, False, None)
                return self._record_duplicate(conn, values)
        except (sa.exc.SQLAlchemyError, sqlite3.Error) as exc:
            raise StoreUnavailable(str(exc)) from exc

    def _insert_on_sqlite(self, values) -> int | None:
        """The intake's INSERT, group-committed (thsync.groupcommit) on the driver connection:
        the same compiled statement without SQLAlchemy's per-execution machinery, which costs
        more than the write itself on SQLite and sits on the path EH waits on. None for a
        duplicate (the general path records it)."""
        return self._intake_writes.submit(values)

    def _insert_batch_on_sqlite(self, batch: list) -> list:
        sql, keys = self._accept_sqlite
        with self._sqlite_writes:
            driver = self._intake_connection()
            begin_with_naps(driver)
            try:
                rows = [driver.execute(sql, [v[key] for key in keys]).fetchone() for v in batch]
                driver.execute("COMMIT")
            except BaseException:
                driver.execute("ROLLBACK")
                raise
        return [row[0] if row else None for row in rows]

    def _intake_connection(self):
        """One driver connection per process for intake writes: only the group-commit leader
        uses it, one at a time, so it needs no pool."""
        if self._intake_driver is None:
            proxy = self.engine.raw_connection()
            driver = proxy.driver_connection
            proxy.detach()  # ours for the life of the store; closed by dispose()
            # It only ever writes under the retried BEGIN IMMEDIATE: no busy waits in SQLite.
            driver.execute("PRAGMA busy_timeout=0")
            self._intake_driver = driver
        return self._intake_driver

    def _record_duplicate(self, conn, values) -> Accepted:
        first = conn.execute(
            sa.select(s.deliveries.c.id).where(
                s.deliveries.c.tenant_id == values["tenant_id"],
                s.deliveries.c.dedup_key == values["dedup_key"],
                s.deliveries.c.status == "accepted",
            )
        ).scalar_one()
        duplicate = {**values, "status": "duplicate", "http_status": 200, "duplicate_of": first}
        delivery_id = conn.execute(s.deliveries.insert(), duplicate).inserted_primary_key[0]
        return Accepted(delivery_id, True, None)

    def dispatch_deliveries(self, coalesce_seconds: float, limit: int = 500) -> int:
        """Queue (or join) a job for each accepted delivery not yet queued, oldest first.
        Coalescing windows count from when each delivery was received."""
        d = s.deliveries
        query = (
            sa.select(d.c.id, d.c.tenant_id, d.c.event_type, d.c.employee_id, d.c.received_at)
            .where(d.c.status == "accepted", d.c.job_id.is_(None))
            .order_by(d.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self.transaction() as conn:
            rows = conn.execute(query).all()
            for row in rows:
                meta = {"event_type": row.event_type, "employee_id": row.employee_id}
                job_id = self._queue_job(
                    conn, row.tenant_id, meta, row.id, coalesce_seconds, row.received_at
                )
                conn.execute(d.update().where(d.c.id == row.id).values(job_id=job_id))
        return len(rows)

    def _queue_job(self, conn, tenant_id, meta, delivery_id, coalesce_seconds, now) -> int:
        employee_id = meta["employee_id"]
        for _ in range(3):
            waiting = self._waiting_job(conn, tenant_id, employee_id)
            if waiting is not None:
                return self._join_job(conn, waiting, meta, delivery_id, coalesce_seconds, now)
            values = dict(
                tenant_id=tenant_id,
                employee_id=employee_id,
                status="queued",
                event_types=json.dumps([meta.get("event_type")]),
                delivery_ids=json.dumps([delivery_id]),
                created_at=now,
                updated_at=now,
                run_after=now + coalesce_seconds,
                attempts=0,
            )
            try:
                with conn.begin_nested():
                    return conn.execute(s.jobs.insert().values(**values)).inserted_primary_key[0]
            except IntegrityError:
                continue  # another intake queued one at the same moment: join it
        raise StoreUnavailable("could not queue a job after three tries")

    def _waiting_job(self, conn, tenant_id, employee_id):
        query = (
            sa.select(s.jobs)
            .where(
                s.jobs.c.tenant_id == tenant_id,
                s.jobs.c.employee_id == employee_id,
                s.jobs.c.status.in_(s.WAITING),
            )
            .with_for_update()
        )
        return conn.execute(query).first()

    def _join_job(self, conn, row, meta, delivery_id, coalesce_seconds, now) -> int:
        """Coalesce: one sync of the latest state serves a burst of events."""
        event_types = _loads(row.event_types, []) + [meta.get("event_type")]
        delivery_ids = _loads(row.delivery_ids, []) + [delivery_id]
        run_after = row.run_after
        if row.status == "queued":
            # Debounce a burst, but never hold a job more than 10 windows after it was queued.
            run_after = min(
                max(run_after, now + coalesce_seconds), row.created_at + 10 * coalesce_seconds
            )
        conn.execute(
            s.jobs.update()
            .where(s.jobs.c.id == row.id)
            .values(
                event_types=json.dumps(event_types),
                delivery_ids=json.dumps(delivery_ids),
                run_after=run_after,
                updated_at=now,
            )
        )
        return row.id

    def get_delivery(self, delivery_id) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(s.deliveries).where(s.deliveries.c.id == delivery_id)
            ).first()
        return dict(row._mapping) if row else None

    def list_deliveries(self, tenant_id=None, limit=50, job_id=None) -> list[dict]:
        query = sa.select(s.deliveries).order_by(s.deliveries.c.id.desc()).limit(limit)
        if tenant_id is not None:
            query = query.where(s.deliveries.c.tenant_id == tenant_id)
        if job_id is not None:
            query = query.where(s.deliveries.c.job_id == job_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # -- jobs ------------------------------------------------------------------------------

    def claim_job(self, worker, lease_seconds, *, exclude_tenants=(), ignore_run_after=False):
        """Take the next runnable job, or None. Safe across processes (see schema docstring)."""
        now = self.clock.now()
        with self.transaction() as conn:
            row = conn.execute(self._claim_query(now, exclude_tenants, ignore_run_after)).first()
            if row is None:
                return None
            conn.execute(
                s.jobs.update()
                .where(s.jobs.c.id == row.id)
                .values(
                    status="running",
                    worker=worker,
                    lease_until=now + lease_seconds,
                    attempts=row.attempts + 1,
                    updated_at=now,
                )
            )
            job = _row_to_job(row)
            job.attempts += 1
            job.status = "running"
            job.worker = worker
            return job

    def _claim_query(self, now, exclude_tenants, ignore_run_after):
        j, k = s.jobs, s.jobs.alias("earlier")
        due = sa.true() if ignore_run_after else j.c.run_after <= now
        runnable = sa.or_(
            sa.and_(j.c.status.in_(s.WAITING), due),
            sa.and_(j.c.status == "running", j.c.lease_until < now),
        )
        earlier_unfinished = sa.exists().where(
            k.c.tenant_id == j.c.tenant_id,
            k.c.employee_id == j.c.employee_id,
            k.c.id < j.c.id,
            k.c.status.in_(s.UNFINISHED),
        )
        query = sa.select(j).where(runnable, ~earlier_unfinished)
        if exclude_tenants:
            query = query.where(j.c.tenant_id.not_in(list(exclude_tenants)))
        query = query.order_by(j.c.run_after, j.c.id).limit(1)
        return query.with_for_update(skip_locked=True, of=j)

    def finish_job(
        self,
        job: Job,
        *,
        status,
        outcome=None,
        reason=None,
        error=None,
        decision=None,
        run_after=None,
        refund_attempt=False,
    ) -> bool:
        """Move a running job on; False when this worker no longer holds it (lease lost)."""
        now = self.clock.now()
        values = dict(
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
        with self.transaction() as conn:
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

    def extend_lease(self, job: Job, lease_seconds: float) -> None:
        with self.transaction() as conn:
            conn.execute(
                s.jobs.update()
                .where(s.jobs.c.id == job.id, s.jobs.c.worker == job.worker)
                .values(lease_until=self.clock.now() + lease_seconds)
            )

    def record_attempt(self, job: Job, *, started_at, outcome, error, decision, calls) -> int:
        values = dict(
            job_id=job.id,
            number=job.attempts,
            worker=job.worker,
            started_at=started_at,
            finished_at=self.clock.now(),
            outcome=outcome,
            error=error,
            decision=json.dumps(decision, default=str) if decision is not None else None,
            calls=json.dumps(calls, default=str),
        )
        with self.transaction() as conn:
            return conn.execute(s.attempts.insert().values(**values)).inserted_primary_key[0]

    def requeue_failed(self, *, tenant_id=None, job_ids=None) -> list[int]:
        """Failed jobs back to queued (support's retry). Returns the ids requeued."""
        now = self.clock.now()
        query = sa.select(s.jobs.c.id, s.jobs.c.tenant_id, s.jobs.c.employee_id).where(
            s.jobs.c.status == "failed"
        )
        if tenant_id is not None:
            query = query.where(s.jobs.c.tenant_id == tenant_id)
        if job_ids:
            query = query.where(s.jobs.c.id.in_(list(job_ids)))
        requeued = []
        with self.transaction() as conn:
            for row in conn.execute(query.order_by(s.jobs.c.id)).all():
                if self._waiting_job(conn, row.tenant_id, row.employee_id) is not None:
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

    def queue_replay(self, delivery_id) -> int | None:
        """Queue a stored delivery again (support's replay): a fresh sync of that employee."""
        delivery = self.get_delivery(delivery_id)
        if delivery is None or not delivery.get("employee_id") or delivery["status"] == "rejected":
            return None
        meta = dict(event_type=delivery["event_type"], employee_id=delivery["employee_id"])
        with self.transaction() as conn:
            return self._queue_job(
                conn, delivery["tenant_id"], meta, delivery_id, 0, self.clock.now()
            )

    def get_job(self, job_id) -> Job | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(s.jobs).where(s.jobs.c.id == job_id)).first()
        return _row_to_job(row) if row else None

    def list_jobs(self, *, tenant_id=None, status=None, employee_id=None, limit=100) -> list[Job]:
        query = sa.select(s.jobs).order_by(s.jobs.c.id.desc()).limit(limit)
        if tenant_id is not None:
            query = query.where(s.jobs.c.tenant_id == tenant_id)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            query = query.where(s.jobs.c.status.in_(statuses))
        if employee_id is not None:
            query = query.where(s.jobs.c.employee_id == employee_id)
        with self.engine.connect() as conn:
            return [_row_to_job(r) for r in conn.execute(query)]

    def list_attempts(self, job_id) -> list[dict]:
        query = sa.select(s.attempts).where(s.attempts.c.job_id == job_id).order_by(s.attempts.c.id)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["calls"] = _loads(row["calls"], [])
            row["decision"] = _loads(row["decision"])
        return rows

    def count_jobs(self, tenant_id=None) -> dict[str, int]:
        query = sa.select(s.jobs.c.status, sa.func.count()).group_by(s.jobs.c.status)
        if tenant_id is not None:
            query = query.where(s.jobs.c.tenant_id == tenant_id)
        with self.engine.connect() as conn:
            return {status: n for status, n in conn.execute(query)}

    def next_due(self) -> float | None:
        query = sa.select(sa.func.min(s.jobs.c.run_after)).where(s.jobs.c.status.in_(s.WAITING))
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    # -- TH snapshots ----------------------------------------------------------------------

    def save_snapshot(self, tenant_id, employee_id, user_name, user, job_id) -> None:
        values = dict(
            user_name=user_name, user=json.dumps(user), job_id=job_id, updated_at=self.clock.now()
        )
        key = dict(tenant_id=tenant_id, employee_id=employee_id)
        with self.transaction() as conn:
            if not self._insert_ignore(conn, s.th_snapshots, {**key, **values}):
                conn.execute(
                    s.th_snapshots.update()
                    .where(
                        s.th_snapshots.c.tenant_id == tenant_id,
                        s.th_snapshots.c.employee_id == employee_id,
                    )
                    .values(**values)
                )

    def get_snapshot(self, tenant_id, employee_id) -> dict | None:
        query = sa.select(s.th_snapshots).where(
            s.th_snapshots.c.tenant_id == tenant_id, s.th_snapshots.c.employee_id == employee_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return {**dict(row._mapping), "user": json.loads(row.user)}

    # -- rate limits (GCRA; thsync.ratelimit holds the arithmetic) -------------------------

    def reserve_rate(self, key, decide) -> float:
        """Under a lock on the key's row, call decide(tat, blocked_until, now) ->
        (new_tat or None, wait). new_tat is written when not None. Returns wait."""
        now = self.clock.now()
        with self.transaction() as conn:
            self._insert_ignore(conn, s.rate_limits, dict(key=key, tat=0.0, blocked_until=0.0))
            row = conn.execute(
                sa.select(s.rate_limits).where(s.rate_limits.c.key == key).with_for_update()
            ).one()
            new_tat, wait = decide(row.tat, row.blocked_until, now)
            if new_tat is not None:
                conn.execute(
                    s.rate_limits.update().where(s.rate_limits.c.key == key).values(tat=new_tat)
                )
            return wait

    def block_rate(self, key, until) -> None:
        with self.transaction() as conn:
            if not self._insert_ignore(
                conn, s.rate_limits, dict(key=key, tat=0.0, blocked_until=until)
            ):
                conn.execute(
                    s.rate_limits.update()
                    .where(s.rate_limits.c.key == key, s.rate_limits.c.blocked_until < until)
                    .values(blocked_until=until)
                )

    def blocked_keys(self) -> dict[str, float]:
        now = self.clock.now()
        query = sa.select(s.rate_limits.c.key, s.rate_limits.c.blocked_until).where(
            s.rate_limits.c.blocked_until > now
        )
        with self.engine.connect() as conn:
            return {key: until for key, until in conn.execute(query)}

    # -- EH connection ---------------------------------------------------------------------

    def get_connection(self, tenant_id) -> dict | None:
        query = sa.select(s.eh_connections).where(s.eh_connections.c.tenant_id == tenant_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        data = dict(row._mapping)
        data["authorised_by"] = _loads(data["authorised_by"])
        return data

    def save_connection(self, tenant_id, conn=None, **values) -> None:
        values["updated_at"] = self.clock.now()
        if "authorised_by" in values and values["authorised_by"] is not None:
            values["authorised_by"] = json.dumps(values["authorised_by"])
        if conn is None:
            with self.transaction() as conn:
                return self._save_connection(conn, tenant_id, values)
        return self._save_connection(conn, tenant_id, values)

    def _save_connection(self, conn, tenant_id, values) -> None:
        row = {"tenant_id": tenant_id, "status": "connected", **values}
        if not self._insert_ignore(conn, s.eh_connections, row):
            conn.execute(
                s.eh_connections.update()
                .where(s.eh_connections.c.tenant_id == tenant_id)
                .values(**values)
            )

    @contextmanager
    def locked_connection(self, tenant_id):
        """The tenant's connection row under a lock held across processes, for token refresh."""
        with self.transaction() as conn:
            query = (
                sa.select(s.eh_connections)
                .where(s.eh_connections.c.tenant_id == tenant_id)
                .with_for_update()
            )
            row = conn.execute(query).first()
            yield conn, (dict(row._mapping) if row else None)

    def save_oauth_state(self, state, tenant_id, verifier) -> None:
        with self.transaction() as conn:
            conn.execute(
                s.oauth_states.insert().values(
                    state=state, tenant_id=tenant_id, verifier=verifier, created_at=self.clock.now()
                )
            )

    def pop_oauth_state(self, state, max_age) -> dict | None:
        """Single use: the state row is deleted as it is read."""
        with self.transaction() as conn:
            query = (
                sa.select(s.oauth_states).where(s.oauth_states.c.state == state).with_for_update()
            )
            row = conn.execute(query).first()
            if row is None:
                return None
            conn.execute(s.oauth_states.delete().where(s.oauth_states.c.state == state))
        if self.clock.now() - row.created_at > max_age:
            return None
        return dict(row._mapping)

    # -- dashboard summaries --------------------------------------------------------------

    def last_delivery_at(self, tenant_id) -> float | None:
        query = sa.select(sa.func.max(s.deliveries.c.received_at)).where(
            s.deliveries.c.tenant_id == tenant_id
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()
