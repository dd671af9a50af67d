"""Rate budgets per key (GCRA state and 429 blocks), shared by every process."""

from collections.abc import Mapping

import sqlalchemy as sa

from thsync.core.ratelimit import Step
from thsync.store import schema as s
from thsync.store.database import Repository


class Budgets(Repository):
    def reserve(self, key: str, decide: Step) -> float:
        """Under a lock on the key's row, call decide(tat, blocked_until, now) ->
        (new_tat or None, wait). new_tat is written when not None. Returns wait."""
        return self.reserve_all({key: decide})

    def reserve_all(self, steps: Mapping[str, Step]) -> float:
        """reserve() for several keys at once (a key's minute and second windows): under locks
        on every row, taken in key order so two processes cannot deadlock. The slots are taken
        only when every step allows the call; else nothing is written and the longest wait is
        returned."""
        now = self.clock.now()
        with self.db.transaction() as conn:
            decided: list[tuple[str, float | None]] = []
            longest = 0.0
            for key in sorted(steps):
                self.db.insert_ignore(
                    conn, s.rate_limits, dict(key=key, tat=0.0, blocked_until=0.0)
                )
                row = conn.execute(
                    sa.select(s.rate_limits).where(s.rate_limits.c.key == key).with_for_update()
                ).one()
                new_tat, wait = steps[key](row.tat, row.blocked_until, now)
                decided.append((key, new_tat))
                longest = max(longest, wait)
            if longest > 0:
                return longest
            for key, new_tat in decided:
                if new_tat is not None:
                    conn.execute(
                        s.rate_limits.update().where(s.rate_limits.c.key == key).values(tat=new_tat)
                    )
            return 0.0

    def block(self, key: str, until: float) -> None:
        with self.db.transaction() as conn:
            if not self.db.insert_ignore(
                conn, s.rate_limits, dict(key=key, tat=0.0, blocked_until=until)
            ):
                conn.execute(
                    s.rate_limits.update()
                    .where(s.rate_limits.c.key == key, s.rate_limits.c.blocked_until < until)
                    .values(blocked_until=until)
                )

    def blocked(self) -> dict[str, float]:
        now = self.clock.now()
        query = sa.select(s.rate_limits.c.key, s.rate_limits.c.blocked_until).where(
            s.rate_limits.c.blocked_until > now
        )
        with self.db.engine.connect() as conn:
            return {key: until for key, until in conn.execute(query)}
