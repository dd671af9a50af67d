"""The retry policy is a pure function: a table of attempts and errors → steps."""

import pytest

from thsync.core.errors import (
    NeedsReauthorisation,
    NotConnected,
    PermanentError,
    RateLimited,
    TransientError,
)
from thsync.pipeline.retry import RetryPolicy, backoff, next_step
from thsync.pipeline.worker import Worker

POLICY = RetryPolicy(max_attempts=4, base_delay=10, factor=3, max_delay=60, jitter=0.25)


@pytest.mark.parametrize(
    ("attempt", "error", "rand", "action", "delay"),
    [
        (1, TransientError("TH answered 503"), 0.5, "retry", 10.0),
        (2, TransientError("timeout"), 0.5, "retry", 30.0),
        (3, TransientError("timeout"), 0.5, "retry", 60.0),  # capped at max_delay
        (3, TransientError("timeout"), 0.999999, "retry", 60.0),  # the jitter too
        (1, TransientError("x"), 0.0, "retry", 7.5),  # jitter low end
        (1, TransientError("x"), 0.999999, "retry", 12.5),  # jitter high end
        (4, TransientError("timeout"), 0.5, "fail", 0.0),
        (1, RateLimited("429", retry_after=60), 0.5, "wait", 60.0),
        (9, RateLimited("429", retry_after=75), 0.5, "wait", 75.0),  # never spends attempts
        (1, PermanentError("422: email taken"), 0.5, "fail", 0.0),
        (1, NeedsReauthorisation(), 0.5, "fail", 0.0),
        (1, NotConnected(), 0.5, "fail", 0.0),
        (1, RuntimeError("bug"), 0.5, "retry", 10.0),  # unknown errors are retried, not dropped
    ],
)
def test_next_step(attempt, error, rand, action, delay):
    step = next_step(POLICY, attempt, error, rand)
    assert step.action == action
    assert step.delay == pytest.approx(delay, abs=1e-3)


def test_giving_up_says_how_many_attempts():
    step = next_step(POLICY, 4, TransientError("TH answered 502"), 0.5)
    assert step.reason == "gave up after 4 attempts: TH answered 502"


def test_permanent_reason_is_the_error_message():
    assert next_step(POLICY, 1, PermanentError("e-mail is held by another user"), 0).reason == (
        "e-mail is held by another user"
    )


def test_backoff_grows_until_the_cap():
    delays = [backoff(RetryPolicy(), n, 0.5) for n in range(1, 10)]
    assert delays == sorted(delays)
    assert delays[-1] == RetryPolicy().max_delay


def test_a_failing_job_waits_at_most_the_cap_between_tries_however_long_it_fails():
    policy = RetryPolicy(max_attempts=100)
    assert policy.max_delay == 15 * 60
    delays = [backoff(policy, n, rand) for n in range(1, 60) for rand in (0.0, 0.5, 0.999999)]
    assert max(delays) == policy.max_delay


def test_the_worker_takes_the_cap_from_its_settings(app):
    services = app.extensions["thsync"]
    services.settings["RETRY_MAX_MINUTES"] = 2
    assert Worker(services).policy.max_delay == 120
