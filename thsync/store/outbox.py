"""E-mails waiting to be sent, claimed and retried by the worker."""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from thsync.store import schema as s
from thsync.store.database import Repository, inserted_id


class Outbox(Repository):
    def queue(self, tenant_id: str, subject: str, body: str, recipients: Sequence[str]) -> int:
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
        with self.db.transaction() as conn:
            return inserted_id(conn.execute(s.alert_outbox.insert().values(**values)))

    def claim(self, lease: float, limit: int = 20) -> list[dict[str, Any]]:
        """E-mails due, each taken by one process: its next try moves `lease` seconds on, so
        workers in other processes skip it while this one sends."""
        t = s.alert_outbox
        now = self.clock.now()
        query = (
            sa.select(t)
            .where(t.c.sent_at.is_(None), t.c.next_try_at <= now)
            .order_by(t.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self.db.transaction() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
            ids = [row["id"] for row in rows]
            if ids:
                conn.execute(t.update().where(t.c.id.in_(ids)).values(next_try_at=now + lease))
        for row in rows:
            row["recipients"] = json.loads(row["recipients"])
        return rows

    def done(self, mail_id: int, *, error: str | None = None, retry_in: float = 0.0) -> None:
        t = s.alert_outbox
        now = self.clock.now()
        values: dict[str, Any] = dict(attempts=t.c.attempts + 1, last_error=error)
        if error is None:
            values["sent_at"] = now
        else:
            values["next_try_at"] = now + retry_in
        with self.db.transaction() as conn:
            conn.execute(t.update().where(t.c.id == mail_id).values(**values))

    def find(self, tenant_id: str | None = None) -> list[dict[str, Any]]:
        t = s.alert_outbox
        query = sa.select(t).order_by(t.c.id)
        if tenant_id is not None:
            query = query.where(t.c.tenant_id == tenant_id)
        return self.db.all(query)
