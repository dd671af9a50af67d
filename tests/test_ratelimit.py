"""The shared call budget: GCRA arithmetic as a table, then the limiter over a real database,
with every granted call time replayed against the services' rolling windows."""

import random
import threading
from collections.abc import Mapping

import pytest

from thsync.core.clock import ManualClock
from thsync.core.errors import RateLimited
from thsync.core.ratelimit import BURST, Limiter, Step, decide, window_step
from thsync.store.repositories import Store


@pytest.mark.parametrize(
    ("tat", "blocked_until", "now", "new_tat", "wait"),
    [
        # per_minute 245 with a burst of 5: one call every 0.25 s, tolerance 4 × 0.25 s
        (0.0, 0.0, 100.0, 100.25, 0.0),  # idle key: allowed at once
        (100.5, 0.0, 100.0, 100.75, 0.0),  # inside the burst tolerance
        (101.0, 0.0, 100.0, 101.25, 0.0),  # exactly at the tolerance
        (101.25, 0.0, 100.0, None, 0.25),  # one interval too early
        (102.0, 0.0, 100.0, None, 1.0),
        (0.0, 160.0, 100.0, None, 60.0),  # blocked after a 429
    ],
)
def test_gcra_step(tat, blocked_until, now, new_tat, wait):
    got_tat, got_wait = decide(per_minute=245, burst=5)(tat, blocked_until, now)
    assert got_tat == (pytest.approx(new_tat) if new_tat is not None else None)
    assert got_wait == pytest.approx(wait)


@pytest.mark.parametrize(
    ("tat", "now", "new_tat", "wait"),
    [
        # 18 in any second with a burst of 5: one call every 1/13 s, tolerance 4/13 s
        (0.0, 100.0, 100.0 + 1 / 13, 0.0),
        (100.0 + 4 / 13, 100.0, 100.0 + 5 / 13, 0.0),  # exactly at the tolerance
        (100.0 + 5 / 13, 100.0, None, 1 / 13),
    ],
)
def test_one_second_window_step(tat, now, new_tat, wait):
    got_tat, got_wait = window_step(18, 1.0)(tat, 0.0, now)
    assert got_tat == (pytest.approx(new_tat) if new_tat is not None else None)
    assert got_wait == pytest.approx(wait)


def busiest(times: list[float], window: float) -> int:
    """The most calls in any closed window of `window` seconds (the worst window starts at a
    call), with a nanosecond's grace for float sums that mean exactly `window`."""
    times = sorted(times)
    most, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] > window + 1e-9:
            first += 1
        most = max(most, last - first + 1)
    return most


class MemoryBudgets:
    """The Budgets protocol in a dict, for replays too long for a database in a unit test."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.rows: dict[str, tuple[float, float]] = {}

    def reserve(self, key: str, decide: Step) -> float:
        return self.reserve_all({key: decide})

    def reserve_all(self, steps: Mapping[str, Step]) -> float:
        now = self.clock.now()
        decided = {key: step(*self.rows.get(key, (0.0, 0.0)), now) for key, step in steps.items()}
        longest = max(wait for _, wait in decided.values())
        if longest > 0:
            return longest
        for key, (new_tat, _) in decided.items():
            if new_tat is not None:
                self.rows[key] = (new_tat, self.rows.get(key, (0.0, 0.0))[1])
        return 0.0

    def block(self, key: str, until: float) -> None:
        tat, blocked = self.rows.get(key, (0.0, 0.0))
        self.rows[key] = (tat, max(blocked, until))

    def blocked(self) -> dict[str, float]:
        now = self.clock.now()
        return {key: until for key, (_, until) in self.rows.items() if until > now}


def replay(limiters, clock, calls, acquire, seed=1):
    """Callers arrive in bursts, steady streams and idle spells (seeded, so repeatable), each
    taking one slot from a limiter picked at random; returns the granted call times."""
    rand = random.Random(seed)
    times = []
    for n in range(calls):
        phase = (n // 200) % 4
        if phase == 1:
            clock.advance(rand.uniform(0, 0.05))  # a rush: far more than the budget
        elif phase == 2:
            clock.advance(rand.expovariate(4.0))  # about the budget
        elif phase == 3 and n % 200 == 0:
            clock.advance(rand.uniform(5, 90))  # an idle spell, then the next rush
        acquire(rand.choice(limiters))
        times.append(clock.now())
    return times


@pytest.mark.parametrize("per_minute", [290, 300, 95, 240, 7, 2, 1])
def test_no_60_s_window_ever_holds_more_than_the_budget(clock, per_minute):
    limiter = Limiter(MemoryBudgets(clock), clock, max_wait=10_000)
    times = replay([limiter], clock, 3000, lambda lim: lim.acquire("th:acme", per_minute))
    assert busiest(times, 60.0) <= per_minute


def test_a_saturated_portal_is_served_close_to_the_limit(clock):
    limiter = Limiter(MemoryBudgets(clock), clock, max_wait=10)
    start = clock.now()
    for _ in range(2900):  # callers always waiting: the sustained rate
        limiter.acquire("th:acme", 290)
    minutes = (clock.now() - start) / 60
    assert 2900 / minutes >= 290 - BURST - 0.5  # 285/min sustained, 290 in the worst window


def test_granted_calls_of_two_processes_keep_every_window(db_url, clock):
    """Two processes (two stores on one database) share the portal's rolling minute."""
    first, second = Store(db_url, clock), Store(db_url, clock)
    first.upgrade()
    try:
        limiters = [Limiter(first.budgets, clock, 10_000), Limiter(second.budgets, clock, 10_000)]
        times = replay(limiters, clock, 400, lambda lim: lim.acquire("th:acme", 290))
        assert busiest(times, 60.0) <= 290
        assert busiest(times, 60.0) >= 285  # the rushes do fill a minute
    finally:
        first.close()
        second.close()


def test_eh_keeps_both_its_minute_and_its_second(store, clock):
    limiter = Limiter(store.budgets, clock, max_wait=10_000)
    times = replay([limiter], clock, 300, lambda lim: lim.acquire("eh:a", 95, 18))
    assert busiest(times, 60.0) <= 95
    assert busiest(times, 60.0) >= 90
    assert busiest(times, 1.0) <= 18


@pytest.mark.parametrize("per_second", [20, 18, 3])
def test_the_second_window_holds_where_it_binds(clock, per_second):
    """With a minute budget the second cannot reach, the second alone keeps the pace."""
    limiter = Limiter(MemoryBudgets(clock), clock, max_wait=10_000)
    times = replay([limiter], clock, 3000, lambda lim: lim.acquire("eh:a", 6000, per_second))
    assert busiest(times, 1.0) <= per_second
    assert busiest(times, 1.0) >= per_second - 1
    assert busiest(times, 60.0) <= 6000


def test_a_call_the_second_refuses_takes_no_slot_of_the_minute(store, clock):
    limiter = Limiter(store.budgets, clock, max_wait=0.001)
    start = clock.now()
    for _ in range(BURST):  # the second's burst: 6 a second, one every 1 s after it
        limiter.acquire("eh:a", 100, 6)
    with pytest.raises(RateLimited):
        limiter.acquire("eh:a", 100, 6)  # the second is spent, the minute is not
    assert tat_of(store, "eh:a") == pytest.approx(start + BURST * 60 / (100 - BURST))
    clock.advance(1.0)
    limiter.acquire("eh:a", 100, 6)
    assert tat_of(store, "eh:a") == pytest.approx(start + (BURST + 1) * 60 / (100 - BURST))


def tat_of(store, key: str) -> float:
    """The key's TAT as the database holds it, read through a step that writes nothing."""
    seen: list[float] = []

    def look(tat: float, blocked_until: float, now: float) -> tuple[float | None, float]:
        seen.append(tat)
        return None, 0.0

    store.budgets.reserve(key, look)
    return seen[0]


@pytest.mark.parametrize("per_second", [None, 18])
def test_block_pauses_the_key_and_long_waits_raise(store, clock, per_second):
    limiter = Limiter(store.budgets, clock, max_wait=5)
    limiter.block("th:acme", 60)
    with pytest.raises(RateLimited) as caught:
        limiter.acquire("th:acme", 290, per_second)
    assert caught.value.retry_after == pytest.approx(60)
    assert "th:acme" in limiter.blocked_until()
    blocked_at = clock.now()
    clock.advance(57)
    limiter.acquire("th:acme", 290, per_second)  # a short wait is waited out, to the end
    assert clock.now() == pytest.approx(blocked_at + 60)
    assert limiter.blocked_until() == {}


def test_keys_have_separate_budgets(store, clock):
    limiter = Limiter(store.budgets, clock, max_wait=0.001)
    for _ in range(5):
        limiter.acquire("eh:a", 100)
    with pytest.raises(RateLimited):
        limiter.acquire("eh:a", 100)
    limiter.acquire("eh:b", 100)


def test_racing_processes_never_take_more_than_the_burst(db_url, clock):
    """Four processes race for one tenant's two windows at one instant: the row locks (taken
    in key order, so the two rows cannot deadlock) let exactly the burst through."""
    stores = [Store(db_url, clock) for _ in range(4)]
    stores[0].upgrade()
    granted: list[int] = []
    lock = threading.Lock()

    def race(store: Store) -> None:
        limiter = Limiter(store.budgets, clock, max_wait=0.0)
        for _ in range(5):
            try:
                limiter.acquire("eh:a", 95, 18)
            except RateLimited:
                continue
            with lock:
                granted.append(1)

    try:
        threads = [threading.Thread(target=race, args=(store,)) for store in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(granted) == BURST
    finally:
        for store in stores:
            store.close()
