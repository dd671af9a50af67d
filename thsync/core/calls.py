"""The recorder handed to the API clients: every HTTP call of one attempt, in order."""


class CallLog:
    """The recorder handed to the clients: every HTTP call of one attempt, in order."""

    def __init__(self, clock):
        self.clock = clock
        self.calls = []

    def __call__(self, service, method, path, status, excerpt, error, duration_ms):
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
