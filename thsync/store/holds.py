"""Actions held for support: mass deactivations and user_name changes."""

from typing import Any

import sqlalchemy as sa

from thsync.store import schema as s
from thsync.store.database import Repository, dumps, inserted_id, loads


def _hold(row: sa.Row[Any]) -> dict[str, Any]:
    data = dict(row._mapping)
    data["items"] = loads(data["items"], [])
    data["resolution"] = loads(data["resolution"])
    return data


class Holds(Repository):
    def hold(
        self,
        tenant_id: str,
        kind: str,
        reason: str,
        items: list[Any],
        employee_id: str | None = None,
    ) -> int:
        """Keep actions for support; a person already held for the same kind is not held twice."""
        now = self.clock.now()
        with self.db.transaction() as conn:
            existing = self._open(conn, tenant_id, kind, employee_id)
            if existing is not None and employee_id is not None:
                return existing.id
            values = dict(
                tenant_id=tenant_id,
                kind=kind,
                employee_id=employee_id,
                status="held",
                reason=reason,
                items=dumps(items),
                created_at=now,
            )
            return inserted_id(conn.execute(s.holds.insert().values(**values)))

    def _open(
        self, conn: sa.Connection, tenant_id: str, kind: str, employee_id: str | None = None
    ) -> sa.Row[Any] | None:
        t = s.holds
        query = sa.select(t).where(
            t.c.tenant_id == tenant_id, t.c.kind == kind, t.c.status == "held"
        )
        if employee_id is not None:
            query = query.where(t.c.employee_id == employee_id)
        return conn.execute(query.order_by(t.c.id)).first()

    def open(
        self, tenant_id: str, kind: str, employee_id: str | None = None
    ) -> dict[str, Any] | None:
        with self.db.engine.connect() as conn:
            row = self._open(conn, tenant_id, kind, employee_id)
        return _hold(row) if row else None

    def add(self, hold_id: int, item: Any) -> None:
        with self.db.transaction() as conn:
            t = s.holds
            row = conn.execute(sa.select(t.c["items"]).where(t.c.id == hold_id).with_for_update())
            items = loads(row.scalar(), []) + [item]
            conn.execute(t.update().where(t.c.id == hold_id).values(items=dumps(items)))

    def get(self, hold_id: int) -> dict[str, Any] | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(s.holds).where(s.holds.c.id == hold_id)).first()
        return _hold(row) if row else None

    def find(
        self, tenant_id: str | None = None, status: str | None = "held"
    ) -> list[dict[str, Any]]:
        t = s.holds
        query = sa.select(t).order_by(t.c.id)
        if tenant_id is not None:
            query = query.where(t.c.tenant_id == tenant_id)
        if status is not None:
            query = query.where(t.c.status == status)
        with self.db.engine.connect() as conn:
            return [_hold(r) for r in conn.execute(query)]

    def resolve(self, hold_id: int, status: str, resolution: object) -> bool:
        """held -> released | discarded, once: False when someone else already decided."""
        t = s.holds
        with self.db.transaction() as conn:
            result = conn.execute(
                t.update()
                .where(t.c.id == hold_id, t.c.status == "held")
                .values(status=status, resolved_at=self.clock.now(), resolution=dumps(resolution))
            )
            return result.rowcount == 1
