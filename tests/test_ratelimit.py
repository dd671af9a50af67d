"""The shared call budget: GCRA arithmetic as a table, then the limiter over a real database."""

import pytest

from thsync.core.errors import RateLimited
from thsync.core.ratelimit import Limiter, decide


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


def test_no_sliding_minute_holds_more_than_the_budget(store, clock):
    limiter = Limiter(store.budgets, clock, max_wait=10)
    times = []
    for _ in range(600):
        limiter.acquire("th:acme", 240)
        times.append(clock.now())
    busiest = max(sum(1 for t in times if start <= t < start + 60) for start in times)
    assert busiest <= 240
    assert busiest >= 230  # and the budget is actually used


def test_block_pauses_the_key_and_long_waits_raise(store, clock):
    limiter = Limiter(store.budgets, clock, max_wait=5)
    limiter.block("th:acme", 60)
    with pytest.raises(RateLimited) as caught:
        limiter.acquire("th:acme", 240)
    assert caught.value.retry_after == pytest.approx(60)
    assert "th:acme" in limiter.blocked_until()
    clock.advance(60)
    limiter.acquire("th:acme", 240)
    assert limiter.blocked_until() == {}


def test_keys_have_separate_budgets(store, clock):
    limiter = Limiter(store.budgets, clock, max_wait=0.001)
    for _ in range(5):
        limiter.acquire("eh:a", 100)
    with pytest.raises(RateLimited):
        limiter.acquire("eh:a", 100)
    limiter.acquire("eh:b", 100)
