"""Dashboard sessions, customers' sign-in links and failed sign-ins."""

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from thsync.store import schema as s
from thsync.store.database import Repository


class Access(Repository):
    def start_session(
        self,
        id_hash: str,
        *,
        kind: str,
        subject: str,
        tenant_id: str | None,
        link_id: str | None,
        lifetime: float,
    ) -> None:
        now = self.clock.now()
        values = dict(
            id_hash=id_hash,
            kind=kind,
            subject=subject,
            tenant_id=tenant_id,
            link_id=link_id,
            created_at=now,
            expires_at=now + lifetime,
        )
        with self.db.transaction() as conn:
            conn.execute(s.web_sessions.insert().values(**values))

    def live_session(self, id_hash: str) -> dict[str, Any] | None:
        t = s.web_sessions
        return self.db.one(
            sa.select(t).where(
                t.c.id_hash == id_hash, t.c.ended_at.is_(None), t.c.expires_at > self.clock.now()
            )
        )

    def end_session(self, id_hash: str) -> None:
        t = s.web_sessions
        with self.db.transaction() as conn:
            conn.execute(
                t.update()
                .where(t.c.id_hash == id_hash, t.c.ended_at.is_(None))
                .values(ended_at=self.clock.now())
            )

    def create_link(
        self, link_id: str, tenant_id: str, email: str, created_by: str, lifetime: float
    ) -> dict[str, Any]:
        now = self.clock.now()
        values = dict(
            id=link_id,
            tenant_id=tenant_id,
            email=email,
            created_by=created_by,
            created_at=now,
            expires_at=now + lifetime,
        )
        with self.db.transaction() as conn:
            conn.execute(s.signin_links.insert().values(**values))
        return values

    def get_link(self, link_id: str) -> dict[str, Any] | None:
        return self.db.one(sa.select(s.signin_links).where(s.signin_links.c.id == link_id))

    def use_link(self, link_id: str) -> bool:
        """Single use: only the first caller sees True, however many race for it."""
        t = s.signin_links
        now = self.clock.now()
        with self.db.transaction() as conn:
            result = conn.execute(
                t.update()
                .where(t.c.id == link_id, t.c.used_at.is_(None), t.c.expires_at > now)
                .values(used_at=now)
            )
            return result.rowcount == 1

    def list_links(self, tenant_id: str, limit: int = 20) -> list[dict[str, Any]]:
        t = s.signin_links
        query = sa.select(t).where(t.c.tenant_id == tenant_id)
        return self.db.all(query.order_by(t.c.created_at.desc()).limit(limit))

    def record_failure(self, keys: Iterable[str]) -> None:
        now = self.clock.now()
        with self.db.transaction() as conn:
            for key in keys:
                conn.execute(s.signin_failures.insert().values(key=key, failed_at=now))

    def recent_failures(self, key: str, window: float) -> int:
        t = s.signin_failures
        query = sa.select(sa.func.count()).where(
            t.c.key == key, t.c.failed_at > self.clock.now() - window
        )
        with self.db.engine.connect() as conn:
            return conn.execute(query).scalar_one()
