"""The recorder handed to the API clients: every HTTP call of one attempt, in order."""

from typing import Any

from thsync.core.clock import Clock


class CallLog:
    """The recorder handed to the clients: every HTTP call of one attempt, in order."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[dict[str, Any]] = []

    def __call__(
        self,
        service: str,
        method: str,
        path: str,
        status: int | None,
        excerpt: str,
        error: str | None,
        duration_ms: int,
    ) -> None:
        self.calls.append(
            {
                "at": self.clock.now(),
                "service": service,
                "method": method,
                "path": path,
                "status": status,
                "excerpt": excerpt,
                "error": error,
                "duration_ms": duration_ms,
            }
        )
