"""Call budgets shared by every worker process, kept in the database.

GCRA (the "generic cell rate algorithm"): each key keeps one number, the theoretical arrival
time (TAT) of the next call. A call is allowed when TAT - now <= burst tolerance, and moves TAT
on by one emission interval. The rate is lowered by the burst so that no sliding minute ever
holds more than `per_minute` calls. A 429 sets `blocked_until`, and nobody calls the key before.
"""

from collections.abc import Callable
from typing import Protocol

from thsync.core.clock import Clock
from thsync.core.errors import RateLimited

BURST = 5
SLACK = 0.001  # seconds; epoch floats are too coarse for exact comparisons

# (tat, blocked_until, now) -> (new_tat, or None to leave the row as it is; seconds to wait)
Step = Callable[[float, float, float], tuple[float | None, float]]


class BudgetStore(Protocol):
    """Where the budgets are kept (thsync.store.budgets.Budgets)."""

    def reserve(self, key: str, decide: Step) -> float: ...

    def block(self, key: str, until: float) -> None: ...

    def blocked(self) -> dict[str, float]: ...


def decide(per_minute: int, burst: int = BURST) -> Step:
    """The pure GCRA step for one call: (tat, blocked_until, now) -> (new_tat | None, wait)."""
    interval = 60.0 / max(per_minute - burst, 1)
    tolerance = (burst - 1) * interval

    def step(tat: float, blocked_until: float, now: float) -> tuple[float | None, float]:
        if blocked_until > now:
            return None, blocked_until - now
        tat = max(tat, now)
        if tat - now > tolerance + SLACK:
            return None, tat - tolerance - now
        return tat + interval, 0.0

    return step


class Limiter:
    """acquire() waits (through the clock) when the wait is short, else raises RateLimited."""

    def __init__(self, budgets: BudgetStore, clock: Clock, max_wait: float = 5.0) -> None:
        self.budgets = budgets
        self.clock = clock
        self.max_wait = max_wait

    def acquire(self, key: str, per_minute: int) -> None:
        step = decide(per_minute)
        while True:
            wait = self.budgets.reserve(key, step)
            if wait <= 0:
                return
            if wait > self.max_wait:
                raise RateLimited(
                    f"call budget for {key} is spent; next slot in {wait:.0f} s", retry_after=wait
                )
            self.clock.sleep(wait)

    def block(self, key: str, seconds: float) -> None:
        self.budgets.block(key, self.clock.now() + seconds)

    def blocked_until(self) -> dict[str, float]:
        return self.budgets.blocked()
