"""Grouped alerts per tenant and cause."""

from typing import Any

import sqlalchemy as sa

from thsync.store import schema as s
from thsync.store.database import Repository, inserted_id


class Alerts(Repository):
    def open(self, tenant_id: str, cause: str) -> dict[str, Any] | None:
        t = s.alerts
        return self.db.one(
            sa.select(t).where(t.c.tenant_id == tenant_id, t.c.cause == cause, t.c.status == "open")
        )

    def open_for(self, tenant_id: str, prefix: str = "") -> list[dict[str, Any]]:
        t = s.alerts
        query = sa.select(t).where(t.c.tenant_id == tenant_id, t.c.status == "open")
        if prefix:
            query = query.where(t.c.cause.startswith(prefix))
        return self.db.all(query)

    def count(self, tenant_id: str, cause: str, detail: str | None) -> dict[str, Any]:
        """One more occurrence of a cause: the open alert's counters go up (or one opens)."""
        t = s.alerts
        now = self.clock.now()
        with self.db.transaction() as conn:
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
                alert_id = inserted_id(conn.execute(t.insert().values(**values)))
                return {"id": alert_id, **values, "last_sent_at": None}
            update = dict(
                unsent=row.unsent + 1, total=row.total + 1, detail=detail, last_seen_at=now
            )
            conn.execute(t.update().where(t.c.id == row.id).values(**update))
            return {**dict(row._mapping), **update}

    def sent(self, alert_id: int) -> None:
        t = s.alerts
        with self.db.transaction() as conn:
            conn.execute(
                t.update().where(t.c.id == alert_id).values(unsent=0, last_sent_at=self.clock.now())
            )

    def resolve(self, alert_id: int) -> None:
        t = s.alerts
        with self.db.transaction() as conn:
            conn.execute(
                t.update()
                .where(t.c.id == alert_id)
                .values(status="resolved", resolved_at=self.clock.now())
            )

    def claim_repeat(self, alert_id: int, before: float) -> bool:
        """Take the grouped e-mail of an alert; only one process sees True."""
        t = s.alerts
        with self.db.transaction() as conn:
            result = conn.execute(
                t.update()
                .where(t.c.id == alert_id, t.c.unsent > 0, t.c.last_sent_at < before)
                .values(last_sent_at=self.clock.now())
            )
            return result.rowcount == 1

    def due(self, before: float) -> list[dict[str, Any]]:
        """Open alerts with repeats not yet told, whose last e-mail is older than `before`."""
        t = s.alerts
        return self.db.all(
            sa.select(t).where(t.c.status == "open", t.c.unsent > 0, t.c.last_sent_at < before)
        )
