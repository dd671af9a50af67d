"""Reconciliation runs and their drift reports."""

import sqlalchemy as sa

from thsync.store import schema as s
from thsync.store.database import Repository, dumps, loads


def _reconciliation(row) -> dict:
    data = dict(row._mapping)
    data["summary"] = loads(data["summary"], {})
    data["report"] = loads(data["report"], {})
    return data


class Reconciliations(Repository):
    def start(self, tenant_id, *, dry_run: bool, trigger: str) -> int:
        values = dict(
            tenant_id=tenant_id,
            started_at=self.clock.now(),
            status="running",
            dry_run=dry_run,
            trigger=trigger,
        )
        with self.db.transaction() as conn:
            return conn.execute(s.reconciliations.insert().values(**values)).inserted_primary_key[0]

    def finish(self, rec_id, *, status, summary, report, error=None) -> None:
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

    def get(self, rec_id) -> dict | None:
        t = s.reconciliations
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.id == rec_id)).first()
        return _reconciliation(row) if row else None

    def find(self, tenant_id=None, limit=20) -> list[dict]:
        t = s.reconciliations
        query = sa.select(t).order_by(t.c.id.desc()).limit(limit)
        if tenant_id is not None:
            query = query.where(t.c.tenant_id == tenant_id)
        with self.db.engine.connect() as conn:
            return [_reconciliation(r) for r in conn.execute(query)]
