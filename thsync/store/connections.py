"""The tenant's HR-source connection (tokens, organisation) and OAuth states."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from thsync.store import schema as s
from thsync.store.database import Repository, loads


class Connections(Repository):
    def get(self, tenant_id: str) -> dict[str, Any] | None:
        query = sa.select(s.eh_connections).where(s.eh_connections.c.tenant_id == tenant_id)
        with self.db.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        data = dict(row._mapping)
        data["authorised_by"] = loads(data["authorised_by"])
        return data

    def save(self, tenant_id: str, conn: sa.Connection | None = None, **values: Any) -> None:
        values["updated_at"] = self.clock.now()
        if "authorised_by" in values and values["authorised_by"] is not None:
            values["authorised_by"] = json.dumps(values["authorised_by"])
        if conn is None:
            with self.db.transaction() as conn:
                return self._save(conn, tenant_id, values)
        return self._save(conn, tenant_id, values)

    def _save(self, conn: sa.Connection, tenant_id: str, values: dict[str, Any]) -> None:
        row = {"tenant_id": tenant_id, "status": "connected", **values}
        if not self.db.insert_ignore(conn, s.eh_connections, row):
            conn.execute(
                s.eh_connections.update()
                .where(s.eh_connections.c.tenant_id == tenant_id)
                .values(**values)
            )

    @contextmanager
    def locked(self, tenant_id: str) -> Iterator[tuple[sa.Connection, dict[str, Any] | None]]:
        """The tenant's connection row under a lock held across processes, for token refresh."""
        with self.db.transaction() as conn:
            query = (
                sa.select(s.eh_connections)
                .where(s.eh_connections.c.tenant_id == tenant_id)
                .with_for_update()
            )
            row = conn.execute(query).first()
            yield conn, (dict(row._mapping) if row else None)

    def save_oauth_state(self, state: str, tenant_id: str, verifier: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                s.oauth_states.insert().values(
                    state=state, tenant_id=tenant_id, verifier=verifier, created_at=self.clock.now()
                )
            )

    def pop_oauth_state(self, state: str, max_age: float) -> dict[str, Any] | None:
        """Single use: the state row is deleted as it is read."""
        with self.db.transaction() as conn:
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
