"""What support set for a tenant at run time: its mode and checklist marks."""

from typing import Any

import sqlalchemy as sa

from thsync.store import schema as s
from thsync.store.database import Repository


class TenantState(Repository):
    def get_mode(self, tenant_id: str) -> dict[str, Any] | None:
        return self.db.one(sa.select(s.tenant_modes).where(s.tenant_modes.c.tenant_id == tenant_id))

    def set_mode(self, tenant_id: str, mode: str, changed_by: str) -> None:
        t = s.tenant_modes
        now = self.clock.now()
        values: dict[str, Any] = dict(mode=mode, changed_by=changed_by, changed_at=now)
        if mode == "shadow":
            values["shadow_since"] = now
        with self.db.transaction() as conn:
            if not self.db.insert_ignore(conn, t, dict(tenant_id=tenant_id, **values)):
                conn.execute(t.update().where(t.c.tenant_id == tenant_id).values(**values))

    def tenants_in_mode(self, mode: str) -> list[str]:
        t = s.tenant_modes
        with self.db.engine.connect() as conn:
            return list(conn.execute(sa.select(t.c.tenant_id).where(t.c.mode == mode)).scalars())

    def checklist_marks(self, tenant_id: str) -> dict[str, dict[str, Any]]:
        t = s.checklist_marks
        rows = self.db.all(sa.select(t).where(t.c.tenant_id == tenant_id))
        return {row["item"]: row for row in rows}

    def mark_item(self, tenant_id: str, item: str, marked_by: str, not_applicable: bool) -> None:
        t = s.checklist_marks
        with self.db.transaction() as conn:
            conn.execute(t.delete().where(t.c.tenant_id == tenant_id, t.c.item == item))
            if not_applicable:
                conn.execute(
                    t.insert().values(
                        tenant_id=tenant_id,
                        item=item,
                        marked_by=marked_by,
                        marked_at=self.clock.now(),
                    )
                )
