"""Call budgets shared by every worker process, kept in the database.

GCRA (the "generic cell rate algorithm"): each key keeps one number, the theoretical arrival
time (TAT) of the next call. A call is allowed when TAT - now <= burst tolerance, and moves TAT
on by one emission interval. A 429 sets `blocked_until`, and nobody calls the key before.

What the services count is calls in a rolling window: TH at most 300 in any 60 s, EH at most 100
in any 60 s and 20 in any second. GCRA with an emission interval T and a burst of B calls
(tolerance (B - 1) × T) lets calls i < j through only if t_j - t_i >= (j - i) × T - (B - 1) × T
(less SLACK). With T = window / (limit - B), n calls inside one closed window need
(n - 1 - (B - 1)) × T <= window + SLACK, so n <= limit: no window of that length ever holds more
than `limit` calls, whatever the pattern of arrivals, while the sustained rate is limit - B.
Two windows (EH's minute and second) are two rows, reserved together or not at all.
"""

from collections.abc import Callable, Mapping
from typing import Protocol

from thsync.core.clock import Clock
from thsync.core.errors import RateLimited

BURST = 5
SLACK = 0.001  # seconds; epoch floats are too coarse for exact comparisons
SECOND_SUFFIX = "/s"  # the row of a key's one-second window

# (tat, blocked_until, now) -> (new_tat, or None to leave the row as it is; seconds to wait)
Step = Callable[[float, float, float], tuple[float | None, float]]


class BudgetStore(Protocol):
    """Where the budgets are kept (thsync.store.budgets.Budgets)."""

    def reserve(self, key: str, decide: Step) -> float: ...

    def reserve_all(self, steps: Mapping[str, Step]) -> float: ...

    def block(self, key: str, until: float) -> None: ...

    def blocked(self) -> dict[str, float]: ...


def window_step(limit: int, window: float, burst: int = BURST) -> Step:
    """The pure GCRA step for at most `limit` calls in any `window` seconds."""
    limit = max(limit, 1)
    burst = max(min(burst, limit - 1), 1)
    if limit == 1:  # no burst left to give: one call a window, and a hair more
        interval, tolerance = window + 2 * SLACK, 0.0
    else:
        interval = window / (limit - burst)
        tolerance = (burst - 1) * interval

    def step(tat: float, blocked_until: float, now: float) -> tuple[float | None, float]:
        if blocked_until > now:
            return None, blocked_until - now
        tat = max(tat, now)
        if tat - now > tolerance + SLACK:
            return None, tat - tolerance - now
        return tat + interval, 0.0

    return step


def decide(per_minute: int, burst: int = BURST) -> Step:
    """The step for at most `per_minute` calls in any 60 s (sustained per_minute - burst)."""
    return window_step(per_minute, 60.0, burst)


class Limiter:
    """acquire() waits (through the clock) when the wait is short, else raises RateLimited."""

    def __init__(self, budgets: BudgetStore, clock: Clock, max_wait: float = 5.0) -> None:
        self.budgets = budgets
        self.clock = clock
        self.max_wait = max_wait

    def acquire(self, key: str, per_minute: int, per_second: int | None = None) -> None:
        """Take one call slot of `key`: at most per_minute in any 60 s and, when given,
        per_second in any 1 s. The figures are the caller's, call by call."""
        steps = {key: decide(per_minute)}
        if per_second is not None:
            steps[key + SECOND_SUFFIX] = window_step(per_second, 1.0)
        while True:
            wait = self.budgets.reserve_all(steps)
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
