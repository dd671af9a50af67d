"""Webhook deliveries: accepted, duplicate and rejected, as EH sent them."""

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa

from thsync.store import schema as s
from thsync.store.database import (
    Database,
    Repository,
    StoreUnavailable,
    begin_with_naps,
    inserted_id,
)
from thsync.store.groupcommit import GroupCommit
from thsync.store.states import DeliveryStatus

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


@dataclass
class Accepted:
    delivery_id: int
    duplicate: bool
    job_id: int | None


class Deliveries(Repository):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._accept_statement = (
            db.insert(s.deliveries).on_conflict_do_nothing().returning(s.deliveries.c.id)
        )
        self._intake_driver: sqlite3.Connection | None = None
        if db.dialect == "sqlite":
            compiled = self._accept_statement.compile(
                dialect=db.engine.dialect, column_keys=ACCEPT_KEYS
            )
            keys = compiled.positiontup
            assert keys is not None  # SQLite's parameters are positional
            self._accept_sqlite = (compiled.string, keys)
            self._intake_writes = GroupCommit(self._insert_batch_on_sqlite)

    def close(self) -> None:
        if self.db.sqlite_writes is not None and self._intake_driver is not None:
            with self.db.sqlite_writes:
                self._intake_driver.close()
                self._intake_driver = None

    def record_rejected(
        self,
        tenant_id: str,
        *,
        http_status: int,
        headers: Mapping[str, str],
        body: str | None,
        body_size: int,
        error: str,
    ) -> int:
        """Keep a delivery we refused, so support can see what EH sent and why it was refused."""
        values = dict(
            tenant_id=tenant_id,
            received_at=self.clock.now(),
            status=DeliveryStatus.REJECTED,
            http_status=http_status,
            headers=json.dumps(headers),
            body=body,
            body_size=body_size,
            error=error,
        )
        try:
            with self.db.transaction() as conn:
                return inserted_id(conn.execute(s.deliveries.insert().values(**values)))
        except sa.exc.SQLAlchemyError as exc:
            raise StoreUnavailable(str(exc)) from exc

    def accept(
        self, tenant_id: str, *, headers: Mapping[str, str], body: str, meta: Mapping[str, Any]
    ) -> Accepted:
        """Store a valid delivery: one INSERT, deduplicated by the partial unique index on
        (tenant_id, dedup_key). The dispatcher queues its job later, off the request path."""
        values = {
            "tenant_id": tenant_id,
            "received_at": self.clock.now(),
            "status": DeliveryStatus.ACCEPTED,
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
            if self.db.sqlite_writes is not None:
                delivery_id = self._insert_on_sqlite(values)
                if delivery_id is not None:
                    return Accepted(delivery_id, False, None)
            with self.db.transaction() as conn:
                delivery_id = conn.execute(self._accept_statement, values).scalar()
                if delivery_id is not None:
                    return Accepted(delivery_id, False, None)
                return self._record_duplicate(conn, values)
        except (sa.exc.SQLAlchemyError, sqlite3.Error) as exc:
            raise StoreUnavailable(str(exc)) from exc

    def _insert_on_sqlite(self, values: dict[str, Any]) -> int | None:
        """The intake's INSERT, group-committed (thsync.groupcommit) on the driver connection:
        the same compiled statement without SQLAlchemy's per-execution machinery, which costs
        more than the write itself on SQLite and sits on the path EH waits on. None for a
        duplicate (the general path records it)."""
        return self._intake_writes.submit(values)

    def _insert_batch_on_sqlite(self, batch: list[dict[str, Any]]) -> list[int | None]:
        sql, keys = self._accept_sqlite
        assert self.db.sqlite_writes is not None  # group commit is for SQLite only
        with self.db.sqlite_writes:
            driver = self._intake_connection()
            begin_with_naps(driver)
            try:
                rows = [driver.execute(sql, [v[key] for key in keys]).fetchone() for v in batch]
                driver.execute("COMMIT")
            except BaseException:
                driver.execute("ROLLBACK")
                raise
        return [row[0] if row else None for row in rows]

    def _intake_connection(self) -> sqlite3.Connection:
        """One driver connection per process for intake writes: only the group-commit leader
        uses it, one at a time, so it needs no pool."""
        if self._intake_driver is None:
            proxy = self.db.engine.raw_connection()
            driver = cast(sqlite3.Connection, proxy.driver_connection)
            proxy.detach()  # ours for the life of the store; closed by dispose()
            # It only ever writes under the retried BEGIN IMMEDIATE: no busy waits in SQLite.
            driver.execute("PRAGMA busy_timeout=0")
            self._intake_driver = driver
        return self._intake_driver

    def _record_duplicate(self, conn: sa.Connection, values: dict[str, Any]) -> Accepted:
        first = conn.execute(
            sa.select(s.deliveries.c.id).where(
                s.deliveries.c.tenant_id == values["tenant_id"],
                s.deliveries.c.dedup_key == values["dedup_key"],
                s.deliveries.c.status == DeliveryStatus.ACCEPTED,
            )
        ).scalar_one()
        duplicate = {
            **values,
            "status": DeliveryStatus.DUPLICATE,
            "http_status": 200,
            "duplicate_of": first,
        }
        delivery_id = inserted_id(conn.execute(s.deliveries.insert(), duplicate))
        return Accepted(delivery_id, True, None)

    def get(self, delivery_id: int) -> dict[str, Any] | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(
                sa.select(s.deliveries).where(s.deliveries.c.id == delivery_id)
            ).first()
        return dict(row._mapping) if row else None

    def find(
        self, tenant_id: str | None = None, limit: int = 50, job_id: int | None = None
    ) -> list[dict[str, Any]]:
        query = sa.select(s.deliveries).order_by(s.deliveries.c.id.desc()).limit(limit)
        if tenant_id is not None:
            query = query.where(s.deliveries.c.tenant_id == tenant_id)
        if job_id is not None:
            query = query.where(s.deliveries.c.job_id == job_id)
        with self.db.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def last_received_at(self, tenant_id: str) -> float | None:
        query = sa.select(sa.func.max(s.deliveries.c.received_at)).where(
            s.deliveries.c.tenant_id == tenant_id
        )
        with self.db.engine.connect() as conn:
            return conn.execute(query).scalar()

    def count_since(self, tenant_id: str, since: float) -> int:
        d = s.deliveries
        query = sa.select(sa.func.count()).where(
            d.c.tenant_id == tenant_id, d.c.received_at >= since
        )
        with self.db.engine.connect() as conn:
            return conn.execute(query).scalar_one()
