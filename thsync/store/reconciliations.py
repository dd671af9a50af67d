"""Reconciliation runs and their drift reports."""

from typing import Any

import sqlalchemy as sa

from thsync.store import schema as s
from thsync.store.database import Repository, dumps, inserted_id, loads


def _reconciliation(row: sa.Row[Any]) -> dict[str, Any]:
    data = dict(row._mapping)
    data["summary"] = loads(data["summary"], {})
    data["report"] = loads(data["report"], {})
    return data


class Reconciliations(Repository):
    def start(self, tenant_id: str, *, dry_run: bool, trigger: str) -> int:
        values = dict(
            tenant_id=tenant_id,
            started_at=self.clock.now(),
            status="running",
            dry_run=dry_run,
            trigger=trigger,
        )
        with self.db.transaction() as conn:
            return inserted_id(conn.execute(s.reconciliations.insert().values(**values)))

    def finish(
        self,
        rec_id: int,
        *,
        status: str,
        summary: object,
        report: object,
        error: str | None = None,
    ) -> None:
        values = dict(
            finished_at=self.clock.now(),
            status=status,
            summary=dumps(summary),
            report=dumps(report),
            error=error,
        )
        with self.db.transaction() as conn:
            conn.execute(
                s.reconciliations.update().where(s.reconciliations.c.id == rec_id).values(**values)
            )

    def get(self, rec_id: int) -> dict[str, Any] | None:
        t = s.reconciliations
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.id == rec_id)).first()
        return _reconciliation(row) if row else None

    def find(self, tenant_id: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        t = s.reconciliations
        query = sa.select(t).order_by(t.c.id.desc()).limit(limit)
        if tenant_id is not None:
            query = query.where(t.c.tenant_id == tenant_id)
        with self.db.engine.connect() as conn:
            return [_reconciliation(r) for r in conn.execute(query)]
