"""What TH holds for each person, as last written or read (snapshots)."""

import json
from typing import Any

import sqlalchemy as sa

from thsync.store import schema as s
from thsync.store.database import Repository, loads


class People(Repository):
    def save(
        self,
        tenant_id: str,
        employee_id: str,
        user_name: str | None,
        user: dict[str, Any],
        job_id: int | None,
    ) -> None:
        values = dict(
            user_name=user_name, user=json.dumps(user), job_id=job_id, updated_at=self.clock.now()
        )
        key = dict(tenant_id=tenant_id, employee_id=employee_id)
        with self.db.transaction() as conn:
            if not self.db.insert_ignore(conn, s.th_snapshots, {**key, **values}):
                conn.execute(
                    s.th_snapshots.update()
                    .where(
                        s.th_snapshots.c.tenant_id == tenant_id,
                        s.th_snapshots.c.employee_id == employee_id,
                    )
                    .values(**values)
                )

    def get(self, tenant_id: str, employee_id: str) -> dict[str, Any] | None:
        query = sa.select(s.th_snapshots).where(
            s.th_snapshots.c.tenant_id == tenant_id, s.th_snapshots.c.employee_id == employee_id
        )
        with self.db.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return {**dict(row._mapping), "user": json.loads(row.user)}

    def by_employee(self, tenant_id: str) -> dict[str, dict[str, Any]]:
        """employee id -> {user_name, user} as last written to TH."""
        t = s.th_snapshots
        query = sa.select(t.c.employee_id, t.c.user_name, t.c.user)
        query = query.where(t.c.tenant_id == tenant_id)
        with self.db.engine.connect() as conn:
            return {
                r.employee_id: {"user_name": r.user_name, "user": loads(r.user, {})}
                for r in conn.execute(query)
            }

    def find(self, tenant_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        t = s.th_snapshots
        return self.db.all(sa.select(t).where(t.c.tenant_id == tenant_id).limit(limit))

    def active_count(self, tenant_id: str) -> int:
        """Active TH users as last written or read (the burst check's denominator: listing
        the whole portal on every leaver would cost more calls than the budget allows)."""
        return sum(
            1 for snap in self.by_employee(tenant_id).values() if snap["user"].get("active") is True
        )
