"""Reconciliation runs and their drift reports, and the lock that keeps them one at a time."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from thsync.store import locks
from thsync.store import schema as s
from thsync.store.database import Repository, dumps, inserted_id, loads

DIED = "stopped mid-run: the process running it ended before it finished"


def _reconciliation(row: sa.Row[Any]) -> dict[str, Any]:
    data = dict(row._mapping)
    data["summary"] = loads(data["summary"], {})
    data["report"] = loads(data["report"], {})
    return data


class Reconciliations(Repository):
    @contextmanager
    def exclusive(self, tenant_id: str) -> Iterator[bool]:
        """Hold the tenant's reconciliation lock for a whole run (across processes); yields
        False when another run holds it. A run that dies lets it go with its process."""
        with locks.held(self.db, locks.RECONCILE, tenant_id) as ours:
            yield ours

    def running(self, tenant_id: str) -> dict[str, Any] | None:
        """The tenant's latest run still marked running."""
        t = s.reconciliations
        query = sa.select(t).where(t.c.tenant_id == tenant_id, t.c.status == "running")
        with self.db.engine.connect() as conn:
            row = conn.execute(query.order_by(t.c.id.desc()).limit(1)).first()
        return _reconciliation(row) if row else None

    def start(self, tenant_id: str, *, dry_run: bool, trigger: str) -> int:
        """Record a run that starts now. Called under `exclusive`, so a run of this tenant still
        marked running is one whose process died: it is marked failed first."""
        t, now = s.reconciliations, self.clock.now()
        died = t.update().where(t.c.tenant_id == tenant_id, t.c.status == "running")
        values = dict(
            tenant_id=tenant_id,
            started_at=now,
            status="running",
            dry_run=dry_run,
            trigger=trigger,
        )
        with self.db.transaction() as conn:
            conn.execute(died.values(status="failed", finished_at=now, error=DIED))
            return inserted_id(conn.execute(t.insert().values(**values)))

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
