"""What to do after a failed attempt: a pure function of the attempt number and the error."""

from dataclasses import dataclass

from thsync.core.errors import NeedsReauthorisation, NotConnected, PermanentError, RateLimited


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 10.0  # seconds before the second attempt
    factor: float = 3.0
    max_delay: float = 900.0  # never longer between tries, jitter included (RETRY_MAX_MINUTES)
    jitter: float = 0.25  # ± share of the delay, so many failed jobs do not retry in step


@dataclass(frozen=True)
class Step:
    action: str  # "retry" | "wait" | "fail"
    delay: float
    reason: str


def backoff(policy: RetryPolicy, attempt: int, rand: float) -> float:
    """Delay after `attempt` (1-based) failed; rand in [0, 1) spreads it by ±jitter, and the
    spread delay is capped too, so no job waits longer than max_delay between tries."""
    raw = min(policy.base_delay * policy.factor ** (attempt - 1), policy.max_delay)
    return min(raw * (1 + policy.jitter * (2 * rand - 1)), policy.max_delay)


def next_step(policy: RetryPolicy, attempt: int, error: BaseException, rand: float) -> Step:
    message = str(error) or type(error).__name__
    if isinstance(error, RateLimited):
        # Not the job's fault: wait out the pause without spending an attempt.
        return Step("wait", max(error.retry_after, 0.0), message)
    if isinstance(error, (PermanentError, NeedsReauthorisation, NotConnected)):
        return Step("fail", 0.0, message)
    if attempt >= policy.max_attempts:
        return Step("fail", 0.0, f"gave up after {attempt} attempts: {message}")
    return Step("retry", backoff(policy, attempt, rand), message)
